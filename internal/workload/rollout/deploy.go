package rollout

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/health"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
)

// Step names a step of a deploy. The CrashAt test hook fires when the named
// step has just completed, so:
//
//	start: green runs beside blue, not gated, not routed
//	gate:  green passed its gate, the route still points at blue
//	swap:  the route points at green, blue still runs
//	drain: blue has drained and is about to be reaped
type Step string

const (
	StepProduce Step = "produce" // the image is on the Docker host
	StepStop    Step = "stop"    // recreate only: the old containers are stopped
	StepStart   Step = "start"   // the new container runs
	StepGate    Step = "gate"    // the new container passed its gate
	StepSwap    Step = "swap"    // the route points at the new container
	StepDrain   Step = "drain"   // the old container had time to finish its requests
	StepReap    Step = "reap"    // the old containers are gone
)

// Steps lists the steps in the order a blue-green deploy runs them.
var Steps = []Step{StepProduce, StepStart, StepGate, StepSwap, StepDrain, StepReap}

// Intent is what the plan decided for one apply.
type Intent struct {
	// Redeploy asks for a new container. Without it, Apply only brings the
	// route and the strays in line with the spec.
	Redeploy bool
	// Generation is the new container's generation, as the plan showed it;
	// 0 takes the next free one.
	Generation int
	// Revision is the revision the plan resolved for sources that have one
	// (a Git commit); the deploy uses exactly it.
	Revision string
}

// Result is the outcome of an Apply.
type Result struct {
	Observed
	// Strategy is the strategy the deploy used (or would use).
	Strategy plugin.Strategy
	// Warnings are problems that did not fail the apply, such as a commit
	// status the Git host did not accept.
	Warnings []string
}

// Apply makes the workload match spec. With intent.Redeploy it produces the
// image and replaces the live container by the spec's strategy; without, it
// points the route at the live container and removes strays. A failed
// deploy leaves the live container serving (blue-green), or restarts it
// (recreate), and removes what it started.
func (e *Engine) Apply(ctx context.Context, spec workload.Spec, intent Intent) (Result, error) {
	strategy, err := e.Validate(spec)
	if err != nil {
		return Result{}, err
	}
	defer e.invalidate()
	res := Result{Strategy: strategy}
	cur, err := e.observeNow(ctx, spec.Name)
	if err != nil {
		return res, err
	}
	if intent.Redeploy {
		d := &deployment{Engine: e, spec: spec, strategy: strategy, intent: intent, cur: cur}
		err = d.run(ctx)
		res.Warnings = d.warnings
	} else {
		err = e.converge(ctx, spec, cur)
	}
	if err != nil {
		return res, err
	}
	res.Observed, err = e.observeNow(ctx, spec.Name)
	return res, err
}

// deployment is one run of the deploy pipeline.
type deployment struct {
	*Engine
	spec     workload.Spec
	strategy plugin.Strategy
	intent   Intent
	cur      Observed
	warnings []string
	// networkID is the provider's network, joined by ID: by name, a
	// duplicate left by a racing process would make it ambiguous.
	networkID string
}

func (d *deployment) run(ctx context.Context) error {
	log := d.log().With("workload", d.spec.Name)
	gen := d.intent.Generation
	if gen == 0 {
		gen = nextGeneration(d.cur)
	}
	log.InfoContext(ctx, "deploy starting", "strategy", string(d.strategy), "generation", gen,
		"source", d.spec.Source.Kind())
	d.report(ctx, plugin.DeployPending, "deploying")
	start := time.Now()
	err := d.pipeline(ctx, gen)
	if err != nil {
		d.report(ctx, plugin.DeployFailure, "deploy failed")
		return err
	}
	d.report(ctx, plugin.DeploySuccess, "deployed")
	log.InfoContext(ctx, "deploy done", "generation", gen, "elapsed", time.Since(start).Round(time.Millisecond).String())
	return nil
}

func (d *deployment) pipeline(ctx context.Context, gen int) error {
	network, err := d.Docker.EnsureNetwork(ctx, d.Network, map[string]string{workload.LabelManaged: "true"})
	if err != nil {
		return fmt.Errorf("network %s: %w", d.Network, err)
	}
	d.networkID = network
	art, err := d.produce(ctx)
	if err != nil {
		return err
	}
	switch d.strategy {
	case plugin.StrategyBlueGreen:
		err = d.blueGreen(ctx, art, gen)
	default:
		err = d.recreate(ctx, art, gen)
	}
	if err != nil {
		return err
	}
	d.prune(ctx, art)
	return nil
}

// produce makes the image. Nothing running is touched yet.
func (d *deployment) produce(ctx context.Context) (plugin.Artifact, error) {
	art, err := d.spec.Source.Produce(ctx, plugin.ProduceEnv{
		Images: d.Docker, Log: d.log(), Workload: d.spec.Name, Revision: d.intent.Revision,
	})
	if err != nil {
		return art, fmt.Errorf("produce the image of workload %q: %w", d.spec.Name, err)
	}
	d.checkpoint(ctx, d.spec.Name, StepProduce)
	return art, nil
}

// blueGreen starts green beside blue, gates it, swaps the route, lets blue
// drain, then reaps blue. A kill at any instant leaves the route on a
// container that passed its gate.
func (d *deployment) blueGreen(ctx context.Context, art plugin.Artifact, gen int) error {
	blue := d.cur.all()
	green, err := d.start(ctx, art, gen)
	if err != nil {
		return err
	}
	if err := d.gate(ctx, green); err != nil {
		return err
	}
	if err := d.swap(ctx, green); err != nil {
		d.discard(ctx, green)
		return err
	}
	if d.cur.Live != nil && d.cur.Live.Running() {
		d.drain(ctx)
	}
	d.checkpoint(ctx, d.spec.Name, StepDrain)
	return d.reap(ctx, blue)
}

// recreate stops the old containers, then starts and gates the new one: a
// downtime window, by design. A new container that fails its gate is
// removed and the old live one started again.
func (d *deployment) recreate(ctx context.Context, art plugin.Artifact, gen int) error {
	old := d.cur.all()
	if err := d.stop(ctx, old); err != nil {
		return err
	}
	restore := func() {
		if d.cur.Live == nil || !d.cur.Live.Running() {
			return
		}
		if err := d.Docker.StartContainer(ctx, d.cur.Live.ID); err != nil {
			d.log().ErrorContext(ctx, "could not restart the previous container", "workload", d.spec.Name,
				"container", d.cur.Live.Name, "error", err.Error())
			return
		}
		d.log().InfoContext(ctx, "previous container restarted", "workload", d.spec.Name, "container", d.cur.Live.Name)
	}
	next, err := d.start(ctx, art, gen)
	if err != nil {
		restore()
		return err
	}
	if err := d.gate(ctx, next); err != nil {
		restore()
		return err
	}
	if err := d.swap(ctx, next); err != nil {
		d.discard(ctx, next)
		restore()
		return err
	}
	return d.reap(ctx, old)
}

// start creates and starts the new container under a name no other
// container has.
func (d *deployment) start(ctx context.Context, art plugin.Artifact, gen int) (Instance, error) {
	labels, err := d.spec.Labels(gen, art.Revision)
	if err != nil {
		return Instance{}, err
	}
	image := art.Image
	if art.ImageID != "" {
		image = art.ImageID // exactly what was produced, even if the tag moves
	}
	spec := docker.ContainerSpec{
		Name:           plugin.BuildGreenName(d.spec.Name, gen),
		Image:          image,
		Env:            envList(d.spec.Env),
		Labels:         labels,
		Network:        d.networkID,
		Port:           d.spec.Source.Container().Port,
		PublishAddress: d.PublishAddress,
		HostPort:       d.spec.HostPort,
		Mounts:         mounts(d.spec.Volumes),
		RestartPolicy:  "unless-stopped",
		StopTimeout:    d.stopTimeout(),
	}
	id, err := d.Docker.CreateContainer(ctx, spec)
	if err != nil {
		return Instance{}, err
	}
	if err := d.Docker.StartContainer(ctx, id); err != nil {
		d.remove(ctx, id, spec.Name)
		return Instance{}, fmt.Errorf("start container %s: %w", spec.Name, err)
	}
	detail, err := d.Docker.InspectContainer(ctx, id)
	if err != nil {
		d.remove(ctx, id, spec.Name)
		return Instance{}, fmt.Errorf("inspect container %s: %w", spec.Name, err)
	}
	in, err := d.instance(detail.Container)
	if err != nil {
		d.remove(ctx, id, spec.Name)
		return Instance{}, err
	}
	d.log().InfoContext(ctx, "container started", "workload", d.spec.Name, "container", in.Name,
		"generation", gen, "published", in.Published)
	d.checkpoint(ctx, d.spec.Name, StepStart)
	return in, nil
}

// gate lets the new container take traffic only once it is ready: the HTTP
// probe on the health path, else the liveness window. A container that fails
// is removed, and the error carries the probe's last answer and the
// container's last log lines.
func (d *deployment) gate(ctx context.Context, in Instance) error {
	c := d.spec.Source.Container()
	log := d.log().With("workload", d.spec.Name, "container", in.Name)
	var err error
	if c.Healthcheck != "" && in.Published != "" {
		url := "http://" + in.Published + c.Healthcheck
		timeout := d.spec.HealthTimeout
		if timeout <= 0 {
			timeout = workload.DefaultHealthTimeout
		}
		log.InfoContext(ctx, "gate: probing", "url", url, "timeout", timeout.String())
		stillUp := func() error {
			detail, err := d.Docker.InspectContainer(ctx, in.ID)
			if err != nil {
				return err
			}
			if detail.State == "exited" || detail.State == "dead" {
				return fmt.Errorf("container exited with code %d before answering", detail.ExitCode)
			}
			return nil
		}
		attempt := func(n int, a health.Answer) {
			if n == 1 || n%10 == 0 {
				log.InfoContext(ctx, "gate: waiting for the health check", "attempt", n, "answer", a.String())
			}
		}
		err = health.Probe(ctx, url, timeout, stillUp, attempt)
	} else {
		log.InfoContext(ctx, "gate: liveness window", "window", d.livenessWindow().String())
		err = health.Liveness(ctx, d.livenessWindow(), 250*time.Millisecond, func(ctx context.Context) (health.State, error) {
			detail, err := d.Docker.InspectContainer(ctx, in.ID)
			if err != nil {
				return health.State{}, err
			}
			return health.State{Status: detail.State, RestartCount: detail.RestartCount, ExitCode: detail.ExitCode}, nil
		})
	}
	if err != nil {
		tail := d.logTail(ctx, in)
		d.discard(ctx, in)
		return fmt.Errorf("container %s of workload %q failed its gate: %w%s", in.Name, d.spec.Name, err, tail)
	}
	log.InfoContext(ctx, "gate passed")
	d.checkpoint(ctx, d.spec.Name, StepGate)
	return nil
}

// logTail formats the container's last log lines for an error, with the
// workload's env values redacted.
func (d *deployment) logTail(ctx context.Context, in Instance) string {
	lines, err := d.Docker.ContainerLogs(ctx, in.ID, logTailLines)
	if err != nil {
		return fmt.Sprintf("\n(its logs could not be read: %v)", err)
	}
	if len(lines) == 0 {
		return fmt.Sprintf("\n%s wrote no log lines", in.Name)
	}
	return fmt.Sprintf("\nlast log lines of %s:\n  %s", in.Name, strings.Join(redact(lines, d.spec.Env), "\n  "))
}

// redact hides env values (secrets) in log lines. Values shorter than four
// characters are left alone: hiding every "1" or "on" would garble the
// lines and protect nothing.
func redact(lines []string, env map[string]string) []string {
	var secrets []string
	for _, v := range env {
		if len(v) >= 4 {
			secrets = append(secrets, v)
		}
	}
	if len(secrets) == 0 {
		return lines
	}
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	out := make([]string, len(lines))
	for i, l := range lines {
		for _, s := range secrets {
			l = strings.ReplaceAll(l, s, "[redacted]")
		}
		out[i] = l
	}
	return out
}

// swap points the route at the new container, in place.
func (d *deployment) swap(ctx context.Context, in Instance) error {
	if err := d.route(ctx, d.spec, in); err != nil {
		return err
	}
	d.checkpoint(ctx, d.spec.Name, StepSwap)
	return nil
}

// drain gives the old container time to finish the requests it has in
// flight before it is stopped.
func (d *deployment) drain(ctx context.Context) {
	if d.spec.DrainTimeout <= 0 {
		return
	}
	d.log().InfoContext(ctx, "draining the old container", "workload", d.spec.Name, "drain_timeout", d.spec.DrainTimeout.String())
	select {
	case <-ctx.Done():
	case <-time.After(d.spec.DrainTimeout):
	}
}

// stop stops the running containers among old (recreate's downtime window)
// and records them as stopped, so that the reap does not stop them again.
func (d *deployment) stop(ctx context.Context, old []Instance) error {
	for i, in := range old {
		if !in.Running() && in.State != "restarting" {
			continue
		}
		d.log().InfoContext(ctx, "stopping the old container", "workload", d.spec.Name, "container", in.Name)
		if err := d.Docker.StopContainer(ctx, in.ID, d.stopTimeout()); err != nil {
			return fmt.Errorf("stop container %s: %w", in.Name, err)
		}
		old[i].State = "exited"
	}
	d.checkpoint(ctx, d.spec.Name, StepStop)
	return nil
}

// reap stops (SIGTERM, then the stop timeout) and removes old containers.
func (d *deployment) reap(ctx context.Context, old []Instance) error {
	if err := d.Engine.reap(ctx, d.spec.Name, old); err != nil {
		return err
	}
	d.checkpoint(ctx, d.spec.Name, StepReap)
	return nil
}

// discard removes a new container that will not take traffic.
func (d *deployment) discard(ctx context.Context, in Instance) { d.remove(ctx, in.ID, in.Name) }

func (d *deployment) remove(ctx context.Context, id, name string) {
	if err := d.Docker.RemoveContainer(ctx, id); err != nil {
		d.log().ErrorContext(ctx, "could not remove a failed container", "workload", d.spec.Name, "container", name, "error", err.Error())
	}
}

// report tells the source's origin how the deploy goes, best effort.
func (d *deployment) report(ctx context.Context, state plugin.DeployState, description string) {
	r, ok := d.spec.Source.(plugin.Reporter)
	if !ok || d.intent.Revision == "" {
		return
	}
	if err := r.Report(ctx, d.spec.Name, d.intent.Revision, state, description); err != nil {
		msg := fmt.Sprintf("commit status %q for %s was not reported: %v", string(state), d.intent.Revision, err)
		d.log().WarnContext(ctx, msg, "workload", d.spec.Name)
		d.warnings = append(d.warnings, msg)
	}
}

// prune lets a building source remove the workload's old images, keeping the
// new one and the one it replaced.
func (d *deployment) prune(ctx context.Context, art plugin.Artifact) {
	p, ok := d.spec.Source.(plugin.Pruner)
	if !ok {
		return
	}
	keep := []string{art.ImageID}
	if d.cur.Live != nil {
		keep = append(keep, d.cur.Live.ImageID)
	}
	env := plugin.ProduceEnv{Images: d.Docker, Log: d.log(), Workload: d.spec.Name}
	if err := p.Prune(ctx, env, keep); err != nil {
		msg := fmt.Sprintf("old images of workload %q were not pruned: %v", d.spec.Name, err)
		d.log().WarnContext(ctx, msg)
		d.warnings = append(d.warnings, msg)
	}
}

// converge brings the route and the strays in line with spec, without a new
// container.
func (e *Engine) converge(ctx context.Context, spec workload.Spec, cur Observed) error {
	if cur.Live == nil {
		return fmt.Errorf("workload %q has no container any more (it was removed after the plan); run terraform apply again to redeploy it", spec.Name)
	}
	if routeDrifted(spec, cur) {
		e.log().InfoContext(ctx, "restoring the route", "workload", spec.Name, "upstream", cur.Live.Upstream)
		if err := e.route(ctx, spec, *cur.Live); err != nil {
			return err
		}
	}
	return e.reap(ctx, spec.Name, cur.Strays)
}

// routeDrifted reports whether the proxy's route differs from what spec and
// the live container call for.
func routeDrifted(spec workload.Spec, cur Observed) bool {
	if len(spec.Domains) == 0 {
		return cur.Route != nil
	}
	return cur.Route == nil || cur.Route.Upstream != cur.Live.Upstream || !SameDomains(cur.Route.Domains, spec.Domains)
}

// SameDomains reports whether two domain lists route the same hosts. Order
// does not count: a proxy may store them sorted (Nginx Proxy Manager does).
func SameDomains(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	count := map[string]int{}
	for _, d := range a {
		count[d]++
	}
	for _, d := range b {
		if count[d] == 0 {
			return false
		}
		count[d]--
	}
	return true
}

// route points the workload's route at in; with no domains it removes the
// route.
func (e *Engine) route(ctx context.Context, spec workload.Spec, in Instance) error {
	if e.Router == nil {
		return nil
	}
	if len(spec.Domains) == 0 {
		if err := e.Router.Delete(ctx, spec.Name); err != nil {
			return fmt.Errorf("remove the route of workload %q: %w", spec.Name, err)
		}
		return nil
	}
	r := proxy.Route{Workload: spec.Name, Domains: spec.Domains, Upstream: in.Upstream}
	if err := e.Router.Upsert(ctx, r); err != nil {
		return fmt.Errorf("route %v to %s: %w", spec.Domains, in.Upstream, err)
	}
	e.log().InfoContext(ctx, "route points at the new container", "workload", spec.Name, "container", in.Name, "upstream", in.Upstream)
	return nil
}

// reap stops and removes containers: SIGTERM first, so that they finish
// what they serve, then removal.
func (e *Engine) reap(ctx context.Context, name string, old []Instance) error {
	var errs []error
	for _, in := range old {
		e.log().InfoContext(ctx, "removing container", "workload", name, "container", in.Name, "generation", in.Recorded.Generation)
		if in.Running() || in.State == "restarting" {
			if err := e.Docker.StopContainer(ctx, in.ID, e.stopTimeout()); err != nil {
				errs = append(errs, fmt.Errorf("stop container %s: %w", in.Name, err))
				continue
			}
		}
		if err := e.Docker.RemoveContainer(ctx, in.ID); err != nil {
			errs = append(errs, fmt.Errorf("remove container %s: %w", in.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Teardown removes the workload's route, every container of the workload,
// and the images a building source made for it. Named volumes stay: they
// are data. An image that cannot be removed (a container outside the
// workload still uses it) is a warning: what the workload ran is gone.
func (e *Engine) Teardown(ctx context.Context, spec workload.Spec) (warnings []string, err error) {
	defer e.invalidate()
	// Only the containers are needed: the route goes whatever it says, and
	// Router.Delete finds it itself.
	containers, err := e.Docker.ListContainers(ctx, workload.LabelWorkload+"="+spec.Name)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var all []Instance
	for _, c := range containers {
		in, err := e.instance(c)
		if err != nil {
			e.log().WarnContext(ctx, "removing a container with unreadable labels", "container", c.Name, "error", err.Error())
		}
		in.ID, in.Name, in.State = c.ID, c.Name, c.State
		all = append(all, in)
	}
	if e.Router != nil {
		if err := e.Router.Delete(ctx, spec.Name); err != nil {
			return nil, fmt.Errorf("remove the route of workload %q: %w", spec.Name, err)
		}
	}
	if err := e.reap(ctx, spec.Name, all); err != nil {
		return nil, err
	}
	if p, ok := spec.Source.(plugin.Pruner); ok {
		env := plugin.ProduceEnv{Images: e.Docker, Log: e.log(), Workload: spec.Name}
		if err := p.Prune(ctx, env, nil); err != nil {
			warnings = append(warnings, fmt.Sprintf("images of workload %q were left on the Docker host: %v", spec.Name, err))
		}
	}
	return warnings, nil
}

// all lists every container of the observed workload.
func (o Observed) all() []Instance {
	var out []Instance
	if o.Live != nil {
		out = append(out, *o.Live)
	}
	return append(out, o.Strays...)
}

func nextGeneration(o Observed) int {
	gen := 0
	for _, in := range o.all() {
		if in.Recorded.Generation > gen {
			gen = in.Recorded.Generation
		}
	}
	return gen + 1
}

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func mounts(vs []workload.Volume) []docker.Mount {
	out := make([]docker.Mount, 0, len(vs))
	for _, v := range vs {
		m := docker.Mount{Type: "volume", Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly}
		if v.Bind() {
			m.Type = "bind"
		}
		out = append(out, m)
	}
	return out
}
