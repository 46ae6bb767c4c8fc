package caddy

import (
	"encoding/json"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strconv"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
)

// routeConfig is the JSON of one route, as written and as read back.
type routeConfig struct {
	ID       string           `json:"@id"`
	Match    []hostMatcherSet `json:"match"`
	Handle   []handlerConfig  `json:"handle"`
	Terminal bool             `json:"terminal"`
}

type hostMatcherSet struct {
	Host []string `json:"host"`
}

type handlerConfig struct {
	Handler          string           `json:"handler"`
	Upstreams        []upstreamConfig `json:"upstreams,omitempty"`
	DynamicUpstreams *dnsUpstreams    `json:"dynamic_upstreams,omitempty"`
	LoadBalancing    *loadBalancing   `json:"load_balancing,omitempty"`
	HealthChecks     *healthChecks    `json:"health_checks,omitempty"`
}

type loadBalancing struct {
	SelectionPolicy map[string]string `json:"selection_policy,omitempty"`
	TryDuration     string            `json:"try_duration,omitempty"`
	TryInterval     string            `json:"try_interval,omitempty"`
}

// dnsUpstreams are Caddy's "a" dynamic upstreams: the A records of Name,
// looked up again every Refresh.
type dnsUpstreams struct {
	Source  string `json:"source"`
	Name    string `json:"name"`
	Port    string `json:"port"`
	Refresh string `json:"refresh"`
}

type healthChecks struct {
	Passive *passiveHealth `json:"passive,omitempty"`
}

type passiveHealth struct {
	FailDuration string `json:"fail_duration"`
}

// Task routes: the records are read again every second; a request whose
// upstream refuses it (a task that was just stopped, or whose node died
// and whose record lingers) is retried on another for up to 10 s, and an
// upstream that failed is left alone for 5 s.
const (
	tasksRefresh      = "1s"
	tasksTryDuration  = "10s"
	tasksTryInterval  = "100ms"
	tasksFailDuration = "5s"
)

type upstreamConfig struct {
	Dial string `json:"dial"`
}

// routeConfigFor checks r and renders its Caddy route.
func routeConfigFor(r proxy.Route) (routeConfig, error) {
	if r.Workload == "" {
		return routeConfig{}, fmt.Errorf("caddy route: workload name must not be empty")
	}
	id := IDPrefix + r.Workload
	// A route without a host matcher would match every host and take the
	// traffic of every other route behind it.
	if len(r.Domains) == 0 {
		return routeConfig{}, fmt.Errorf("caddy route %q: at least one domain is required", id)
	}
	for i, d := range r.Domains {
		if err := proxy.ValidateDomain(d); err != nil {
			return routeConfig{}, fmt.Errorf("caddy route %q: domains[%d]: %w", id, i, err)
		}
	}
	if r.Tasks != "" {
		if err := proxy.ValidateDomain(r.Tasks); err != nil || r.TasksPort < 1 || r.TasksPort > 65535 {
			return routeConfig{}, fmt.Errorf("caddy route %q: tasks %q port %d: want a DNS name and a port between 1 and 65535", id, r.Tasks, r.TasksPort)
		}
		return routeConfig{
			ID:    id,
			Match: []hostMatcherSet{{Host: slices.Clone(r.Domains)}},
			Handle: []handlerConfig{{
				Handler:          "reverse_proxy",
				DynamicUpstreams: &dnsUpstreams{Source: "a", Name: r.Tasks, Port: strconv.Itoa(r.TasksPort), Refresh: tasksRefresh},
				LoadBalancing: &loadBalancing{SelectionPolicy: map[string]string{"policy": "round_robin"},
					TryDuration: tasksTryDuration, TryInterval: tasksTryInterval},
				HealthChecks: &healthChecks{Passive: &passiveHealth{FailDuration: tasksFailDuration}},
			}},
			Terminal: true,
		}, nil
	}
	if len(r.Upstreams) == 0 {
		return routeConfig{}, fmt.Errorf("caddy route %q: at least one upstream is required", id)
	}
	h, err := reverseProxy(id, r.Upstreams)
	if err != nil {
		return routeConfig{}, err
	}
	if len(h.Upstreams) > 1 {
		// Replicas share the traffic in turn.
		h.LoadBalancing = &loadBalancing{SelectionPolicy: map[string]string{"policy": "round_robin"}}
	}
	handle := []handlerConfig{h}
	if len(r.Draining) > 0 {
		// A second reverse_proxy is never reached (the first ends the
		// chain), but it keeps the draining upstreams in Caddy's upstream
		// pool: Caddy drops an upstream that no loaded config holds from
		// the pool at once, and with it the count of the requests the
		// previous config still has in flight to it.
		park, err := reverseProxy(id, r.Draining)
		if err != nil {
			return routeConfig{}, err
		}
		handle = append(handle, park)
	}
	return routeConfig{
		ID:       id,
		Match:    []hostMatcherSet{{Host: slices.Clone(r.Domains)}},
		Handle:   handle,
		Terminal: true,
	}, nil
}

// reverseProxy renders a reverse_proxy handler to upstreams, checked.
func reverseProxy(id string, upstreams []string) (handlerConfig, error) {
	h := handlerConfig{Handler: "reverse_proxy"}
	for _, up := range upstreams {
		host, port, err := net.SplitHostPort(up)
		if err != nil || host == "" {
			return h, fmt.Errorf("caddy route %q: upstream %q: want host:port", id, up)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return h, fmt.Errorf("caddy route %q: upstream %q: port must be between 1 and 65535", id, up)
		}
		h.Upstreams = append(h.Upstreams, upstreamConfig{Dial: up})
	}
	return h, nil
}

// route reads a route back: its domains from the host matchers, its
// upstreams from the first reverse_proxy handler, the draining ones from
// the second.
func (rc routeConfig) route(workload string) proxy.Route {
	out := proxy.Route{Workload: workload}
	for _, m := range rc.Match {
		out.Domains = append(out.Domains, m.Host...)
	}
	for _, h := range rc.Handle {
		if h.Handler == "reverse_proxy" && h.DynamicUpstreams != nil {
			out.Tasks = h.DynamicUpstreams.Name
			out.TasksPort, _ = strconv.Atoi(h.DynamicUpstreams.Port)
			break
		}
		if h.Handler != "reverse_proxy" || len(h.Upstreams) == 0 {
			continue
		}
		dst := &out.Upstreams
		if len(out.Upstreams) > 0 {
			dst = &out.Draining
		}
		for _, u := range h.Upstreams {
			*dst = append(*dst, u.Dial)
		}
		if dst == &out.Draining {
			break
		}
	}
	return out
}

// sameJSON reports whether the route read from Caddy already is want, so
// that a repeated Upsert writes nothing (every write reloads Caddy).
func sameJSON(have json.RawMessage, want routeConfig) bool {
	b, err := json.Marshal(want)
	if err != nil {
		return false
	}
	var h, w any
	if json.Unmarshal(have, &h) != nil || json.Unmarshal(b, &w) != nil {
		return false
	}
	return reflect.DeepEqual(h, w)
}
