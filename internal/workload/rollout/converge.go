package rollout

import (
	"context"
	"errors"
	"fmt"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/runtime"
)

// converge brings the route and the strays in line with spec, without new
// instances.
func (e *Engine) converge(ctx context.Context, spec workload.Spec, cur Observed) error {
	live := cur.Primary()
	if live == nil {
		return fmt.Errorf("workload %q has no container any more (it was removed after the plan); run terraform apply again to redeploy it", spec.Name)
	}
	if routeDrifted(spec, cur) {
		e.log().InfoContext(ctx, "restoring the route", "workload", spec.Name, "upstream", live.Upstream)
		if err := e.route(ctx, spec, *live); err != nil {
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
	live := cur.Primary()
	return cur.Route == nil || live == nil || cur.Route.Upstream != live.Upstream || !SameDomains(cur.Route.Domains, spec.Domains)
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
func (e *Engine) route(ctx context.Context, spec workload.Spec, in runtime.Instance) error {
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

// reap retires instances: stopped gracefully (SIGTERM first, so that they
// finish what they serve), then removed.
func (e *Engine) reap(ctx context.Context, name string, old []runtime.Instance) error {
	var errs []error
	for _, in := range old {
		e.log().InfoContext(ctx, "removing container", "workload", name, "container", in.Name, "generation", in.Recorded.Generation)
		if err := e.Runtime.Remove(ctx, in); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
