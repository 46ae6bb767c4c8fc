// Package caddy is the Caddy backend of proxy.Router: it keeps one route per
// workload in one HTTP server of a running Caddy, through Caddy's admin API.
//
// The provider shares that Caddy with whatever else the user runs in it, so
// the Router touches only its own server (apps.http.servers.<Server>) and,
// inside it, only the routes whose "@id" is "tinyforge-<workload>". It never
// POSTs /load and never writes above its server, except to create that server
// when it is missing.
//
// Terraform applies many workloads at once, from goroutines of one provider
// process and possibly from several processes, and every admin API write
// makes Caddy rebuild its whole config. Every write is therefore conditional:
// it carries the Etag of the read it was computed from (If-Match), Caddy
// compares it under the lock that applies the change, and a 412 means "someone
// else wrote first": read again and redo. That is optimistic concurrency
// control on Caddy's side, so it holds across processes with no lock of ours.
// Caddy 2.6.2 supports it (Etag arrives as an HTTP trailer there, as a header
// in later versions).
//
// The route changes pending at one moment in a Router are written together,
// as one conditional write of the server's whole route list (batch.go): the
// list read under the Etag, with only the provider's own routes changed, so
// a user's route inside the server stays as it was, and a concurrent change
// anywhere makes the write fail with 412 and be redone from a fresh read.
// Writes never address a route by /id/<id>: Caddy resolves an /id path to an
// index before it takes its config lock.
//
// Blue-green drains by in-flight requests through InFlight: a swapped-out
// upstream stays parked in the route (Route.Draining) until the deploy says
// it has drained, since Caddy forgets an upstream's count as soon as no
// loaded config holds it.
package caddy

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
)

// Defaults of the provider's proxy { caddy { ... } } block.
const (
	DefaultAdminURL = "http://127.0.0.1:2019"
	DefaultServer   = "tinyforge"
)

// DefaultListen is where the provider's server listens unless configured.
var DefaultListen = []string{":80"}

// IDPrefix starts the "@id" of every route this provider owns; the rest of
// the id is the workload name.
const IDPrefix = "tinyforge-"

// maxAttempts bounds the read-then-write rounds of one operation. Each lost
// round means another writer succeeded, so with N concurrent writers a round
// is lost at most N-1 times in a row; the bound only stops a runaway loop.
const maxAttempts = 100

// Config says which Caddy to drive and how the provider's server looks.
type Config struct {
	// AdminURL is Caddy's admin endpoint; default DefaultAdminURL.
	AdminURL string
	// Server is the key under apps.http.servers that the provider owns;
	// default DefaultServer.
	Server string
	// Listen are the server's listener addresses; default DefaultListen.
	Listen []string
	// AutomaticHTTPS leaves Caddy's automatic HTTPS (certificates, HTTP to
	// HTTPS redirects) on for the server; off by default.
	AutomaticHTTPS bool
	// HTTPClient sends the admin API requests; a caller may wrap its
	// transport, e.g. to count or trace calls. Default: a client with a 30 s
	// timeout.
	HTTPClient *http.Client
	// RetryTimeout bounds how long an operation keeps retrying while the
	// admin API is unreachable or a gateway in front of it answers 502, 503
	// or 504; default DefaultRetryTimeout.
	RetryTimeout time.Duration
	// Log receives progress (a retry, say), e.g. tflog.Warn; nil discards
	// it.
	Log func(ctx context.Context, msg string, fields map[string]any)
}

// DefaultRetryTimeout is how long an operation retries an admin API that
// does not answer: long enough for Caddy to restart.
const DefaultRetryTimeout = 30 * time.Second

// Router implements proxy.Router over Caddy's admin API. It holds no state
// about the config between calls, so any number of Routers, in any number
// of processes, may drive one Caddy at once.
type Router struct {
	admin          *adminClient
	serverPath     string // /config/apps/http/servers/<server>
	listen         []string
	automaticHTTPS bool
	retryTimeout   time.Duration
	log            func(ctx context.Context, msg string, fields map[string]any)
	batch          batcher
}

var (
	_ proxy.Router  = (*Router)(nil)
	_ proxy.Drainer = (*Router)(nil)
)

// serverName keeps the server key a single, unescaped admin API path segment.
var serverName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// New checks cfg, fills in its defaults and returns a Router. It does not
// contact Caddy: the first Upsert creates the server when it is missing.
func New(cfg Config) (*Router, error) {
	if cfg.AdminURL == "" {
		cfg.AdminURL = DefaultAdminURL
	}
	u, err := url.Parse(cfg.AdminURL)
	if err != nil {
		return nil, fmt.Errorf("caddy admin_url %q: %w", cfg.AdminURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("caddy admin_url %q: want http(s)://host:port", cfg.AdminURL)
	}
	if cfg.Server == "" {
		cfg.Server = DefaultServer
	}
	if !serverName.MatchString(cfg.Server) {
		return nil, fmt.Errorf("caddy server %q: only letters, digits, '.', '_' and '-' are allowed", cfg.Server)
	}
	if len(cfg.Listen) == 0 {
		cfg.Listen = DefaultListen
	}
	for i, l := range cfg.Listen {
		if strings.TrimSpace(l) == "" {
			return nil, fmt.Errorf("caddy listen[%d]: must not be empty", i)
		}
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.RetryTimeout < 0 {
		return nil, fmt.Errorf("caddy retry timeout must not be negative (got %s)", cfg.RetryTimeout)
	}
	r := &Router{
		admin:          &adminClient{base: strings.TrimSuffix(u.String(), "/"), client: client},
		serverPath:     "/config/apps/http/servers/" + cfg.Server,
		listen:         slices.Clone(cfg.Listen),
		automaticHTTPS: cfg.AutomaticHTTPS,
		retryTimeout:   cmp.Or(cfg.RetryTimeout, DefaultRetryTimeout),
		log:            cfg.Log,
	}
	if r.log == nil {
		r.log = func(context.Context, string, map[string]any) {}
	}
	return r, nil
}

// Calls returns how many admin API requests this Router has sent so far.
func (r *Router) Calls() Calls { return r.admin.calls.snapshot() }

// Upsert creates the workload's route, or replaces it in place: the route
// keeps its position and "@id", and no request ever meets a missing route.
// On the way it creates the server when missing and brings its listen and
// automatic_https back in line with Config. Upserts and Deletes pending at
// the same moment in this Router are written together (see batch.go).
func (r *Router) Upsert(ctx context.Context, route proxy.Route) error {
	want, err := routeConfigFor(route)
	if err != nil {
		return err
	}
	if err := r.submit(ctx, &change{route: route, want: &want}); err != nil {
		return fmt.Errorf("upsert caddy route %q: %w", want.ID, err)
	}
	return nil
}

// Routes returns the routes this provider owns, in the server's order, from
// one read of the server. A missing server has no routes.
func (r *Router) Routes(ctx context.Context) ([]proxy.Route, error) {
	var out []proxy.Route
	err := r.retry(ctx, func() (bool, error) {
		srv, err := r.readServer(ctx)
		if err != nil {
			return false, err
		}
		out, err = r.parseRoutes(srv)
		return true, err
	})
	if err != nil {
		return nil, fmt.Errorf("list caddy routes: %w", err)
	}
	return out, nil
}

// parseRoutes reads the routes this provider owns out of one read of the
// server.
func (r *Router) parseRoutes(srv *server) ([]proxy.Route, error) {
	var out []proxy.Route
	for i, raw := range srv.routes {
		name, ok := strings.CutPrefix(routeID(raw), IDPrefix)
		if !ok {
			continue // a user's route: not ours to read, whatever its shape
		}
		var rc routeConfig
		if err := json.Unmarshal(raw, &rc); err != nil {
			return nil, fmt.Errorf("decode %s/routes/%d: %w", r.serverPath, i, err)
		}
		out = append(out, rc.route(name))
	}
	return out, nil
}

// Delete removes the workload's route, if there is one.
func (r *Router) Delete(ctx context.Context, workload string) error {
	if workload == "" {
		return fmt.Errorf("delete caddy route: workload name must not be empty")
	}
	if err := r.submit(ctx, &change{route: proxy.Route{Workload: workload}}); err != nil {
		return fmt.Errorf("delete caddy route %q: %w", IDPrefix+workload, err)
	}
	return nil
}

// InFlight reads how many requests Caddy has in flight to each of
// upstreams, from its pool of upstreams (GET /reverse_proxy/upstreams). The
// pool holds the upstreams of the loaded config only; Route.Draining keeps
// a swapped-out upstream in it, so that the requests the previous config
// sent it stay counted.
func (r *Router) InFlight(ctx context.Context, upstreams []string) (map[string]int, error) {
	rep, err := r.admin.do(ctx, http.MethodGet, "/reverse_proxy/upstreams", nil, "")
	if err != nil {
		return nil, fmt.Errorf("read caddy's upstreams: %w", err)
	}
	var pool []struct {
		Address     string `json:"address"`
		NumRequests int    `json:"num_requests"`
	}
	if err := json.Unmarshal(rep.body, &pool); err != nil {
		return nil, fmt.Errorf("decode caddy's upstreams: %w", err)
	}
	out := make(map[string]int, len(upstreams))
	for _, up := range upstreams {
		out[up] = 0
	}
	for _, p := range pool {
		if _, ok := out[p.Address]; ok {
			out[p.Address] += p.NumRequests
		}
	}
	return out, nil
}

// retry runs one read-then-write round until it reports done. A round that
// lost a race (412) or made an intermediate change (done == false) runs
// again, up to maxAttempts; a round that met a transient failure (see
// isTransient) runs again until the retry timeout has passed since the
// first such failure in a row; any other error ends the loop.
func (r *Router) retry(ctx context.Context, round func() (done bool, err error)) error {
	var downSince time.Time
	for attempt, failures := 1, 0; ; attempt++ {
		done, err := round()
		var backoff time.Duration
		switch {
		case err == nil && done:
			return nil
		case err != nil && isTransient(err):
			failures++
			if downSince.IsZero() {
				downSince = time.Now()
			}
			down := time.Since(downSince)
			if down >= r.retryTimeout {
				return fmt.Errorf("%w (Caddy's admin API kept failing for %s, the retry timeout)", err, r.retryTimeout.Round(time.Second))
			}
			if failures == 3 || failures%20 == 0 {
				r.log(ctx, "Caddy's admin API does not answer; retrying", map[string]any{
					"error": err.Error(), "for": down.Round(time.Millisecond).String(), "retry_timeout": r.retryTimeout.String(),
				})
			}
			// Caddy's own admin restarts take milliseconds, a restart of
			// Caddy longer: back off from 10 ms up to 1 s.
			backoff = min(time.Duration(1<<min(failures, 7))*5*time.Millisecond, time.Second)
			attempt-- // an outage is bounded by time, not by rounds
		case err != nil && !isConflict(err):
			return err
		case attempt >= maxAttempts:
			return fmt.Errorf("gave up after %d attempts: the config kept changing underneath (last: %v)", attempt, err)
		default:
			downSince, failures = time.Time{}, 0
			if err != nil {
				// Lost the race: back off a little, at random, so that the
				// writers who lost together do not collide again together.
				backoff = time.Duration(min(attempt, 20)) * 5 * time.Millisecond
			}
		}
		if backoff > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(rand.N(backoff) + time.Millisecond):
			}
		}
	}
}

// server is one read of the provider's server, and the Etag that makes a
// write conditional on nothing having changed since.
type server struct {
	exists bool
	// etag is the version of the path that was read: the server itself, or
	// the whole config when a parent of the server is missing.
	etag           string
	keys           map[string]json.RawMessage
	listen         []string
	autoHTTPS      map[string]json.RawMessage // nil when absent or not an object
	routes         []json.RawMessage
	routesIsList   bool
	httpsDisabled  bool
	hasHTTPSObject bool
}

// route returns the index and the config of the route with that @id, or -1.
func (s *server) route(id string) (int, json.RawMessage) {
	for i, raw := range s.routes {
		if routeID(raw) == id {
			return i, raw
		}
	}
	return -1, nil
}

// routeID returns the "@id" of a route, or "" when it has none.
func routeID(raw json.RawMessage) string {
	var head struct {
		ID string `json:"@id"`
	}
	if json.Unmarshal(raw, &head) != nil {
		return ""
	}
	return head.ID
}

// readServer reads the provider's server in one GET. Caddy answers null when
// the servers map exists without it, and 400 ("invalid traversal path") when
// a parent (apps, http, servers) is missing. Rather than trust that wording,
// or that status across versions, a 400 or 404 is settled by reading the
// whole config, whose Etag then guards the creation of the server.
func (r *Router) readServer(ctx context.Context) (*server, error) {
	rep, err := r.admin.do(ctx, http.MethodGet, r.serverPath, nil, "")
	if isStatus(err, http.StatusBadRequest) || isStatus(err, http.StatusNotFound) {
		return r.readServerFromRoot(ctx, err)
	}
	if err != nil {
		return nil, err
	}
	if rep.etag == "" {
		return nil, fmt.Errorf("caddy admin API GET %s: no Etag in the answer; Caddy 2.6 or newer is required for safe concurrent changes", r.serverPath)
	}
	return r.parseServer(rep.body, rep.etag)
}

func (r *Router) readServerFromRoot(ctx context.Context, serverErr error) (*server, error) {
	rep, err := r.admin.do(ctx, http.MethodGet, "/config/", nil, "")
	if err != nil {
		return nil, err
	}
	if rep.etag == "" {
		return nil, fmt.Errorf("caddy admin API GET /config/: no Etag in the answer; Caddy 2.6 or newer is required for safe concurrent changes")
	}
	var root struct {
		Apps struct {
			HTTP struct {
				Servers map[string]json.RawMessage `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	// A config whose parents are not objects is not one the provider can
	// add a server to; report the original answer.
	if err := json.Unmarshal(rep.body, &root); err != nil {
		return nil, serverErr
	}
	raw, ok := root.Apps.HTTP.Servers[strings.TrimPrefix(r.serverPath, "/config/apps/http/servers/")]
	if !ok {
		return &server{etag: rep.etag}, nil
	}
	// Another writer created it in between: use it, guarded by the Etag of
	// the whole config.
	return r.parseServer(raw, rep.etag)
}

func (r *Router) parseServer(body []byte, etag string) (*server, error) {
	srv := &server{etag: etag}
	if err := json.Unmarshal(body, &srv.keys); err != nil {
		return nil, fmt.Errorf("decode %s: %w", r.serverPath, err)
	}
	if srv.keys == nil { // the JSON was null
		return srv, nil
	}
	srv.exists = true
	if raw, ok := srv.keys["listen"]; ok {
		if err := json.Unmarshal(raw, &srv.listen); err != nil {
			return nil, fmt.Errorf("decode %s/listen: %w", r.serverPath, err)
		}
	}
	if raw, ok := srv.keys["automatic_https"]; ok && json.Unmarshal(raw, &srv.autoHTTPS) == nil && srv.autoHTTPS != nil {
		srv.hasHTTPSObject = true
		if d, ok := srv.autoHTTPS["disable"]; ok {
			if err := json.Unmarshal(d, &srv.httpsDisabled); err != nil {
				return nil, fmt.Errorf("decode %s/automatic_https/disable: %w", r.serverPath, err)
			}
		}
	}
	if raw, ok := srv.keys["routes"]; ok {
		if err := json.Unmarshal(raw, &srv.routes); err != nil {
			return nil, fmt.Errorf("decode %s/routes: %w", r.serverPath, err)
		}
		srv.routesIsList = srv.routes != nil
	}
	return srv, nil
}

// createServer creates the provider's server with its first routes, in one
// write guarded by the Etag of the read that found it missing: of two
// processes that both found it missing, one wins and the other gets 412,
// re-reads, and appends its route to the winner's server.
func (r *Router) createServer(ctx context.Context, etag string, routes []json.RawMessage) error {
	srv := map[string]any{
		"listen": r.listen,
		"routes": routes,
	}
	if !r.automaticHTTPS {
		srv["automatic_https"] = map[string]bool{"disable": true}
	}
	// PUT creates the missing parents (apps, http, servers) on the way and
	// leaves every sibling key alone.
	_, err := r.admin.do(ctx, http.MethodPut, r.serverPath, srv, etag)
	return err
}

// fixSettings makes one change that brings the server's listen or
// automatic_https in line with Config, and reports whether it made one.
// Only those keys are written; the rest of the server is left as it is.
func (r *Router) fixSettings(ctx context.Context, srv *server) (bool, error) {
	if !slices.Equal(srv.listen, r.listen) {
		return true, r.setKey(ctx, srv, "listen", r.listen)
	}
	wantDisabled := !r.automaticHTTPS
	if srv.httpsDisabled == wantDisabled {
		return false, nil
	}
	if srv.hasHTTPSObject {
		method := http.MethodPut
		if _, ok := srv.autoHTTPS["disable"]; ok {
			method = http.MethodPatch
		}
		_, err := r.admin.do(ctx, method, r.serverPath+"/automatic_https/disable", wantDisabled, srv.etag)
		return true, err
	}
	return true, r.setKey(ctx, srv, "automatic_https", map[string]bool{"disable": wantDisabled})
}

// setKey writes one key of the server: PATCH replaces an existing key, PUT
// creates a missing one (Caddy rejects the other combinations).
func (r *Router) setKey(ctx context.Context, srv *server, key string, value any) error {
	method := http.MethodPut
	if _, ok := srv.keys[key]; ok {
		method = http.MethodPatch
	}
	_, err := r.admin.do(ctx, method, r.serverPath+"/"+key, value, srv.etag)
	return err
}

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
