package rollout

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/runner"
)

// ServiceRuntime runs workloads as Swarm services (runner.Services): on a
// Swarm, the engine hands the rollout of a workload to Swarm itself, a
// start-first update gated on the image's health check that rolls itself
// back, instead of driving blue-green containers on one host.
type ServiceRuntime interface {
	// Image is the reference a service of art runs, pinned by digest; an
	// image built on the manager is pushed to the swarm's registry first.
	Image(ctx context.Context, art plugin.Artifact) (string, error)
	// PushesBuilt reports whether an image built on the manager can be
	// pushed where every node pulls it.
	PushesBuilt() bool
	// Deploy creates or updates spec's service and waits until every task
	// runs image, or Swarm rolled back (a *runner.RollbackError).
	Deploy(ctx context.Context, spec workload.Spec, strategy plugin.Strategy, image, revision string, gen int, timeout time.Duration) (runner.SwarmService, error)
	// List reads the services of one workload (name) or all (""), by name.
	List(ctx context.Context, name string) (map[string]runner.SwarmService, error)
	// Remove removes spec's service, and so its tasks on every node.
	Remove(ctx context.Context, name string) error
	// LogLines returns the lines each running task of svc wrote per q, by
	// task.
	LogLines(ctx context.Context, svc runner.SwarmService, q docker.LogQuery) (map[string][]docker.LogLine, error)
	// Release runs spec's release command once on the swarm, as a job of
	// image, generation gen, removed before it returns; output gets its
	// last lines once it ended.
	Release(ctx context.Context, spec workload.Spec, image string, gen int, output func(docker.LogLine)) (runner.ReleaseRun, error)
	// RemoveReleases removes the jobs of spec's workload and owner that a
	// killed apply left behind.
	RemoveReleases(ctx context.Context, spec workload.Spec) error
}

// servicePipeline runs each workload as a Swarm service (ServiceRuntime):
// the engine hands the rollout of a workload to Swarm itself, a
// start-first update gated on the image's health check that rolls itself
// back, instead of driving blue-green containers on one host; the domains
// route to the tasks' DNS name, which the proxy follows as Swarm
// reschedules them.
type servicePipeline struct {
	services ServiceRuntime
}

func (servicePipeline) kind() Kind { return KindService }

func (servicePipeline) traits() Traits { return Traits{} }

// ServiceSteps are the steps of a deploy of a Swarm service: Swarm's own
// update is its gate, and the route moves only when it must (the tasks'
// DNS name follows the update by itself).
var ServiceSteps = []Step{StepProduce, StepGate, StepSwap, StepReap}

func (servicePipeline) steps(spec workload.Spec, _ plugin.Strategy) []Step {
	return withRelease(spec, ServiceSteps)
}

// refuse: on Swarm the proxy reaches the tasks on the overlay network, the
// other nodes pull the image from a registry, and Swarm gates the tasks
// on the image's own HEALTHCHECK.
func (p servicePipeline) refuse(s workload.Spec, h workload.Host, add func(string, error)) {
	if h.SingleUpstream && len(s.Domains) > 0 {
		add("domains", fmt.Errorf("domains %q on Swarm need Caddy: Nginx Proxy Manager forwards to one fixed address and cannot follow a service's tasks as Swarm reschedules them", s.Domains))
	}
	if s.HostPort != 0 {
		add("host_port", fmt.Errorf("host_port %d does not apply on Swarm: the proxy reaches the tasks on the overlay network (and this engine has no ingress mesh to publish through)", s.HostPort))
	}
	if s.Source == nil {
		return
	}
	kind := s.Source.Kind()
	if _, builds := s.Source.(plugin.Prebuilder); builds && !p.services.PushesBuilt() {
		add("source."+kind, fmt.Errorf("a %s source on Swarm needs the provider's swarm_registry: its image is built on the manager, and the other nodes pull it from that registry", kind))
	}
	if hc := s.Source.Container().Healthcheck; hc != "" && !plugin.HealthcheckDefaulted(s.Source) {
		add("source."+kind+".healthcheck", fmt.Errorf("healthcheck %q does not apply on Swarm: the provider cannot probe tasks on the overlay network; Swarm gates each new task on the image's own HEALTHCHECK instead (add one to the image, with a probe program the image holds)", hc))
	}
}

// serviceUpdate is one update of a service: the image it runs, pinned by digest.
type serviceUpdate struct {
	image, revision string
	gen             int
}

// plan: produce the image and pin it by digest, let Swarm roll the service
// to it (start-first and gated on the health check for blue-green,
// stop-first for recreate; rolled back by Swarm on a failing task), then
// route the domains to the tasks' DNS name, and remove the containers of
// the name outside the service (a deploy before Swarm).
func (p servicePipeline) plan(d *deployment) deployPlan {
	prev := d.cur
	r := serviceUpdate{gen: d.gen}
	return deployPlan{do: map[Step]func(context.Context) error{
		StepProduce: func(ctx context.Context) (err error) {
			if err := d.produce(ctx); err != nil {
				return err
			}
			r.image, err = p.pin(ctx, d)
			r.revision = d.art.Revision
			return err
		},
		// A job of the pinned image on the cluster, before the update.
		StepRelease: func(ctx context.Context) error {
			return d.release(ctx, func(ctx context.Context, output func(docker.LogLine)) (runner.ReleaseRun, error) {
				return p.services.Release(ctx, d.spec, r.image, d.gen, output)
			})
		},
		StepGate: func(ctx context.Context) error { return p.update(ctx, d, r) },
		StepSwap: func(ctx context.Context) error { return p.routeIfDrifted(ctx, d) },
		StepReap: func(ctx context.Context) error { return d.reap(ctx, d.spec.Name, d.cur.Strays) },
	}, after: func(ctx context.Context) {
		if d.art.Built {
			d.pruneService(ctx, prev)
		}
	}}
}

// pin is the reference the service runs: art's image pinned by digest,
// pushed to the swarm's registry first when it was built on the manager.
func (p servicePipeline) pin(ctx context.Context, d *deployment) (string, error) {
	log := d.log().With("workload", d.spec.Name)
	art := d.art
	if art.Built {
		log.InfoContext(ctx, "pushing the built image to the swarm's registry", "image", art.Image)
	}
	started := time.Now()
	image, err := p.services.Image(ctx, art)
	if err != nil {
		return "", fmt.Errorf("workload %q: %w", d.spec.Name, err)
	}
	log.InfoContext(ctx, "image pinned by digest", "image", image, "elapsed", time.Since(started).Round(time.Millisecond).String())
	// Swarm gates on the image's HEALTHCHECK alone.
	if img, err := d.Images.InspectImage(ctx, cmp.Or(art.ImageID, art.Image)); err == nil && !img.Healthcheck {
		msg := fmt.Sprintf("image %s declares no HEALTHCHECK: Swarm counts each new task of workload %q ready as soon as it runs, "+
			"so the update is not gated on the app answering; add a HEALTHCHECK to the image", art.Image, d.spec.Name)
		log.WarnContext(ctx, msg)
		d.warnings = append(d.warnings, msg)
	}
	return image, nil
}

// update rolls the service out to r and waits for Swarm; d.cur then
// observes the updated service.
func (p servicePipeline) update(ctx context.Context, d *deployment, r serviceUpdate) error {
	log := d.log().With("workload", d.spec.Name)
	log.InfoContext(ctx, "swarm service rolling out", "image", r.image, "generation", r.gen, "replicas", d.spec.ReplicaCount())
	start := time.Now()
	svc, err := p.services.Deploy(ctx, d.spec, d.strategy, r.image, r.revision, r.gen, serviceTimeout(d.spec))
	if err != nil {
		return fmt.Errorf("workload %q: %w", d.spec.Name, err)
	}
	rolled := []any{"running", svc.Running, "elapsed", time.Since(start).Round(time.Millisecond).String()}
	if !svc.UpdateCompleted.IsZero() {
		// Swarm's own time for this update (the update call clears the
		// previous one's), beside the wait above.
		rolled = append(rolled, "swarm_update", svc.UpdateCompleted.Sub(svc.UpdateStarted).Round(time.Millisecond).String())
	}
	log.InfoContext(ctx, "swarm service rolled out", rolled...)
	d.cur.runtime = serviceObservation{svc: svc, p: p}
	d.cur.Live = []runner.Instance{serviceInstance(svc)}
	return nil
}

// converge brings a service in line with spec without a new generation:
// one that is gone is deployed again, one scaled by hand (or by a change
// of replicas) gets spec's count of the same image and generation; then
// the route and the strays.
func (p servicePipeline) converge(ctx context.Context, d *deployment) error {
	svc, ok := serviceOf(d.cur)
	switch {
	case !ok:
		d.gen = cmp.Or(d.intent.Generation, nextGeneration(d.cur))
		plan := p.plan(d)
		if err := d.runSteps(ctx, []Step{StepProduce, StepGate}, plan); err != nil {
			return err
		}
		plan.after(ctx)
	case svc.Desired != d.spec.ReplicaCount():
		// A scale: the same image and generation.
		r := serviceUpdate{image: svc.Image, revision: svc.Recorded.Revision, gen: svc.Recorded.Generation}
		err := d.runSteps(ctx, []Step{StepGate}, deployPlan{do: map[Step]func(context.Context) error{
			StepGate: func(ctx context.Context) error { return p.update(ctx, d, r) },
		}})
		if err != nil {
			return err
		}
	}
	if err := p.routeIfDrifted(ctx, d); err != nil {
		return err
	}
	// Containers of the name on the manager, outside the service: a
	// deploy before Swarm.
	return d.reap(ctx, d.spec.Name, d.cur.Strays)
}

// serviceTimeout bounds a rollout: each replica in turn gets the health
// timeout, and Swarm's monitor window.
func serviceTimeout(spec workload.Spec) time.Duration {
	per := spec.HealthTimeout
	if per <= 0 {
		per = workload.DefaultHealthTimeout
	}
	return time.Duration(spec.ReplicaCount())*(per+runner.DefaultMonitor) + 30*time.Second
}

// routeIfDrifted points the domains at the service's tasks by DNS, unless
// the route does already: the proxy, on the same overlay network, follows
// Swarm's rescheduling by itself.
func (p servicePipeline) routeIfDrifted(ctx context.Context, d *deployment) error {
	svc, _ := serviceOf(d.cur)
	spec := d.spec
	if len(spec.Domains) == 0 {
		if d.cur.Route == nil {
			return nil
		}
	} else if r := d.cur.Route; r != nil && svc.Name != "" && r.Tasks == svc.Tasks() &&
		r.TasksPort == spec.Source.Container().Port && proxy.SameHosts(r.Domains, spec.Domains) && proxy.SameCertificate(r.TLS, spec.TLS) {
		return nil
	}
	if err := d.certify(ctx, spec); err != nil {
		return err
	}
	r := proxy.Route{Workload: spec.Name, Domains: spec.Domains, Tasks: svc.Tasks(), TasksPort: spec.Source.Container().Port, TLS: spec.TLS}
	written, err := d.writeRoute(ctx, r, r.Tasks)
	if written {
		d.log().InfoContext(ctx, "route points at the service's tasks", "workload", spec.Name, "tasks", r.Tasks)
	}
	return err
}

// pruneService removes the workload's older builds from the manager,
// keeping the new one and the build of the commit prev ran (the service
// records the image it ran by digest, which the manager may not hold).
// Swarm keeps stopped task containers as the service's history, and an
// image one of them uses stays until a later deploy or the destroy:
// logged, not a warning.
func (d *deployment) pruneService(ctx context.Context, prev Observed) {
	keep := []string{d.art.ImageID}
	if svc, ok := serviceOf(prev); ok && svc.Recorded.Revision != "" {
		if p, ok := d.spec.Source.(plugin.Prebuilder); ok {
			if id, err := p.Built(ctx, d.Images, d.spec.Name, svc.Recorded.Revision); err == nil && id != "" {
				keep = append(keep, id)
			}
		}
	}
	if err := d.pruneImages(ctx, d.spec, keep); err != nil {
		d.log().InfoContext(ctx, "older builds kept on the manager for now", "workload", d.spec.Name, "why", err.Error())
	}
}

// teardown removes the route, then the service (its tasks on every node),
// then containers of the name outside it, then the images built for it.
func (p servicePipeline) teardown(ctx context.Context, d *deployment, _ host) ([]string, error) {
	spec := d.spec
	remove := func(ctx context.Context) error {
		if err := p.services.Remove(ctx, spec.Name); err != nil {
			return err
		}
		return p.services.RemoveReleases(ctx, spec)
	}
	if left, err := d.removeWhole(ctx, "service", remove); left != nil || err != nil {
		return left, err
	}
	warnings := append(d.pruneAll(ctx, spec), d.forget(ctx, spec)...)
	return append(warnings, d.retire(ctx, spec)...), nil
}

func (p servicePipeline) list(ctx context.Context, name string) (listing, error) {
	services, err := p.services.List(ctx, name)
	return serviceListing{p: p, services: services}, err
}

type serviceListing struct {
	p        servicePipeline
	services map[string]runner.SwarmService
}

// observed: one live instance stands for the service; containers of the
// name outside it are strays.
func (l serviceListing) observed(h host, name, owner string) (Observed, bool) {
	svc, ok := l.services[name]
	if !ok {
		return Observed{}, false
	}
	o := Observed{Name: name, Route: h.route(name), runtime: serviceObservation{svc: svc, p: l.p}}
	if svc.Recorded.OwnedBy(owner) {
		o.Live = []runner.Instance{serviceInstance(svc)}
	} else {
		o.Foreign = []runner.Instance{serviceInstance(svc)}
	}
	h.outside(&o, owner)
	return o, true
}

// serviceInstance is the one live instance that stands for a service: the
// provider's container_id is the service's ID, its upstream the tasks'
// DNS name.
func serviceInstance(s runner.SwarmService) runner.Instance {
	state := docker.ContainerRunning
	if s.Running == 0 {
		state = docker.ContainerExited
	}
	in := runner.Instance{ID: s.ID, Name: s.Name, State: state, Image: s.Image, ImageID: s.Image, Recorded: s.Recorded, Created: s.Created}
	if port := s.Recorded.Settings.Port; port > 0 { // a worker answers on none
		in.Upstream = net.JoinHostPort(s.Tasks(), strconv.Itoa(port))
	}
	return in
}

// serviceObservation is a Swarm service as the manager reports it.
type serviceObservation struct {
	svc runner.SwarmService
	p   servicePipeline
}

// serviceOf is the service o observed, if o observed one.
func serviceOf(o Observed) (runner.SwarmService, bool) {
	s, ok := o.runtime.(serviceObservation)
	return s.svc, ok
}

func (s serviceObservation) pipeline() pipeline { return s.p }

// status: running while its tasks run and its last update went through.
// Fewer tasks than desired is still running: Swarm is rescheduling them
// (replicas_running tells).
func (s serviceObservation) status(Observed) Status {
	switch {
	case s.svc.Update.RolledBack():
		return StatusRolledBack
	case s.svc.Update == runner.UpdatePaused:
		return StatusPaused
	case s.svc.Running == 0:
		return StatusStopped
	}
	return StatusRunning
}

func (serviceObservation) replicas(o Observed) []runner.Instance { return o.Live }

func (serviceObservation) primary(o Observed) *runner.Instance {
	if len(o.Live) == 0 {
		return nil
	}
	return &o.Live[0]
}

// running counts the tasks that run the service's current spec.
func (s serviceObservation) running(Observed) int { return s.svc.Running }

// scale: one instance stands for a service: its spec's count.
func (s serviceObservation) scale(Observed) int { return max(s.svc.Desired, 1) }

func (serviceObservation) services() ([]ServiceStatus, bool) { return nil, false }

func (serviceObservation) importable(Observed) (bool, error) { return true, nil }

// env is the tasks' environment, from the service's spec.
func (s serviceObservation) env(context.Context, *Engine, Observed) ([]string, error) {
	return s.svc.Env, nil
}

// logs: every running task of the service's image, wherever it runs.
func (s serviceObservation) logs(ctx context.Context, _ *Engine, _ Observed, q docker.LogQuery) ([]LogLine, error) {
	byTask, err := s.p.services.LogLines(ctx, s.svc, q)
	if err != nil {
		return nil, err
	}
	m := recordedMasker(s.svc.Env, s.svc.Recorded.Settings)
	var out []LogLine
	for task, lines := range byTask {
		out = append(out, masked(task, lines, m)...)
	}
	return out, nil
}
