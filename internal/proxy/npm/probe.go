package npm

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/retry"
)

// probeInterval is the pause between two probes through NPM.
const probeInterval = 50 * time.Millisecond

// awaitTraffic returns once a change NPM accepted is live. NPM answers before
// nginx reloads (the new upstream serves ~0.1 s later), and the engine reaps
// blue right after Upsert returns.
//
// Without HTTPURL it waits the settle delay. With it, it probes through NPM
// until the route's domain reaches an upstream. For a change to an existing
// host it first waits the settle delay too: blue answers just like green, so
// no probe can tell that the reload happened; the probe then proves that
// nginx reaches the new upstream.
func (r *Router) awaitTraffic(ctx context.Context, route proxy.Route, existing bool) error {
	if r.httpURL == "" || existing {
		if err := retry.Sleep(ctx, r.settle); err != nil {
			return err
		}
	}
	if r.httpURL == "" {
		return nil
	}
	return r.probe(ctx, route.Domains)
}

// probe asks NPM for the route's first domain until the answer is not what
// NPM answers for a host it has no route for (its default site: a
// congratulations page by default, but a setting can make it a 404, a
// redirect or a custom page, so the probe compares with a live sample rather
// than a known text) and not a gateway error (nginx failing to reach the
// upstream). Any other status, 404 included, is the upstream answering.
func (r *Router) probe(ctx context.Context, domains []string) error {
	pctx, cancel := context.WithTimeout(ctx, r.probeTimeout)
	defer cancel()
	host := probeHost(domains)
	unrouted := r.fetch(pctx, "tinyforge-unrouted-"+randomHex()+".invalid")
	var last probeAnswer
	for {
		a := r.fetch(pctx, host)
		if a.err == nil && !gatewayError(a.status) && !a.sameAs(unrouted) {
			return nil
		}
		if pctx.Err() == nil || last == (probeAnswer{}) {
			// Keep the last answer the deadline did not cut short: it is
			// the one that says what is wrong.
			last = a
		}
		if err := retry.Sleep(pctx, probeInterval); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("NPM at %s did not serve %s within %s: %s", r.httpURL, host, r.probeTimeout, last.describe(unrouted))
		}
	}
}

// probeAnswer is the fingerprint of one answer through NPM.
type probeAnswer struct {
	err    error
	status int
	digest string
}

func (a probeAnswer) sameAs(b probeAnswer) bool {
	return a.err == nil && b.err == nil && a.status == b.status && a.digest == b.digest
}

func (a probeAnswer) describe(unrouted probeAnswer) string {
	switch {
	case a.err != nil:
		return "the last probe failed: " + a.err.Error()
	case gatewayError(a.status):
		return fmt.Sprintf("it answers HTTP %d: nginx cannot reach the upstream", a.status)
	case a.sameAs(unrouted):
		return fmt.Sprintf("it still answers as for a host it has no route for (HTTP %d)", a.status)
	}
	return fmt.Sprintf("HTTP %d", a.status)
}

func (r *Router) fetch(ctx context.Context, host string) probeAnswer {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.httpURL+"/", nil)
	if err != nil {
		return probeAnswer{err: err}
	}
	req.Host = host
	resp, err := r.probeClient.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap()
		}
		return probeAnswer{err: err}
	}
	defer resp.Body.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, io.LimitReader(resp.Body, 64<<10)); err != nil {
		return probeAnswer{err: err}
	}
	return probeAnswer{status: resp.StatusCode, digest: hex.EncodeToString(sum.Sum(nil))}
}

func gatewayError(status int) bool {
	return status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
}

// probeHost is a hostname the route matches: its first domain, with a
// wildcard label filled in.
func probeHost(domains []string) string {
	for _, d := range domains {
		if !strings.HasPrefix(d, "*.") {
			return d
		}
	}
	return "tinyforge-probe" + strings.TrimPrefix(domains[0], "*")
}

func randomHex() string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
