package rollout

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Step names a step of a deploy. Engine.AfterStep is called when the named
// step has just completed, so that a kill there leaves:
//
//	produce: the image is on the host; nothing runs that did not before
//	start:   green runs beside blue, not gated, not routed
//	gate:    green passed its gate, the route still points at blue
//	swap:    the route points at green, blue still runs
//	drain:   blue has drained and is about to be reaped
//	reap:    blue is gone
type Step string

const (
	StepProduce Step = "produce" // the image is on the Docker host
	StepStop    Step = "stop"    // recreate only: the old instances are stopped
	StepStart   Step = "start"   // the new instance runs
	StepGate    Step = "gate"    // the new instance passed its gate
	StepSwap    Step = "swap"    // the route points at the new instance
	StepDrain   Step = "drain"   // the old instances had time to finish their requests
	StepReap    Step = "reap"    // the old instances are gone
)

// Steps lists the steps in the order a blue-green deploy runs them.
var Steps = []Step{StepProduce, StepStart, StepGate, StepSwap, StepDrain, StepReap}

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
