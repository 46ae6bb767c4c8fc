package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
)

// certifyingRouter is the world's proxy with certificates (Caddy's TLS
// app, in memory): Certify records an event, or fails with refuse.
type certifyingRouter struct {
	fakeRouter
	refuse error
}

func (r certifyingRouter) Certifies(proxy.Route) bool { return true }

func (r certifyingRouter) Certify(ctx context.Context, route proxy.Route) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.refuse != nil {
		return r.refuse
	}
	r.w.event("certify %s %v%s", route.Workload, route.Domains, tlsOf(route))
	return nil
}

func tlsOf(route proxy.Route) string {
	if route.TLS == nil {
		return ""
	}
	return " own " + route.TLS.CertificatePEM
}

// TestEveryPipelineCertifiesBeforeAnyNewInstance: with a proxy that holds
// certificates, every pipeline's deploy runs certify after produce and
// before anything it stops, starts or updates, and StepsOf says so.
func TestEveryPipelineCertifiesBeforeAnyNewInstance(t *testing.T) {
	for _, c := range pipelineCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w, e := c.deployed(t)
			e.Router = certifyingRouter{fakeRouter: fakeRouter{w}}
			spec := c.spec("v2")
			want := withStep(c.steps, StepCertify)
			if got, err := e.StepsOf(spec); err != nil || !slices.Equal(got, want) {
				t.Fatalf("StepsOf = %v %v, want %v", got, err, want)
			}
			if _, err := e.Apply(context.Background(), spec, Intent{Redeploy: true, Generation: 2}); err != nil {
				t.Fatal(err)
			}
			events := w.takeEvents()
			if got := steps(events); !slices.Equal(got, want) {
				t.Fatalf("steps %v, want %v", got, want)
			}
			certified := slices.Index(events, fmt.Sprintf("certify %s %v", spec.Name, spec.Domains))
			if certified < 0 || events[certified+1] != "step certify" || certified < slices.Index(events, "step produce") {
				t.Fatalf("events %q: want the certify call, then its step, after produce", events)
			}
			for _, e := range events[:certified] {
				for _, verb := range []string{"start ", "stop ", "update ", "route ", "remove "} {
					if strings.HasPrefix(e, verb) {
						t.Fatalf("events %q: %q came before certify", events, e)
					}
				}
			}
		})
	}
}

// TestARefusedCertificateChangesNothingThatRuns: when the issuer refuses a
// certificate, the deploy fails with the proxy's reason before any
// instance is stopped, started or updated, and before the release (a
// migration) when there is one; the route stays on v1.
func TestARefusedCertificateChangesNothingThatRuns(t *testing.T) {
	refusal := &proxy.CertificateError{Domain: "new.test", Issuer: "the ACME CA", Reason: "DNS problem: NXDOMAIN"}
	for _, c := range pipelineCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w, e := c.deployed(t)
			e.Router = certifyingRouter{fakeRouter: fakeRouter{w}, refuse: refusal}
			spec := c.spec("v2")
			routeBefore := w.routes[spec.Name]
			_, err := e.Apply(context.Background(), spec, Intent{Redeploy: true, Generation: 2})
			var certErr *proxy.CertificateError
			if !errors.As(err, &certErr) || !strings.Contains(err.Error(), `no certificate for domain "new.test"`) {
				t.Fatalf("Apply = %v, want the certificate error", err)
			}
			if events, want := w.takeEvents(), []string{"step produce"}; !slices.Equal(events, want) {
				t.Fatalf("events %q: want %q", events, want)
			}
			if got := w.routes[spec.Name]; !slices.Equal(got.Upstreams, routeBefore.Upstreams) || got.Tasks != routeBefore.Tasks {
				t.Fatalf("the route moved: %+v, was %+v", got, routeBefore)
			}
		})
	}
}

// TestConvergeCertifiesBeforeARoute: a route lost behind Terraform's back
// (an empty restart of Caddy) comes back with its certificates first; and
// a new certificate of the workload's own is a route change, certified,
// that starts no instance.
func TestConvergeCertifiesBeforeARoute(t *testing.T) {
	c := pipelineCases[0]
	w, e := c.deployed(t)
	e.Router = certifyingRouter{fakeRouter: fakeRouter{w}}
	spec := c.spec("v1")
	delete(w.routes, spec.Name)
	if _, err := e.Apply(context.Background(), spec, Intent{}); err != nil {
		t.Fatal(err)
	}
	if events := w.takeEvents(); !slices.Equal(events, []string{"certify web [web.test]", "route web -> [web-1-1:80]"}) {
		t.Fatalf("events %q", events)
	}

	leaf := acctest.MustTestCA(t, "rollout test CA").MustIssue(t, acctest.LeafOptions{DNSNames: spec.Domains})
	spec.TLS = &proxy.TLS{CertificatePEM: leaf.CertPEM, KeyPEM: leaf.KeyPEM}
	if _, err := e.Apply(context.Background(), spec, Intent{}); err != nil {
		t.Fatal(err)
	}
	if events := w.takeEvents(); !slices.Equal(events, []string{"certify web [web.test] own " + leaf.CertPEM, "route web -> [web-1-1:80]"}) {
		t.Fatalf("events %q", events)
	}
	if got := w.routes["web"].TLS; got == nil || got.CertificatePEM != leaf.CertPEM {
		t.Fatalf("the route carries %v", got)
	}
	// Nothing drifted: no certify, no write.
	if _, err := e.Apply(context.Background(), spec, Intent{}); err != nil {
		t.Fatal(err)
	}
	if events := w.takeEvents(); len(events) != 0 {
		t.Fatalf("an apply with nothing to do: %q", events)
	}
}
