package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/runner"
)

// Intent is what the plan decided for one apply.
type Intent struct {
	// Redeploy asks for new instances. Without it, Apply only brings the
	// route and the strays in line with the spec (converge).
	Redeploy bool
	// Generation is the new instances' generation, as the plan showed it;
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

// Apply makes the workload match spec, through the pipeline of the
// runtime chosen for it. With intent.Redeploy it produces the artifact and
// replaces the live instances step by step (the pipeline's steps, by the
// spec's strategy); without, it converges: what was lost runs again, the
// route points at the live instances and strays go. A failed deploy leaves
// the live instances serving (blue-green), or restarts them (recreate),
// and removes what it started.
func (e *Engine) Apply(ctx context.Context, spec workload.Spec, intent Intent) (Result, error) {
	strategy, err := e.Validate(spec)
	if err != nil {
		return Result{}, err
	}
	defer e.invalidate()
	res := Result{Strategy: strategy}
	p, err := e.choose(spec)
	if err != nil {
		return res, err
	}
	h, err := e.read(ctx, spec.Name)
	if err != nil {
		return res, err
	}
	cur := h.observed(spec.Name, spec.Owner)
	if intent.Create && (len(cur.all()) > 0 || len(cur.Foreign) > 0) {
		return res, &AlreadyDeployedError{Name: spec.Name, Containers: append(names(cur.all()), cur.ForeignNames()...)}
	}
	if len(cur.Foreign) > 0 {
		return res, &ForeignOwnerError{Name: spec.Name, Owner: spec.Owner, Others: cur.ForeignOwners(), Containers: cur.ForeignNames()}
	}
	if e.Router != nil {
		if err := checkDomains(spec, h.routes); err != nil {
			return res, err
		}
	}
	d := &deployment{Engine: e, pipe: p, spec: spec, strategy: strategy, intent: intent, cur: cur, lap: time.Now()}
	if intent.Redeploy {
		err = d.run(ctx)
	} else {
		err = p.converge(ctx, d)
	}
	res.Warnings = d.warnings
	if err != nil {
		return res, err
	}
	res.Observed, err = e.observeNow(ctx, spec.Name, spec.Owner)
	return res, err
}

// deployment is one run of a pipeline: a deploy or a converge.
type deployment struct {
	*Engine
	pipe     pipeline
	spec     workload.Spec
	strategy plugin.Strategy
	intent   Intent
	cur      Observed
	// gen is the new instances' generation; art what produce made.
	gen      int
	art      plugin.Artifact
	warnings []string
	// timings are the steps done so far and how long each took, since
	// lap (the end of the previous step, or the deploy's start).
	timings stepTimings
	lap     time.Time
}

// run deploys: the pipeline's steps in their order, the commit status
// reported around them, and what follows the last step.
func (d *deployment) run(ctx context.Context) error {
	log := d.log().With("workload", d.spec.Name)
	d.gen = d.intent.Generation
	if d.gen == 0 {
		d.gen = nextGeneration(d.cur)
	}
	log.InfoContext(ctx, "deploy starting", "strategy", string(d.strategy), "generation", d.gen,
		"source", d.spec.Source.Kind(), "runtime", string(d.pipe.kind()))
	d.report(ctx, plugin.DeployPending, "deploying")
	start := time.Now()
	d.lap = start
	plan := d.pipe.plan(d)
	steps := d.pipe.steps(d.spec, d.strategy)
	if d.certifies(d.spec) {
		steps = withStep(steps, StepCertify)
		plan.do[StepCertify] = func(ctx context.Context) error { return d.certify(ctx, d.spec) }
	}
	if err := d.runSteps(ctx, steps, plan); err != nil {
		d.report(ctx, plugin.DeployFailure, reason(err))
		return err
	}
	if plan.after != nil {
		plan.after(ctx)
	}
	d.report(ctx, plugin.DeploySuccess, "deployed")
	// What follows the last step: the old images pruned, the commit status.
	d.timings = append(d.timings, stepTiming{"after", time.Since(d.lap)})
	log.InfoContext(ctx, "deploy done", "generation", d.gen, "elapsed", time.Since(start).Round(time.Millisecond).String(),
		"steps", d.timings.String())
	return nil
}

// produce makes the artifact (d.art). Nothing running is touched yet.
func (d *deployment) produce(ctx context.Context) error {
	art, err := d.spec.Source.Produce(ctx, plugin.ProduceEnv{
		Images: d.Images, Log: d.log(), Workload: d.spec.Name, Revision: d.intent.Revision, Vars: d.spec.Env,
	})
	if err != nil {
		return fmt.Errorf("produce the image of workload %q: %w", d.spec.Name, err)
	}
	if art.Warning != "" {
		d.warn(art.Warning)
	}
	d.art = art
	return nil
}

// warn adds what the deploy says without failing to its result.
func (d *deployment) warn(msg string) { d.warnings = append(d.warnings, msg) }

// start starts n new instances of generation gen. When one fails, the
// others are removed again (the runtime removes what a failed start made).
func (d *deployment) start(ctx context.Context, gen, n int) ([]runner.Instance, error) {
	var started []runner.Instance
	for range n {
		in, err := d.containers.Start(ctx, d.spec, d.art, gen)
		if err != nil {
			d.discardAll(ctx, started)
			return nil, err
		}
		started = append(started, in)
		d.log().InfoContext(ctx, "container started", "workload", d.spec.Name, "container", in.Name,
			"generation", gen, "published", in.Published)
		if d.intent.Create && len(started) == 1 {
			if err := d.claim(ctx, in); err != nil {
				d.discardAll(ctx, started)
				return nil, err
			}
		}
	}
	return started, nil
}

// gateAll gates every new instance at once. When one fails, every new
// instance is removed: a generation takes traffic whole or not at all.
func (d *deployment) gateAll(ctx context.Context, ins []runner.Instance) error {
	if err := d.gateEach(ctx, ins); err != nil {
		d.discardAll(ctx, ins)
		return err
	}
	return nil
}

// gateEach gates instances at once and joins their failures; it removes
// nothing (a stack's routed containers that fail stay: they are
// compose's, and the route is left where it is).
func (d *deployment) gateEach(ctx context.Context, ins []runner.Instance) error {
	errs := make([]error, len(ins))
	var wg sync.WaitGroup
	for i, in := range ins {
		wg.Go(func() { errs[i] = d.gate(ctx, in, false) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// claim settles two applies creating the same name at once, from two
// states: each checks, once its first instance exists, for an instance of
// the name that it does not own. The older one wins, by the engine's clock,
// so exactly one apply goes on: if the other had not created its instance
// when this one checked, the other sees this one, older, and gives up.
func (d *deployment) claim(ctx context.Context, mine runner.Instance) error {
	byWorkload, _, err := d.containers.List(ctx, d.spec.Name)
	if err != nil {
		return err
	}
	for _, other := range byWorkload[d.spec.Name] {
		if other.ID == mine.ID || (other.Recorded.Owner == d.spec.Owner && d.spec.Owner != "") {
			continue
		}
		// The list's times are whole seconds; the engine's own record of
		// the other's creation is exact.
		h, err := d.containers.Inspect(ctx, other)
		if errors.Is(err, docker.ErrNotFound) {
			continue // the other apply gave up
		}
		if err != nil {
			return err
		}
		if h.Created.Before(mine.Created) || (h.Created.Equal(mine.Created) && other.ID < mine.ID) {
			return &AlreadyDeployedError{Name: d.spec.Name, Containers: []string{other.Name}}
		}
	}
	return nil
}

// restore starts the previous live instances again after a recreate that
// failed: they were running before the deploy stopped them. A restarted
// container may be published on another host port, so the route follows
// it.
func (d *deployment) restore(ctx context.Context) {
	ctx, cancel := runner.CleanupContext(ctx)
	defer cancel()
	restarted := false
	for _, in := range d.cur.Live {
		if !in.Running() {
			continue
		}
		if err := d.containers.Resume(ctx, in); err != nil {
			d.log().ErrorContext(ctx, "could not restart the previous container", "workload", d.spec.Name,
				"container", in.Name, "error", err.Error())
			continue
		}
		restarted = true
		d.log().InfoContext(ctx, "previous container restarted", "workload", d.spec.Name, "container", in.Name)
	}
	if !restarted || d.Router == nil || len(d.spec.Domains) == 0 {
		return
	}
	now, err := d.observeNow(ctx, d.spec.Name, d.spec.Owner)
	if err == nil && len(now.Live) > 0 && routeDrifted(d.spec, now) {
		err = d.route(ctx, d.spec, now.Live)
	}
	if err != nil {
		d.log().ErrorContext(ctx, "could not point the route back at the previous container", "workload", d.spec.Name, "error", err.Error())
	}
}

// afterFailedSwap decides what to do with gated instances whose swap
// failed or was interrupted: the write may have reached the proxy anyway.
// If the route points at them, they serve and stay (the old ones become
// strays for the next apply); otherwise they are removed.
func (d *deployment) afterFailedSwap(ctx context.Context, ins []runner.Instance, err error) error {
	if d.routedTo(ctx, ins) {
		d.log().WarnContext(ctx, "the swap failed but the route points at the new containers; they stay", "workload", d.spec.Name,
			"containers", names(ins), "error", err.Error())
		return fmt.Errorf("%w (the route points at the new containers %v, which passed their gate and serve; the next apply removes the old ones)", err, names(ins))
	}
	d.discardAll(ctx, ins)
	return err
}

// routedTo reports whether the proxy's route of the workload points at one
// of ins, read on a fresh context: it is asked after a failure or an
// interrupt.
func (d *deployment) routedTo(ctx context.Context, ins []runner.Instance) bool {
	if d.Router == nil || len(d.spec.Domains) == 0 {
		return false
	}
	ctx, cancel := runner.CleanupContext(ctx)
	defer cancel()
	routes, err := d.Router.Routes(ctx)
	if err != nil {
		d.log().WarnContext(ctx, "could not read the route after a failed swap; taking it as unchanged", "workload", d.spec.Name, "error", err.Error())
		return false
	}
	for _, r := range routes {
		if r.Workload == d.spec.Name {
			return slices.ContainsFunc(ins, func(in runner.Instance) bool { return slices.ContainsFunc(r.Upstreams, in.Serves) })
		}
	}
	return false
}

// swap points the route at the new instances, in place, all at once;
// draining are the old upstreams the proxy keeps counting requests to (see
// toDrain).
func (d *deployment) swap(ctx context.Context, ins []runner.Instance, draining []string) error {
	return d.routeDraining(ctx, d.spec, ins, draining)
}

// stop stops the active instances among old (recreate's downtime window)
// and records them as stopped, so that the reap does not stop them again.
func (d *deployment) stop(ctx context.Context, old []runner.Instance) error {
	for i, in := range old {
		if !in.Active() {
			continue
		}
		d.log().InfoContext(ctx, "stopping the old container", "workload", d.spec.Name, "container", in.Name)
		if err := d.containers.Stop(ctx, in); err != nil {
			return err
		}
		old[i].State = docker.ContainerExited
	}
	return nil
}

// discardAll removes new instances that will not take traffic.
func (d *deployment) discardAll(ctx context.Context, ins []runner.Instance) {
	for _, in := range ins {
		d.discard(ctx, in)
	}
}

// discard removes a new instance that will not take traffic, on a fresh
// context: a deploy that fails or is interrupted still removes what it
// started before it returns.
func (d *deployment) discard(ctx context.Context, in runner.Instance) {
	ctx, cancel := runner.CleanupContext(ctx)
	defer cancel()
	if err := runner.Retry(ctx, func(ctx context.Context) error { return d.containers.Remove(ctx, in) }); err != nil {
		d.log().ErrorContext(ctx, "could not remove a failed container", "workload", d.spec.Name, "container", in.Name, "error", err.Error())
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

// reason is what a failure report says of err: its first line (the gate's
// log lines and a build's output come after it), without control
// characters. A Git host shows it on the pull request.
func reason(err error) string {
	line, _, _ := strings.Cut(err.Error(), "\n")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, line)
}

// prune lets a building source remove the workload's old images, keeping the
// new one and the ones it replaced.
func (d *deployment) prune(ctx context.Context) {
	keep := []string{d.art.ImageID}
	for _, in := range d.cur.Live {
		keep = append(keep, in.ImageID)
	}
	if err := d.pruneImages(ctx, d.spec, keep); err != nil {
		msg := fmt.Sprintf("old images of workload %q were not pruned: %v", d.spec.Name, err)
		d.log().WarnContext(ctx, msg)
		d.warnings = append(d.warnings, msg)
	}
}

func nextGeneration(o Observed) int {
	gen := 0
	for _, in := range o.all() {
		gen = max(gen, in.Recorded.Generation)
	}
	return gen + 1
}
