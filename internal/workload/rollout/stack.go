package rollout

import (
	"context"
	"fmt"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/runner"
)

// stack deploys a stack-managed workload: the stack comes up at the new
// project (compose recreates what changed, in place: a downtime window for
// those services, by design), its routed service passes its gate, the route
// points at it, and only then is the new generation recorded. A deploy from
// another kind of source leaves containers outside the stack: they go last.
// A gate that fails leaves the stack as compose made it, and the record on
// the previous generation, so that the next plan offers the deploy again.
func (d *deployment) stack(ctx context.Context, art plugin.Artifact, gen int) error {
	if err := d.Stacks.Up(ctx, d.spec, art); err != nil {
		return fmt.Errorf("workload %q: %w", d.spec.Name, err)
	}
	d.checkpoint(ctx, d.spec.Name, StepStart)
	if d.spec.Source.(plugin.Stack).Stack().Service != "" {
		routed, err := d.Stacks.Routed(ctx, d.spec)
		if err != nil {
			return err
		}
		if err := d.gate(ctx, routed, false); err != nil {
			return err
		}
		d.checkpoint(ctx, d.spec.Name, StepGate)
		if err := d.swap(ctx, []runner.Instance{routed}, nil); err != nil {
			return err
		}
	}
	if err := d.Stacks.Record(ctx, d.spec, art, gen); err != nil {
		return err
	}
	d.checkpoint(ctx, d.spec.Name, StepDrain)
	// Containers of the name outside the stack: a deploy from another kind
	// of source before this one.
	return d.reap(ctx, d.cur.Strays)
}

// convergeStack brings a stack back to what its record says without a new
// generation: a service stopped or removed by hand is started again by an
// up of the deployed project (compose leaves the healthy ones alone), and
// the route points at the routed service again.
func (e *Engine) convergeStack(ctx context.Context, spec workload.Spec, cur Observed, intent Intent) error {
	if cur.Status() != StatusRunning {
		d := &deployment{Engine: e, spec: spec, intent: intent, cur: cur}
		art, err := d.produce(ctx)
		if err != nil {
			return err
		}
		if err := e.Stacks.Up(ctx, spec, art); err != nil {
			return fmt.Errorf("workload %q: %w", spec.Name, err)
		}
		if !cur.Stack.HasRecord {
			gen := intent.Generation
			if gen == 0 {
				gen = 1
			}
			if err := e.Stacks.Record(ctx, spec, art, gen); err != nil {
				return err
			}
		}
		if cur, err = e.observeNow(ctx, spec.Name, spec.Owner); err != nil {
			return err
		}
	}
	if spec.Source.(plugin.Stack).Stack().Service != "" && routeDrifted(spec, cur) {
		routed, err := e.Stacks.Routed(ctx, spec)
		if err != nil {
			return err
		}
		if err := e.route(ctx, spec, []runner.Instance{routed}); err != nil {
			return err
		}
	}
	return e.reap(ctx, spec.Name, cur.Strays)
}
