package npm

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
)

// checkRoute rejects a route NPM could not carry, naming the field.
func checkRoute(route proxy.Route) (upstream, error) {
	if route.Workload == "" {
		return upstream{}, errors.New("npm route: workload must not be empty")
	}
	if route.Tasks != "" {
		return upstream{}, fmt.Errorf("npm route of workload %q: Nginx Proxy Manager forwards to one fixed address and cannot follow a Swarm service's tasks (%s): use Caddy", route.Workload, route.Tasks)
	}
	if len(route.Domains) == 0 {
		return upstream{}, fmt.Errorf("npm route of workload %q: domains must not be empty (an NPM proxy host needs at least one)", route.Workload)
	}
	for _, d := range route.Domains {
		if err := proxy.ValidateDomain(d); err != nil {
			return upstream{}, fmt.Errorf("npm route of workload %q: %w", route.Workload, err)
		}
	}
	if len(route.Upstreams) != 1 {
		return upstream{}, fmt.Errorf("NPM route of workload %q: Nginx Proxy Manager forwards a host to one target (got %d upstreams %v)",
			route.Workload, len(route.Upstreams), route.Upstreams)
	}
	target, err := parseUpstream(route.Upstreams[0])
	if err != nil {
		return upstream{}, fmt.Errorf("npm route of workload %q: %w", route.Workload, err)
	}
	return target, nil
}

// ownedHost returns the host marked with workload, nil when none is. Two
// marked hosts (a host cloned in NPM's UI copies its meta) are an error
// rather than a guess.
func ownedHost(hosts []proxyHost, workload string) (*proxyHost, error) {
	var own []int
	for i, h := range hosts {
		if h.Meta.Workload == workload {
			own = append(own, i)
		}
	}
	switch len(own) {
	case 0:
		return nil, nil
	case 1:
		return &hosts[own[0]], nil
	}
	var ids []string
	for _, i := range own {
		ids = append(ids, strconv.Itoa(hosts[i].ID))
	}
	return nil, fmt.Errorf("workload %q is marked (meta.%s) on several NPM proxy hosts (%s); remove the mark from all but the one the provider created",
		workload, markKey, strings.Join(ids, ", "))
}

// checkDomains refuses a domain that another host carries, or that
// overlaps one of its domains (proxy.Overlap): never take over a host this
// provider did not create, nor share a domain with another workload.
func checkDomains(hosts []proxyHost, route proxy.Route) error {
	var others []proxy.Route
	for _, h := range hosts {
		if h.Meta.Workload != "" {
			others = append(others, proxy.Route{Workload: h.Meta.Workload, Domains: h.DomainNames})
		}
	}
	if err := proxy.CheckDomains(route, others); err != nil {
		return err
	}
	for _, d := range route.Domains {
		for _, h := range hosts {
			if h.Meta.Workload != "" {
				continue
			}
			if i := slices.IndexFunc(h.DomainNames, func(x string) bool { return proxy.Overlap(x, d) }); i >= 0 {
				return fmt.Errorf("domain %q of workload %q is on NPM proxy host %d (as %q), which this provider did not create; the provider never takes over such a host: remove the domain from it in NPM first",
					d, route.Workload, h.ID, h.DomainNames[i])
			}
		}
	}
	return nil
}

// upstream is a forward target.
type upstream struct {
	host string
	port int
}

func (u upstream) String() string { return net.JoinHostPort(u.host, strconv.Itoa(u.port)) }

func parseUpstream(s string) (upstream, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return upstream{}, fmt.Errorf("upstream must be host:port (got %q)", s)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return upstream{}, fmt.Errorf("upstream port must be between 1 and 65535 (got %q)", s)
	}
	if host == "" || len(host) > 255 {
		return upstream{}, fmt.Errorf("upstream host must be 1 to 255 characters (got %q)", s)
	}
	return upstream{host, p}, nil
}
