package rollout

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Step names a step of a deploy: the vocabulary every pipeline shares.
// Engine.AfterStep is called when the named step has just completed, so
// that a kill there leaves (a blue-green deploy of containers):
//
//	produce: the image is on the host; nothing runs that did not before
//	start:   green runs beside blue, not gated, not routed
//	gate:    green passed its gate, the route still points at blue
//	swap:    the route points at green, blue still runs
//	drain:   blue has drained and is about to be reaped
//	reap:    blue is gone
type Step string

const (
	StepProduce Step = "produce" // the artifact is made: the image on the Docker host, a stack's project checked out
	StepRelease Step = "release" // a one-off run of the new artifact (migrations) passed; nothing that runs was touched
	StepCertify Step = "certify" // the proxy serves a certificate for every domain; the route is as it was
	StepStop    Step = "stop"    // recreate only: the old instances are stopped
	StepStart   Step = "start"   // the new instances run
	StepGate    Step = "gate"    // the new instances passed their gate
	StepSwap    Step = "swap"    // the route points at the new instances, and they are the record
	StepDrain   Step = "drain"   // the old instances had time to finish their requests
	StepReap    Step = "reap"    // the old instances are gone
)

// Steps is the vocabulary in its one order. A pipeline may skip a step,
// never reorder: each pipeline's list (ContainerSteps, StackSteps,
// ServiceSteps) is a subsequence of it. Certify, which the engine adds to
// any pipeline's steps when the proxy holds certificates for the
// workload's domains (see withCertify), comes before release: a
// certificate that cannot be had fails the deploy before a migration
// has changed anything. Release runs once, before any new instance
// starts, so that its failure changes nothing that runs.
var Steps = []Step{StepProduce, StepCertify, StepRelease, StepStop, StepStart, StepGate, StepSwap, StepDrain, StepReap}

// withStep inserts step into steps at its place in Steps.
func withStep(steps []Step, step Step) []Step {
	at := slices.Index(Steps, step)
	out := make([]Step, 0, len(steps)+1)
	for i, s := range steps {
		if slices.Index(Steps, s) > at {
			return append(append(out, step), steps[i:]...)
		}
		out = append(out, s)
	}
	return append(out, step)
}

// A deployPlan is what one deploy does at each of its steps, and once
// every step passed.
type deployPlan struct {
	do map[Step]func(ctx context.Context) error
	// after follows the last step: old images pruned (best effort).
	after func(ctx context.Context)
}

// runSteps is the step machine: it runs steps in their order, each as
// plan says, marks the end of each (checkpoint), and stops at the first
// that fails. What a failed step started it removes itself, before it
// returns.
func (d *deployment) runSteps(ctx context.Context, steps []Step, plan deployPlan) error {
	for _, s := range steps {
		do, ok := plan.do[s]
		if !ok {
			return fmt.Errorf("workload %q: the %s pipeline lists step %q but has no plan for it", d.spec.Name, d.pipe.kind(), s)
		}
		if err := do(ctx); err != nil {
			return err
		}
		d.checkpoint(ctx, d.spec.Name, s)
	}
	return nil
}

// checkpoint marks the end of a step in the log, and calls the AfterStep
// hook.
func (e *Engine) checkpoint(ctx context.Context, name string, step Step) {
	e.log().DebugContext(ctx, "step done", "workload", name, "step", string(step))
	if e.AfterStep != nil {
		e.AfterStep(ctx, name, step)
	}
}

// checkpoint is the Engine's, timing the step that ends here from the end
// of the previous one, so that "deploy done" says where a deploy's time
// went.
func (d *deployment) checkpoint(ctx context.Context, name string, step Step) {
	now := time.Now()
	d.timings = append(d.timings, stepTiming{step, now.Sub(d.lap)})
	d.lap = now
	d.Engine.checkpoint(ctx, name, step)
}

// stepTiming is one step of a deploy and how long it took.
type stepTiming struct {
	Step    Step
	Elapsed time.Duration
}

// stepTimings are a deploy's steps in the order they ended.
type stepTimings []stepTiming

// String is "produce=1.2s start=80ms ...", the form "deploy done" logs.
func (ts stepTimings) String() string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = fmt.Sprintf("%s=%s", t.Step, t.Elapsed.Round(time.Millisecond))
	}
	return strings.Join(parts, " ")
}
