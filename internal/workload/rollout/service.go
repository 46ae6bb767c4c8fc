package rollout

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

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
}

// Statuses of a Swarm workload whose last update Swarm undid or stopped.
const (
	StatusRolledBack Status = "rolled_back"
	StatusPaused     Status = "paused"
)

// swarmStatus sums up a service: running while its tasks run and its last
// update went through. Fewer tasks than desired is still running: Swarm is
// rescheduling them (replicas_running tells).
func swarmStatus(s *runner.SwarmService) Status {
	switch {
	case s.Update.RolledBack():
		return StatusRolledBack
	case s.Update == runner.UpdatePaused:
		return StatusPaused
	case s.Running == 0:
		return StatusStopped
	}
	return StatusRunning
}

// serviceInstance is the one live instance that stands for a service: the
// provider's container_id is the service's ID, its upstream the tasks'
// DNS name.
func serviceInstance(s runner.SwarmService) runner.Instance {
	state := runner.StateRunning
	if s.Running == 0 {
		state = runner.StateExited
	}
	return runner.Instance{
		ID: s.ID, Name: s.Name, State: state, Image: s.Image, ImageID: s.Image, Recorded: s.Recorded,
		Upstream: net.JoinHostPort(s.Tasks(), strconv.Itoa(s.Recorded.Settings.Port)), Created: s.Created,
	}
}

// applyService deploys (intent.Redeploy) or converges a workload on Swarm:
// produce the image and pin it by digest, let Swarm roll the service to it
// (start-first and gated on the health check for blue-green, stop-first
// for recreate; rolled back by Swarm on a failing task), then route the
// domains to the tasks' DNS name.
func (e *Engine) applyService(ctx context.Context, spec workload.Spec, strategy plugin.Strategy, intent Intent, cur Observed) (warnings []string, err error) {
	log := e.log().With("workload", spec.Name)
	if intent.Redeploy || cur.Swarm == nil || cur.Swarm.Desired != spec.ReplicaCount() {
		gen := intent.Generation
		if gen == 0 {
			gen = nextGeneration(cur)
		}
		d := &deployment{Engine: e, spec: spec, strategy: strategy, intent: intent, cur: cur}
		var image, revision string
		var built *plugin.Artifact
		if intent.Redeploy || cur.Swarm == nil {
			art, err := d.produce(ctx)
			if err != nil {
				return nil, err
			}
			if art.Built {
				built = &art
			}
			if art.Built {
				log.InfoContext(ctx, "pushing the built image to the swarm's registry", "image", art.Image)
			}
			started := time.Now()
			if image, err = e.Services.Image(ctx, art); err != nil {
				return nil, fmt.Errorf("workload %q: %w", spec.Name, err)
			}
			log.InfoContext(ctx, "image pinned by digest", "image", image, "elapsed", time.Since(started).Round(time.Millisecond).String())
			// Swarm gates on the image's HEALTHCHECK alone.
			if img, err := e.Images.InspectImage(ctx, cmp.Or(art.ImageID, art.Image)); err == nil && !img.Healthcheck {
				msg := fmt.Sprintf("image %s declares no HEALTHCHECK: Swarm counts each new task of workload %q ready as soon as it runs, "+
					"so the update is not gated on the app answering; add a HEALTHCHECK to the image", art.Image, spec.Name)
				log.WarnContext(ctx, msg)
				warnings = append(warnings, msg)
			}
			revision = art.Revision
		} else {
			// A scale: the same image and generation.
			image, revision, gen = cur.Swarm.Image, cur.Swarm.Recorded.Revision, cur.Swarm.Recorded.Generation
		}
		log.InfoContext(ctx, "swarm service rolling out", "image", image, "generation", gen, "replicas", spec.ReplicaCount())
		start := time.Now()
		svc, err := e.Services.Deploy(ctx, spec, strategy, image, revision, gen, serviceTimeout(spec))
		if err != nil {
			return warnings, fmt.Errorf("workload %q: %w", spec.Name, err)
		}
		log.InfoContext(ctx, "swarm service rolled out", "running", svc.Running, "elapsed", time.Since(start).Round(time.Millisecond).String())
		d.checkpoint(ctx, spec.Name, StepGate)
		if built != nil {
			e.pruneService(ctx, spec, *built, cur)
		}
		cur.Swarm = &svc
		cur.Live = []runner.Instance{serviceInstance(svc)}
	}
	if serviceRouteDrifted(spec, cur) {
		if err := e.routeTasks(ctx, spec, *cur.Swarm); err != nil {
			return warnings, err
		}
	}
	// Containers of the name on the manager, outside the service: a
	// deploy before Swarm.
	return warnings, e.reap(ctx, spec.Name, cur.Strays)
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

func serviceRouteDrifted(spec workload.Spec, cur Observed) bool {
	if len(spec.Domains) == 0 {
		return cur.Route != nil
	}
	return cur.Route == nil || cur.Swarm == nil || cur.Route.Tasks != cur.Swarm.Tasks() ||
		cur.Route.TasksPort != spec.Source.Container().Port || !proxy.SameHosts(cur.Route.Domains, spec.Domains)
}

// pruneService removes the workload's older builds from the manager,
// keeping the new one and the previous commit's (the service records the
// image it ran by digest, which the manager may not hold). Swarm keeps
// stopped task containers as the service's history, and an image one of
// them uses stays until a later deploy or the destroy: logged, not a
// warning.
func (e *Engine) pruneService(ctx context.Context, spec workload.Spec, art plugin.Artifact, cur Observed) {
	if err := e.pruneImages(ctx, spec, append([]string{art.ImageID}, e.previousBuild(ctx, spec, cur)...)); err != nil {
		e.log().InfoContext(ctx, "older builds kept on the manager for now", "workload", spec.Name, "why", err.Error())
	}
}

// previousBuild is the image ID of the build of the commit the service ran
// before, when the manager still holds it.
func (e *Engine) previousBuild(ctx context.Context, spec workload.Spec, cur Observed) []string {
	p, ok := spec.Source.(plugin.Prebuilder)
	if !ok || cur.Swarm == nil || cur.Swarm.Recorded.Revision == "" {
		return nil
	}
	id, err := p.Built(ctx, e.Images, spec.Name, cur.Swarm.Recorded.Revision)
	if err != nil || id == "" {
		return nil
	}
	return []string{id}
}

// routeTasks points the domains at the service's tasks by DNS: the proxy,
// on the same overlay network, follows Swarm's rescheduling by itself.
func (e *Engine) routeTasks(ctx context.Context, spec workload.Spec, svc runner.SwarmService) error {
	r := proxy.Route{Workload: spec.Name, Domains: spec.Domains, Tasks: svc.Tasks(), TasksPort: spec.Source.Container().Port}
	written, err := e.writeRoute(ctx, r, r.Tasks)
	if written {
		e.log().InfoContext(ctx, "route points at the service's tasks", "workload", spec.Name, "tasks", r.Tasks)
	}
	return err
}

// teardownService removes the route, then the service (its tasks on every
// node), then containers of the name outside it.
func (e *Engine) teardownService(ctx context.Context, spec workload.Spec, o Observed) ([]string, error) {
	if len(o.Foreign) > 0 {
		return []string{fmt.Sprintf("service %q records another owner (%s): it belongs to another Terraform state and was left "+
			"alone, with its route", spec.Name, strings.Join(o.ForeignOwners(), ", "))}, nil
	}
	if e.Router != nil {
		if err := e.Router.Delete(ctx, spec.Name); err != nil {
			return nil, fmt.Errorf("remove the route of workload %q: %w", spec.Name, err)
		}
	}
	if err := e.Services.Remove(ctx, spec.Name); err != nil {
		return nil, fmt.Errorf("workload %q: %w", spec.Name, err)
	}
	if err := e.reap(ctx, spec.Name, o.Strays); err != nil {
		return nil, err
	}
	return append(e.pruneAll(ctx, spec), e.retire(ctx, spec)...), nil
}

// observedService is what runs for a workload that is a Swarm service.
func observedService(name, owner string, svc runner.SwarmService, route *proxy.Route, others Observed) Observed {
	o := Observed{Name: name, Route: route, Swarm: &svc}
	if svc.Recorded.OwnedBy(owner) {
		o.Live = []runner.Instance{serviceInstance(svc)}
	} else {
		o.Foreign = []runner.Instance{serviceInstance(svc)}
	}
	o.Strays = others.all()
	o.Foreign = append(o.Foreign, others.Foreign...)
	return o
}
