package rollout

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/runner"
)

// routeDrifted reports whether the proxy's route differs from what spec and
// the live instances call for.
func routeDrifted(spec workload.Spec, cur Observed) bool {
	if len(spec.Domains) == 0 {
		return cur.Route != nil
	}
	// A route still parking drained upstreams is a deploy that stopped
	// between its swap and its reap: harmless, but written back clean.
	return cur.Route == nil || len(cur.Live) == 0 || !proxy.SameHosts(cur.Route.Upstreams, upstreams(cur.Live)) ||
		!proxy.SameHosts(cur.Route.Domains, spec.Domains) || len(cur.Route.Draining) > 0 ||
		!proxy.SameCertificate(cur.Route.TLS, spec.TLS)
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
	r := proxy.Route{Workload: spec.Name, Domains: spec.Domains, Upstreams: upstreams(ins), Draining: draining, TLS: spec.TLS}
	written, err := e.writeRoute(ctx, r, fmt.Sprint(r.Upstreams))
	if written {
		e.log().InfoContext(ctx, "route points at the new containers", "workload", spec.Name, "containers", names(ins), "upstreams", r.Upstreams)
	}
	return err
}

// certifies reports whether the proxy holds certificates for spec's
// domains (proxy.Certifier): then a deploy runs StepCertify.
func (e *Engine) certifies(spec workload.Spec) bool {
	c, ok := e.Router.(proxy.Certifier)
	return ok && len(spec.Domains) > 0 && c.Certifies(proxy.Route{Workload: spec.Name, Domains: spec.Domains, TLS: spec.TLS})
}

// certify has the proxy hold a certificate for each of spec's domains,
// served over HTTPS, before a route write points them anywhere new: a
// deploy's StepCertify, before any new instance starts, so that a
// certificate the issuer refuses changes nothing that runs; and converge's,
// before it restores a route. The route itself is not written here, so a
// swap never touches a certificate.
func (e *Engine) certify(ctx context.Context, spec workload.Spec) error {
	if !e.certifies(spec) {
		return nil
	}
	start := time.Now()
	r := proxy.Route{Workload: spec.Name, Domains: spec.Domains, TLS: spec.TLS}
	if err := e.Router.(proxy.Certifier).Certify(ctx, r); err != nil {
		return fmt.Errorf("certificates of workload %q: %w", spec.Name, err)
	}
	e.log().InfoContext(ctx, "every domain is served over HTTPS", "workload", spec.Name, "domains", spec.Domains,
		"elapsed", time.Since(start).Round(time.Millisecond).String())
	return nil
}

// writeRoute writes r, or removes the workload's route when r has no
// domains; target names where r points, for the error. written reports
// that r was written.
func (e *Engine) writeRoute(ctx context.Context, r proxy.Route, target string) (written bool, err error) {
	if e.Router == nil {
		return false, nil
	}
	if len(r.Domains) == 0 {
		return false, e.deleteRoute(ctx, r.Workload)
	}
	if err := e.Router.Upsert(ctx, r); err != nil {
		return false, fmt.Errorf("route %v to %s: %w", r.Domains, target, err)
	}
	return true, nil
}

// deleteRoute removes the workload's route, if there is a proxy.
func (e *Engine) deleteRoute(ctx context.Context, name string) error {
	if e.Router == nil {
		return nil
	}
	if err := e.Router.Delete(ctx, name); err != nil {
		return fmt.Errorf("remove the route of workload %q: %w", name, err)
	}
	return nil
}

// reap retires instances: stopped gracefully (SIGTERM first, so that they
// finish what they serve), then removed.
func (e *Engine) reap(ctx context.Context, name string, old []runner.Instance) error {
	var errs []error
	for _, in := range old {
		e.log().InfoContext(ctx, "removing container", "workload", name, "container", in.Name, "generation", in.Recorded.Generation)
		if err := e.containers.Remove(ctx, in); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
