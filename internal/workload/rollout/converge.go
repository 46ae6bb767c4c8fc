package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/runner"
)

// converge brings the workload in line with spec without a new
// generation: replicas that died are replaced (by instances of the live
// generation, gated before they take traffic; the healthy ones are not
// touched), the route points at the live instances, and strays go.
func (e *Engine) converge(ctx context.Context, spec workload.Spec, cur Observed, intent Intent) error {
	live := cur.Primary()
	if live == nil {
		return fmt.Errorf("workload %q has no container any more (it was removed after the plan); run terraform apply again to redeploy it", spec.Name)
	}
	var running, dead []runner.Instance
	for _, in := range cur.Live {
		if in.Running() {
			running = append(running, in)
		} else {
			dead = append(dead, in)
		}
	}
	if len(running) > 0 {
		want := spec.ReplicaCount()
		if len(running) > want {
			// Scaled down: the newest go, once the route has left them.
			slices.SortFunc(running, func(a, b runner.Instance) int { return a.Created.Compare(b.Created) })
			cur.Strays = append(cur.Strays, running[want:]...)
			running = running[:want]
		}
		if missing := want - len(running); missing > 0 {
			e.log().InfoContext(ctx, "starting the replicas that are missing", "workload", spec.Name, "missing", missing)
			d := &deployment{Engine: e, spec: spec, intent: intent, cur: cur}
			art, err := d.produce(ctx)
			if err != nil {
				return err
			}
			more, err := d.start(ctx, art, running[0].Recorded.Generation, missing)
			if err != nil {
				return err
			}
			if err := d.gateAll(ctx, more); err != nil {
				return err
			}
			running = append(running, more...)
		}
		cur.Live = running
		cur.Strays = append(cur.Strays, dead...)
	}
	if routeDrifted(spec, cur) {
		e.log().InfoContext(ctx, "restoring the route", "workload", spec.Name, "upstreams", upstreams(cur.Live))
		if err := e.route(ctx, spec, cur.Live); err != nil {
			return err
		}
	}
	return e.reap(ctx, spec.Name, cur.Strays)
}

// routeDrifted reports whether the proxy's route differs from what spec and
// the live instances call for.
func routeDrifted(spec workload.Spec, cur Observed) bool {
	if len(spec.Domains) == 0 {
		return cur.Route != nil
	}
	// A route still parking drained upstreams is a deploy that stopped
	// between its swap and its reap: harmless, but written back clean.
	return cur.Route == nil || len(cur.Live) == 0 || !proxy.SameHosts(cur.Route.Upstreams, upstreams(cur.Live)) ||
		!proxy.SameHosts(cur.Route.Domains, spec.Domains) || len(cur.Route.Draining) > 0
}

// upstreams are what the proxy forwards to for ins.
func upstreams(ins []runner.Instance) []string {
	out := make([]string, 0, len(ins))
	for _, in := range ins {
		if in.Upstream != "" {
			out = append(out, in.Upstream)
		}
	}
	return out
}

// route points the workload's route at ins; with no domains it removes the
// route.
func (e *Engine) route(ctx context.Context, spec workload.Spec, ins []runner.Instance) error {
	return e.routeDraining(ctx, spec, ins, nil)
}

// routeDraining is route, with old upstreams parked in the route so that
// the proxy keeps counting the requests in flight to them (proxy.Drainer).
func (e *Engine) routeDraining(ctx context.Context, spec workload.Spec, ins []runner.Instance, draining []string) error {
	r := proxy.Route{Workload: spec.Name, Domains: spec.Domains, Upstreams: upstreams(ins), Draining: draining}
	written, err := e.writeRoute(ctx, r, fmt.Sprint(r.Upstreams))
	if written {
		e.log().InfoContext(ctx, "route points at the new containers", "workload", spec.Name, "containers", names(ins), "upstreams", r.Upstreams)
	}
	return err
}

// writeRoute writes r, or removes the workload's route when r has no
// domains; target names where r points, for the error. written reports
// that r was written.
func (e *Engine) writeRoute(ctx context.Context, r proxy.Route, target string) (written bool, err error) {
	if e.Router == nil {
		return false, nil
	}
	if len(r.Domains) == 0 {
		if err := e.Router.Delete(ctx, r.Workload); err != nil {
			return false, fmt.Errorf("remove the route of workload %q: %w", r.Workload, err)
		}
		return false, nil
	}
	if err := e.Router.Upsert(ctx, r); err != nil {
		return false, fmt.Errorf("route %v to %s: %w", r.Domains, target, err)
	}
	return true, nil
}

// reap retires instances: stopped gracefully (SIGTERM first, so that they
// finish what they serve), then removed.
func (e *Engine) reap(ctx context.Context, name string, old []runner.Instance) error {
	var errs []error
	for _, in := range old {
		e.log().InfoContext(ctx, "removing container", "workload", name, "container", in.Name, "generation", in.Recorded.Generation)
		if err := e.Runtime.Remove(ctx, in); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
