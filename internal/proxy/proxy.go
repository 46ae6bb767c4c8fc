// Package proxy is the reverse proxy in front of workloads, seen from the
// engine: one route per workload, from its domains to the upstream of its live
// container. The backends live in caddy/ (Caddy's admin API) and npm/ (Nginx
// Proxy Manager's REST API); the rollout pipelines use only Router, so a
// blue-green swap reads the same whichever proxy carries the traffic.
package proxy

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/tlscert"
)

// Route sends the traffic for a workload's domains to one upstream.
type Route struct {
	// Workload is the workload name; it is the route's identity in the proxy
	// (Caddy: @id "tinyforge-<name>"; NPM: the owned proxy host).
	Workload string
	// Domains are the hostnames the route matches, in the order written.
	Domains []string
	// Upstreams are the "host:port"s the proxy balances the traffic over:
	// the live instances of the workload, one per replica.
	Upstreams []string
	// Draining are upstreams the route no longer sends new requests to,
	// kept known to the proxy while the requests it already sent them
	// finish, so that a Drainer can count those. Routers that are not
	// Drainers ignore it.
	Draining []string
	// Tasks, when set, stands for the upstreams: a DNS name the proxy
	// resolves again and again (Swarm's tasks.<service>, one A record per
	// running task), each address at TasksPort. So the route follows a
	// service that Swarm reschedules, without an apply.
	Tasks     string
	TasksPort int
	// TLS, when set, is the custom certificate the route's domains are
	// served with over HTTPS. nil is the proxy's default: a certificate
	// from its issuer for each domain when it serves HTTPS (Caddy's
	// https block, NPM's Let's Encrypt), plain HTTP otherwise. Routes
	// reads it back without the key.
	TLS *TLS
}

// TLS is a custom certificate for a route's domains.
type TLS struct {
	// CertificatePEM is the leaf, then its chain.
	CertificatePEM string
	// KeyPEM is the leaf's private key: a secret, never logged nor put in
	// an error; empty when read back from a proxy.
	KeyPEM string
	// Fingerprint is the leaf's SHA-256 in hex, when read back from a
	// proxy that keeps no copy of the PEM the provider can read (NPM).
	Fingerprint string
}

// String never shows the key, so that a TLS printed by mistake leaks
// nothing.
func (t *TLS) String() string {
	if t == nil {
		return "<proxy's issuer>"
	}
	return fmt.Sprintf("<custom certificate, %d bytes of PEM>", len(t.CertificatePEM))
}

// GoString is String, for %#v.
func (t *TLS) GoString() string { return t.String() }

// SameCertificate reports whether two routes carry the same custom
// certificate (the same leaf; the chain and the key are not compared: a
// key belongs to one leaf), or both none.
func SameCertificate(a, b *TLS) bool {
	if a == nil || b == nil {
		return a == b
	}
	fa, fb := a.fingerprint(), b.fingerprint()
	if fa == "" || fb == "" {
		return a.CertificatePEM == b.CertificatePEM
	}
	return fa == fb
}

func (t *TLS) fingerprint() string {
	if t.Fingerprint != "" {
		return t.Fingerprint
	}
	return tlscert.Fingerprint(t.CertificatePEM)
}

// SameHosts reports whether two lists of a route's domains, or of its
// "host:port" upstreams, name the same set of hosts. It is the one
// comparison of what a route serves and forwards to: order does not count
// (a proxy may store domains sorted, Nginx Proxy Manager does), nor does
// case (DNS names are case-insensitive, RFC 4343), nor a name listed twice
// (it routes the same traffic as once). nil and empty are the same.
func SameHosts(a, b []string) bool {
	return slices.Equal(hostSet(a), hostSet(b))
}

// hostSet is names lower-cased, sorted, without repeats.
func hostSet(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.ToLower(n)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Router upserts, reads and deletes the route of each workload.
//
// Implementations touch only what they own: their own server or hosts and
// routes, never a user's unrelated configuration.
type Router interface {
	// Upsert creates the workload's route, or replaces it in place when it
	// exists. It never deletes then creates, so no request meets a missing
	// route; when it returns nil the proxy has accepted the route and
	// forwards new requests to r.Upstreams.
	Upsert(ctx context.Context, r Route) error
	// Routes returns every route this provider owns, in one read of the
	// proxy's configuration; Read shares it across all workloads of a plan.
	Routes(ctx context.Context) ([]Route, error)
	// Delete removes the workload's route. A route that is already gone is
	// not an error.
	Delete(ctx context.Context, workload string) error
}

// Certifier is implemented by routers whose proxy holds certificates apart
// from routes (Caddy's TLS app). The engine calls Certify before it points
// a route at new instances: a certificate the issuer refuses then fails
// the deploy while the route still points at the old ones, and the route
// write that swaps blue for green never touches a certificate.
type Certifier interface {
	// Certifies reports whether route gets certificates at all: the proxy
	// serves HTTPS, or the route brings its own certificate.
	Certifies(route Route) bool
	// Certify makes the proxy hold a certificate for each of route's
	// domains (route.TLS's, or one from its issuer), keeping those the
	// current route needs, and returns once each domain is served over
	// HTTPS with it. A domain the issuer refuses fails it with a
	// *CertificateError, and the proxy is put back as it was.
	Certify(ctx context.Context, route Route) error
}

// TLSChecker is implemented by routers with rules of their own for a
// route's certificates (an ACME CA validates a wildcard only by DNS-01; a
// custom certificate needs a proxy that serves HTTPS): the engine checks
// them at plan time and before any work.
type TLSChecker interface {
	CheckTLS(route Route) error
}

// CertificateError is a domain the proxy could not get or serve a
// certificate for.
type CertificateError struct {
	Domain string
	// Issuer names where the certificate was to come from, e.g. the ACME
	// directory's URL.
	Issuer string
	// Reason is the issuer's own words (an ACME problem), or what was
	// served instead.
	Reason string
}

func (e *CertificateError) Error() string {
	return fmt.Sprintf("no certificate for domain %q from %s: %s", e.Domain, e.Issuer, e.Reason)
}

// Drainer is implemented by routers whose proxy reports the requests it has
// in flight to each upstream (Caddy): a blue-green deploy then stops the old
// instances as soon as nothing is in flight to them, instead of waiting the
// whole drain timeout. Routers without it (Nginx Proxy Manager) get the
// timed drain.
type Drainer interface {
	// InFlight returns how many requests the proxy has in flight to each
	// of upstreams now. It is exact only for the upstreams of a route's
	// Upstreams or Draining: an upstream that no route holds may be
	// reported as 0 while a request the proxy sent before it dropped the
	// upstream still runs.
	InFlight(ctx context.Context, upstreams []string) (map[string]int, error)
}

// SingleTarget is implemented by routers that forward a route to one
// upstream only (Nginx Proxy Manager): a routed workload then runs one
// replica.
type SingleTarget interface {
	SingleTarget()
}

// hostname matches one DNS hostname: labels of letters, digits and hyphens,
// optionally with a leading "*." wildcard label.
var hostname = regexp.MustCompile(`^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)

// ValidateDomain reports whether d is a hostname a route can match. It is the
// one rule for plan time and deploy time.
func ValidateDomain(d string) error {
	if d == "" {
		return fmt.Errorf("domain must not be empty")
	}
	if len(d) > 253 || d != strings.ToLower(d) || !hostname.MatchString(d) {
		return fmt.Errorf("domain %q is not a valid lower-case hostname", d)
	}
	return nil
}

// Overlap reports whether two domains can match one host name, so that two
// routes carrying them would compete for its traffic. A wildcard "*.s"
// covers every name that ends in ".s", with one label before it or more:
// Caddy's "*" matches one label and nginx's (Nginx Proxy Manager's) any
// number, and the one rule refuses what either proxy would route
// ambiguously. So "*.example.test" overlaps "a.example.test",
// "a.b.example.test" and "*.b.example.test", but not "example.test".
// Domains are lower-case (ValidateDomain); case is ignored anyway.
func Overlap(a, b string) bool {
	a, b = strings.ToLower(a), strings.ToLower(b)
	if a == b {
		return true
	}
	sa, wa := strings.CutPrefix(a, "*.")
	sb, wb := strings.CutPrefix(b, "*.")
	switch {
	case wa && wb:
		return strings.HasSuffix(sa, "."+sb) || strings.HasSuffix(sb, "."+sa)
	case wa:
		return strings.HasSuffix(b, "."+sa)
	case wb:
		return strings.HasSuffix(a, "."+sb)
	}
	return false
}

// DomainTakenError refuses a route whose domain is routed to another
// workload already (or overlaps one that is, see Overlap): a domain has one
// owner, never shared nor taken over.
type DomainTakenError struct {
	// Domain of Workload, the route being written.
	Domain   string
	Workload string
	// Taken is the domain of Other's route that Domain overlaps.
	Taken string
	Other string
}

func (e *DomainTakenError) Error() string {
	if e.Domain == e.Taken {
		return fmt.Sprintf("domain %q of workload %q is already routed to workload %q: a domain has one owner; remove it from %q first, or choose another",
			e.Domain, e.Workload, e.Other, e.Other)
	}
	return fmt.Sprintf("domain %q of workload %q overlaps domain %q, already routed to workload %q (a wildcard covers every name under it): a domain has one owner; remove it from %q first, or choose another",
		e.Domain, e.Workload, e.Taken, e.Other, e.Other)
}

// CheckDomains refuses route when one of its domains overlaps a domain of
// another workload's route among routes. It is the one rule that the
// backends apply under their own concurrency control, and that the engine
// applies early, before a deploy does any work.
func CheckDomains(route Route, routes []Route) error {
	for _, other := range routes {
		if other.Workload == route.Workload {
			continue
		}
		for _, d := range route.Domains {
			for _, taken := range other.Domains {
				if Overlap(d, taken) {
					return &DomainTakenError{Domain: d, Workload: route.Workload, Taken: taken, Other: other.Workload}
				}
			}
		}
	}
	return nil
}
