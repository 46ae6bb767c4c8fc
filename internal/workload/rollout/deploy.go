package rollout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	// Create says the workload is new to its owner: a name that is already
	// deployed, by anyone, is refused, since only import adopts.
	Create bool
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
	byWorkload, routes, err := e.load(ctx, spec.Name)
	if err != nil {
		return res, err
	}
	cur := observed(spec.Name, spec.Owner, byWorkload, routes)
	if intent.Create && (len(cur.all()) > 0 || len(cur.Foreign) > 0) {
		return res, &AlreadyDeployedError{Name: spec.Name, Containers: append(names(cur.all()), cur.ForeignNames()...)}
	}
	if len(cur.Foreign) > 0 {
		return res, &ForeignOwnerError{Name: spec.Name, Owner: spec.Owner, Others: cur.ForeignOwners(), Containers: cur.ForeignNames()}
	}
	if e.Router != nil {
		if err := checkDomains(spec, routes); err != nil {
			return res, err
		}
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
	res.Observed, err = e.observeNow(ctx, spec.Name, spec.Owner)
	return res, err
}

// AlreadyDeployedError refuses to create a workload whose name is already
// deployed on the Docker host: a new workload never takes over one that
// runs; only import adopts it.
type AlreadyDeployedError struct {
	Name       string
	Containers []string
}

func (e *AlreadyDeployedError) Error() string {
	return fmt.Sprintf("workload %q is already deployed on the Docker host (containers %s), and a new workload never takes over one "+
		"that runs. To manage it from this state, import it: terraform import <this resource's address> %s (or an import block "+
		"with id = %q). Otherwise choose another name", e.Name, strings.Join(e.Containers, ", "), e.Name, e.Name)
}

// ForeignOwnerError refuses to change a workload that another owner (another
// Terraform state) deployed.
type ForeignOwnerError struct {
	Name  string
	Owner string
	// Others are the owners the foreign containers record.
	Others     []string
	Containers []string
}

func (e *ForeignOwnerError) Error() string {
	return fmt.Sprintf("workload %q on the Docker host belongs to another Terraform state: containers %s record owner %s, and "+
		"this state is owner %s. Nothing was changed: a state never replaces, re-routes or destroys a workload another state "+
		"deployed. Manage it from the state that deployed it, or remove it from this one (terraform state rm)",
		e.Name, strings.Join(e.Containers, ", "), strings.Join(e.Others, ", "), e.Owner)
}

func names(ins []Instance) []string {
	out := make([]string, 0, len(ins))
	for _, in := range ins {
		out = append(out, in.Name)
	}
	return out
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
// container that passed its gate; an interrupt (a cancelled ctx) removes
// green before returning unless the route already points at it.
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
		return d.afterFailedSwap(ctx, green, err)
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
	next, err := d.start(ctx, art, gen)
	if err != nil {
		d.restore(ctx)
		return err
	}
	if err := d.gate(ctx, next); err != nil {
		d.restore(ctx)
		return err
	}
	if err := d.swap(ctx, next); err != nil {
		err = d.afterFailedSwap(ctx, next, err)
		if !d.routedTo(ctx, next) {
			d.restore(ctx)
		}
		return err
	}
	return d.reap(ctx, old)
}

// restore starts the previous live container again after a recreate that
// failed: it was running before the deploy stopped it.
func (d *deployment) restore(ctx context.Context) {
	if d.cur.Live == nil || !d.cur.Live.Running() {
		return
	}
	ctx, cancel := cleanupContext(ctx)
	defer cancel()
	if err := d.Docker.StartContainer(ctx, d.cur.Live.ID); err != nil {
		d.log().ErrorContext(ctx, "could not restart the previous container", "workload", d.spec.Name,
			"container", d.cur.Live.Name, "error", err.Error())
		return
	}
	d.log().InfoContext(ctx, "previous container restarted", "workload", d.spec.Name, "container", d.cur.Live.Name)
}

// afterFailedSwap decides what to do with a gated container whose swap
// failed or was interrupted: the write may have reached the proxy anyway.
// If the route points at it, it serves and stays (the old ones become
// strays for the next apply); otherwise it is removed.
func (d *deployment) afterFailedSwap(ctx context.Context, in Instance, err error) error {
	if d.routedTo(ctx, in) {
		d.log().WarnContext(ctx, "the swap failed but the route points at the new container; it stays", "workload", d.spec.Name,
			"container", in.Name, "error", err.Error())
		return fmt.Errorf("%w (the route points at the new container %s, which passed its gate and serves; the next apply removes the old ones)", err, in.Name)
	}
	d.discard(ctx, in)
	return err
}

// routedTo reports whether the proxy's route of the workload points at in,
// read on a fresh context: it is asked after a failure or an interrupt.
func (d *deployment) routedTo(ctx context.Context, in Instance) bool {
	if d.Router == nil || len(d.spec.Domains) == 0 {
		return false
	}
	ctx, cancel := cleanupContext(ctx)
	defer cancel()
	routes, err := d.Router.Routes(ctx)
	if err != nil {
		d.log().WarnContext(ctx, "could not read the route after a failed swap; taking it as unchanged", "workload", d.spec.Name, "error", err.Error())
		return false
	}
	for _, r := range routes {
		if r.Workload == d.spec.Name {
			return r.Upstream != "" && (r.Upstream == in.Upstream || r.Upstream == in.Published || r.Upstream == in.Network)
		}
	}
	return false
}

// start creates and starts the new container under a name no other
// container has. Whatever it created is removed again when it fails or is
// interrupted.
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
		// An interrupted create may have reached the engine: remove by name.
		d.remove(ctx, spec.Name, spec.Name)
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
	if d.intent.Create {
		if err := d.claim(ctx, in); err != nil {
			d.discard(ctx, in)
			return Instance{}, err
		}
	}
	d.checkpoint(ctx, d.spec.Name, StepStart)
	return in, nil
}

// claim settles two applies creating the same name at once, from two
// states: each checks, once its first container exists, for a container of
// the name that it does not own. The older container wins, by the engine's
// clock, so exactly one apply goes on: if the other had not created its
// container when this one checked, the other sees this one, older, and
// gives up.
func (d *deployment) claim(ctx context.Context, mine Instance) error {
	byWorkload, _, err := d.loadContainers(ctx, d.spec.Name)
	if err != nil {
		return err
	}
	for _, other := range byWorkload[d.spec.Name] {
		if other.ID == mine.ID || (other.Recorded.Owner == d.spec.Owner && d.spec.Owner != "") {
			continue
		}
		detail, err := d.Docker.InspectContainer(ctx, other.ID)
		if err != nil {
			if errors.Is(err, docker.ErrNotFound) {
				continue // the other apply gave up
			}
			return fmt.Errorf("inspect container %s: %w", other.Name, err)
		}
		if detail.Created.Before(mine.Created) || (detail.Created.Equal(mine.Created) && other.ID < mine.ID) {
			return &AlreadyDeployedError{Name: d.spec.Name, Containers: []string{other.Name}}
		}
	}
	return nil
}

// gate lets the new container take traffic only once it is ready: the HTTP
// probe on the health path when there is one, else the liveness window. A
// container that fails is removed, and the error carries the probe's last
// answer and the container's last log lines.
func (d *deployment) gate(ctx context.Context, in Instance) error {
	c := d.spec.Source.Container()
	log := d.log().With("workload", d.spec.Name, "container", in.Name)
	var err error
	if c.Healthcheck != "" {
		err = d.probe(ctx, in, c.Healthcheck, log)
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

// probe is the gate of a container with a health path: GET it until it
// answers 2xx or 3xx within the health timeout. A container whose port is
// not published yet (it is restarting) is waited for, never gated another
// way; one that exits or restarts fails at once.
func (d *deployment) probe(ctx context.Context, in Instance, path string, log *slog.Logger) error {
	timeout := d.spec.HealthTimeout
	if timeout <= 0 {
		timeout = workload.DefaultHealthTimeout
	}
	deadline := time.Now().Add(timeout)
	// A new container has not restarted yet: any restart before it answers
	// is a crash.
	stillUp := func() error {
		detail, err := d.Docker.InspectContainer(ctx, in.ID)
		if err != nil {
			return err
		}
		switch {
		case detail.State == "exited" || detail.State == "dead":
			return fmt.Errorf("container exited with code %d before answering", detail.ExitCode)
		case detail.RestartCount > 0 || detail.State == "restarting":
			how := fmt.Sprintf("restarted %d times", detail.RestartCount)
			if detail.ExitCode != 0 {
				how += fmt.Sprintf(", last exit code %d", detail.ExitCode)
			}
			return fmt.Errorf("container crashed before answering: it is restarting (%s)", how)
		}
		if in.Published == "" {
			if published, err := d.instance(detail.Container); err == nil {
				in.Published = published.Published
			}
		}
		return nil
	}
	for in.Published == "" {
		if err := stillUp(); err != nil {
			return fmt.Errorf("health check %s: %w", path, err)
		}
		if in.Published != "" {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("health check %s: the container's port %d was not published within %s", path, d.spec.Source.Container().Port, timeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("health check %s: %w", path, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	url := "http://" + in.Published + path
	log.InfoContext(ctx, "gate: probing", "url", url, "timeout", timeout.String())
	attempt := func(n int, a health.Answer) {
		if n == 1 || n%10 == 0 {
			log.InfoContext(ctx, "gate: waiting for the health check", "attempt", n, "answer", a.String())
		}
	}
	err := health.Probe(ctx, url, time.Until(deadline), stillUp, attempt)
	if pe, ok := err.(*health.ProbeError); ok {
		pe.Timeout = timeout // the configured bound, not what was left of it
		return pe
	}
	if err != nil {
		return fmt.Errorf("health check %s: %w", path, err)
	}
	return nil
}

// logTail formats the container's last log lines for an error, with the
// workload's env values redacted.
func (d *deployment) logTail(ctx context.Context, in Instance) string {
	ctx, cancel := cleanupContext(ctx)
	defer cancel()
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

// remove removes a container the deploy started, on a fresh context: a
// deploy that fails or is interrupted (its ctx cancelled) still removes what
// it started before it returns.
func (d *deployment) remove(ctx context.Context, id, name string) {
	ctx, cancel := cleanupContext(ctx)
	defer cancel()
	if err := d.Docker.RemoveContainer(ctx, id); err != nil {
		d.log().ErrorContext(ctx, "could not remove a failed container", "workload", d.spec.Name, "container", name, "error", err.Error())
	}
}

// cleanupTimeout bounds the clean-up after a failed or interrupted deploy.
const cleanupTimeout = 30 * time.Second

// cleanupContext is a context for cleaning up after a failure or an
// interrupt: it keeps ctx's values but not its cancellation, and ends after
// cleanupTimeout.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
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

// Teardown removes the workload's route, every container of the workload
// that spec's owner manages, and the images a building source made for it.
// Named volumes stay: they are data. Containers of the name that another
// owner deployed are left alone, and so is the route then: they are that
// owner's. An image that cannot be removed (a container outside the workload
// still uses it) is a warning: what the workload ran is gone.
func (e *Engine) Teardown(ctx context.Context, spec workload.Spec) (warnings []string, err error) {
	defer e.invalidate()
	// Only the containers are needed: the route goes whatever it says, and
	// Router.Delete finds it itself.
	byWorkload, unreadable, err := e.loadContainers(ctx, spec.Name)
	if err != nil {
		return nil, err
	}
	o := reconcile(spec.Name, spec.Owner, byWorkload[spec.Name], nil)
	own := o.all()
	for _, c := range unreadable {
		if c.Labels[workload.LabelWorkload] == spec.Name {
			e.log().WarnContext(ctx, "removing a container with unreadable labels", "container", c.Name)
			own = append(own, Instance{ID: c.ID, Name: c.Name, State: c.State})
		}
	}
	if len(o.Foreign) > 0 {
		warnings = append(warnings, fmt.Sprintf("containers %s of workload %q record another owner (%s): they belong to another "+
			"Terraform state and were left alone, with the workload's route", strings.Join(o.ForeignNames(), ", "), spec.Name,
			strings.Join(o.ForeignOwners(), ", ")))
	} else if e.Router != nil {
		if err := e.Router.Delete(ctx, spec.Name); err != nil {
			return nil, fmt.Errorf("remove the route of workload %q: %w", spec.Name, err)
		}
	}
	if err := e.reap(ctx, spec.Name, own); err != nil {
		return warnings, err
	}
	if p, ok := spec.Source.(plugin.Pruner); ok && len(o.Foreign) == 0 {
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
