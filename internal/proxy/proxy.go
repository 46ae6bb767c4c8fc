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
	"strings"
)

// Route sends the traffic for a workload's domains to one upstream.
type Route struct {
	// Workload is the workload name; it is the route's identity in the proxy
	// (Caddy: @id "tinyforge-<name>"; NPM: the owned proxy host).
	Workload string
	// Domains are the hostnames the route matches, in the order written.
	Domains []string
	// Upstream is the "host:port" the proxy forwards to.
	Upstream string
}

// Router upserts, reads and deletes the route of each workload.
//
// Implementations touch only what they own: their own server or hosts and
// routes, never a user's unrelated configuration.
type Router interface {
	// Upsert creates the workload's route, or replaces it in place when it
	// exists. It never deletes then creates, so no request meets a missing
	// route; when it returns nil the proxy has accepted the route and
	// forwards new requests to r.Upstream.
	Upsert(ctx context.Context, r Route) error
	// Routes returns every route this provider owns, in one read of the
	// proxy's configuration; Read shares it across all workloads of a plan.
	Routes(ctx context.Context) ([]Route, error)
	// Delete removes the workload's route. A route that is already gone is
	// not an error.
	Delete(ctx context.Context, workload string) error
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
