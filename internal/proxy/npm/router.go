// Package npm is the Nginx Proxy Manager (NPM) backend of proxy.Router: it
// drives NPM's REST API (token auth, proxy hosts) so that each workload has
// one proxy host, created by this provider and marked as its own, whose
// forward target is the workload's live container. The rollout pipelines see
// only proxy.Router; the provider builds a Router from the user's
// `proxy { npm { ... } }` block.
//
// A blue-green swap is a partial PUT of the forward target on the same host:
// NPM has no create-before-delete (the domain would be "already in use") and a
// delete then create serves NPM's default page for ~0.3 s. NPM's traps are
// handled here: an expired token answers 400, a 201 create does not say
// whether nginx took the config (a GET after it does), and a write answering
// 500 may have been stored, so it is looked up before any retry.
package npm

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
)

// markKey is the key in a proxy host's meta that marks it as created by this
// provider, valued with the workload name. NPM's schema lets a create carry
// any meta object, and NPM keeps it across writes: it merges nginx_online and
// nginx_err into the stored meta rather than replacing it, and its UI sends
// meta back unchanged when a user edits the host.
const markKey = "tinyforge_workload"

// Defaults of Config.
const (
	DefaultSettleDelay  = 500 * time.Millisecond
	DefaultProbeTimeout = 5 * time.Second
)

// Retry policy for answers that may hide a stored change (5xx, no answer),
// the change looked up before each retry: a transient failure (no answer,
// 502, 503, 504: NPM restarting, or a gateway in front of it) is retried
// until the retry timeout has passed; another 5xx (NPM's own 500, e.g. with
// nginx down) three times in all.
const (
	maxAttempts         = 3
	retryBackoff        = 250 * time.Millisecond
	maxRetryBackoff     = 2 * time.Second
	DefaultRetryTimeout = 30 * time.Second
)

// Config says how to reach NPM.
type Config struct {
	// URL is NPM's admin address, e.g. "http://127.0.0.1:81"; the API is
	// under URL + "/api" (a URL already ending in "/api" is taken as is).
	URL string
	// Email and Password are the credentials of an NPM user who may manage
	// proxy hosts. They never appear in errors or logs.
	Email    string
	Password string
	// HTTPURL is NPM's public HTTP address, e.g. "http://127.0.0.1:80". When
	// set, Upsert returns only once a request through NPM for the route's
	// first domain reaches an upstream; when empty, it waits SettleDelay.
	HTTPURL string
	// SettleDelay is how long a change takes to go live after NPM answers
	// (measured: 0.10-0.15 s, the nginx reload); default DefaultSettleDelay.
	SettleDelay time.Duration
	// ProbeTimeout bounds the probe through HTTPURL; default
	// DefaultProbeTimeout.
	ProbeTimeout time.Duration
	// Dial, when set, opens the probe's connections to HTTPURL: for a
	// Docker host reached over SSH, NPM beside the engine is reached
	// through that connection. Nil dials directly.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// HTTPClient sends the API requests; default: a client with a 30 s
	// timeout.
	HTTPClient *http.Client
	// RetryTimeout bounds how long a call is retried while NPM does not
	// answer, or answers 502, 503 or 504; default DefaultRetryTimeout.
	RetryTimeout time.Duration
	// Log receives progress, e.g. tflog.Info; nil discards it. Its fields
	// never carry credentials or tokens.
	Log func(ctx context.Context, msg string, fields map[string]any)
}

// Router implements proxy.Router on NPM proxy hosts. It is safe for
// concurrent use; all goroutines share one token.
type Router struct {
	api          *apiClient
	retryTimeout time.Duration
	httpURL      string
	settle       time.Duration
	probeTimeout time.Duration
	probeClient  *http.Client
	log          func(ctx context.Context, msg string, fields map[string]any)
}

var (
	_ proxy.Router       = (*Router)(nil)
	_ proxy.SingleTarget = (*Router)(nil)
)

// SingleTarget implements proxy.SingleTarget: NPM forwards a proxy host to
// one target.
func (r *Router) SingleTarget() {}

// New checks cfg and returns a Router. It does not contact NPM: the first
// call logs in.
func New(cfg Config) (*Router, error) {
	base, err := baseURL("url", cfg.URL)
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(base, "/api") {
		base += "/api"
	}
	if cfg.Email == "" {
		return nil, errors.New("npm: email must not be empty")
	}
	if cfg.Password == "" {
		return nil, errors.New("npm: password must not be empty")
	}
	var httpURL string
	if cfg.HTTPURL != "" {
		if httpURL, err = baseURL("http_url", cfg.HTTPURL); err != nil {
			return nil, err
		}
	}
	if cfg.SettleDelay < 0 || cfg.ProbeTimeout < 0 || cfg.RetryTimeout < 0 {
		return nil, fmt.Errorf("npm: settle delay, probe timeout and retry timeout must not be negative (got %s, %s, %s)",
			cfg.SettleDelay, cfg.ProbeTimeout, cfg.RetryTimeout)
	}
	r := &Router{
		retryTimeout: cmp.Or(cfg.RetryTimeout, DefaultRetryTimeout),
		httpURL:      httpURL,
		settle:       cfg.SettleDelay,
		probeTimeout: cfg.ProbeTimeout,
		log:          cfg.Log,
		probeClient: &http.Client{
			Timeout: 2 * time.Second,
			// A redirect is an answer from the upstream: enough to know the
			// route is live.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			// A new connection per probe: after a reload nginx serves new
			// connections with the new config, while a kept-alive one may
			// still be served by an old worker.
			Transport: &http.Transport{DisableKeepAlives: true, DialContext: cfg.Dial},
		},
	}
	if r.settle == 0 {
		r.settle = DefaultSettleDelay
	}
	if r.probeTimeout == 0 {
		r.probeTimeout = DefaultProbeTimeout
	}
	if r.log == nil {
		r.log = func(context.Context, string, map[string]any) {}
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	r.api = newAPIClient(base, hc, cfg.Email, cfg.Password)
	return r, nil
}

// baseURL checks an http(s) address and returns it without a trailing "/".
func baseURL(field, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("npm: %s must be an http or https URL such as http://127.0.0.1:81 (got %q)", field, raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// Upsert creates the workload's proxy host, or updates it in place with only
// the fields that changed. It returns nil once nginx accepted the config and
// the change is live (probed through HTTPURL, or SettleDelay waited). On
// failure it puts back what was there: the previous forward target of an
// existing host, or no host for a create.
func (r *Router) Upsert(ctx context.Context, route proxy.Route) error {
	target, err := checkRoute(route)
	if err != nil {
		return err
	}
	hosts, err := r.list(ctx)
	if err != nil {
		return fmt.Errorf("upsert route of workload %q: %w", route.Workload, err)
	}
	own, err := ownedHost(hosts, route.Workload)
	if err != nil {
		return err
	}
	if err := checkDomains(hosts, route); err != nil {
		return err
	}
	if own == nil {
		return r.create(ctx, route, target)
	}
	return r.update(ctx, route, *own, target)
}

// Routes returns the route of every proxy host this provider created, from
// one list call. Domains are in NPM's order: NPM sorts them when it stores a
// host.
func (r *Router) Routes(ctx context.Context) ([]proxy.Route, error) {
	hosts, err := r.list(ctx)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	var routes []proxy.Route
	for _, h := range hosts {
		if h.Meta.Workload == "" {
			continue
		}
		routes = append(routes, proxy.Route{
			Workload:  h.Meta.Workload,
			Domains:   slices.Clone(h.DomainNames),
			Upstreams: []string{h.upstream().String()},
		})
	}
	sort.Slice(routes, func(i, j int) bool { return routes[i].Workload < routes[j].Workload })
	return routes, nil
}

// Delete removes the workload's proxy host; a host already gone is not an
// error.
func (r *Router) Delete(ctx context.Context, workload string) error {
	hosts, err := r.list(ctx)
	if err != nil {
		return fmt.Errorf("delete route of workload %q: %w", workload, err)
	}
	for _, h := range hosts {
		if h.Meta.Workload != workload {
			continue
		}
		if err := r.deleteHost(ctx, h.ID); err != nil {
			return fmt.Errorf("delete route of workload %q: %w", workload, err)
		}
		r.log(ctx, "NPM proxy host deleted", map[string]any{"workload": workload, "proxy_host": h.ID})
	}
	return nil
}

// create makes the workload's proxy host and waits for it to serve. On
// failure the host is deleted again: NPM serves nothing for a config nginx
// refused, and a failed Upsert must not leave a route that Routes would
// report.
func (r *Router) create(ctx context.Context, route proxy.Route, target upstream) error {
	id, err := r.createHost(ctx, route, target)
	if err == nil {
		err = r.requireOnline(ctx, id)
	}
	if err == nil {
		r.log(ctx, "NPM proxy host created", map[string]any{"workload": route.Workload, "proxy_host": id, "upstream": target.String()})
		err = r.awaitTraffic(ctx, route, false)
	}
	if err == nil {
		return nil
	}
	err = fmt.Errorf("create route of workload %q to %s: %w", route.Workload, target, err)
	if id == 0 {
		return err
	}
	undo, cancel := cleanupContext(ctx)
	defer cancel()
	if derr := r.deleteHost(undo, id); derr != nil {
		return fmt.Errorf("%w; deleting the half-made proxy host %d failed too (the next apply updates it in place): %v", err, id, derr)
	}
	return fmt.Errorf("%w; the half-made proxy host %d was deleted", err, id)
}

// createHost POSTs the host. After an answer that may hide a stored host
// (5xx, none) it looks the host up before retrying, since NPM refuses a
// second create of the same domain. It returns the host id whenever a host
// exists, also with an error.
func (r *Router) createHost(ctx context.Context, route proxy.Route, target upstream) (int, error) {
	body := createBody{
		DomainNames:   route.Domains,
		ForwardScheme: "http",
		ForwardHost:   target.host,
		ForwardPort:   target.port,
		Meta:          map[string]string{markKey: route.Workload},
	}
	again := r.retrier()
	for {
		var h proxyHost
		err := r.api.call(ctx, http.MethodPost, "/nginx/proxy-hosts", body, &h)
		if err == nil {
			return h.ID, nil
		}
		if !mayBeStored(ctx, err) {
			return 0, err
		}
		if hosts, lerr := r.list(ctx); lerr == nil {
			if own, _ := ownedHost(hosts, route.Workload); own != nil {
				// Stored, but NPM failed before or while configuring nginx:
				// an update of the same target makes it generate the config.
				p := hostPatch{ForwardHost: target.host, ForwardPort: target.port}
				return own.ID, r.putHost(ctx, own.ID, p)
			}
		}
		if !again.next(ctx, err) {
			return 0, again.explain(err)
		}
	}
}

// update changes the owned host in place with a partial PUT of the fields
// that differ. On failure it puts the previous values back, so that traffic
// stays on the container the engine still considers live.
func (r *Router) update(ctx context.Context, route proxy.Route, own proxyHost, target upstream) error {
	var p hostPatch
	if own.ForwardHost != target.host {
		p.ForwardHost = target.host
	}
	if own.ForwardPort != target.port {
		p.ForwardPort = target.port
	}
	if own.ForwardScheme != "http" {
		p.ForwardScheme = "http"
	}
	if !sameDomains(own.DomainNames, route.Domains) {
		p.DomainNames = route.Domains
	}
	if p.empty() && bool(own.Enabled) {
		if own.Meta.online() {
			return nil
		}
		// Unchanged but not serving (nginx refused it earlier, or a write
		// answered 500): the same target again makes NPM regenerate it.
		p.ForwardHost, p.ForwardPort = target.host, target.port
	}

	err := func() error {
		if !p.empty() {
			if err := r.putHost(ctx, own.ID, p); err != nil {
				return err
			}
		}
		if !own.Enabled {
			// NPM does not configure nginx for a disabled host on PUT.
			if err := r.enableHost(ctx, own.ID); err != nil {
				return err
			}
		}
		if err := r.requireOnline(ctx, own.ID); err != nil {
			return err
		}
		r.log(ctx, "NPM proxy host updated", map[string]any{"workload": route.Workload, "proxy_host": own.ID, "upstream": target.String()})
		return r.awaitTraffic(ctx, route, true)
	}()
	if err == nil {
		return nil
	}
	err = fmt.Errorf("update route of workload %q to %s (NPM proxy host %d): %w", route.Workload, target, own.ID, err)
	return r.restore(ctx, own, p, err)
}

// restore puts back the fields p changed on own, after cause made the
// update fail.
func (r *Router) restore(ctx context.Context, own proxyHost, p hostPatch, cause error) error {
	if p.empty() {
		return cause
	}
	var back hostPatch
	if p.ForwardHost != "" {
		back.ForwardHost = own.ForwardHost
	}
	if p.ForwardPort != 0 {
		back.ForwardPort = own.ForwardPort
	}
	if p.ForwardScheme != "" {
		back.ForwardScheme = own.ForwardScheme
	}
	if p.DomainNames != nil {
		back.DomainNames = own.DomainNames
	}
	undo, cancel := cleanupContext(ctx)
	defer cancel()
	err := r.putHost(undo, own.ID, back)
	if err == nil {
		err = r.requireOnline(undo, own.ID)
	}
	if err != nil {
		return fmt.Errorf("%w; putting the previous upstream %s back failed too: %v", cause, own.upstream(), err)
	}
	r.log(ctx, "NPM proxy host restored", map[string]any{"proxy_host": own.ID, "upstream": own.upstream().String()})
	return fmt.Errorf("%w; the previous upstream %s is back in place", cause, own.upstream())
}

// requireOnline reads the host back and fails unless nginx accepted its
// config: NPM's answer to a write does not always say (a 201 has no
// nginx_online), a GET does.
func (r *Router) requireOnline(ctx context.Context, id int) error {
	var h proxyHost
	if err := r.read(ctx, fmt.Sprintf("/nginx/proxy-hosts/%d", id), &h); err != nil {
		return err
	}
	if h.Meta.online() {
		return nil
	}
	if h.Meta.NginxErr != "" {
		return fmt.Errorf("NPM's nginx refused the config of proxy host %d: %s", id, h.Meta.NginxErr)
	}
	return fmt.Errorf("NPM did not confirm that nginx took the config of proxy host %d (meta.nginx_online is not true)", id)
}

// list reads every proxy host in one call.
func (r *Router) list(ctx context.Context) ([]proxyHost, error) {
	var hosts []proxyHost
	if err := r.read(ctx, "/nginx/proxy-hosts", &hosts); err != nil {
		return nil, err
	}
	return hosts, nil
}

// read GETs path, retrying answers that may be transient.
func (r *Router) read(ctx context.Context, path string, out any) error {
	again := r.retrier()
	for {
		err := r.api.call(ctx, http.MethodGet, path, nil, out)
		if err == nil || !again.next(ctx, err) {
			return again.explain(err)
		}
	}
}

// putHost sends a partial update. The same PUT again is harmless, so an
// answer that may hide a stored change is simply retried: NPM regenerates
// the nginx config on each successful PUT.
func (r *Router) putHost(ctx context.Context, id int, p hostPatch) error {
	path := fmt.Sprintf("/nginx/proxy-hosts/%d", id)
	again := r.retrier()
	for {
		err := r.api.call(ctx, http.MethodPut, path, p, nil)
		if err == nil || !again.next(ctx, err) {
			return again.explain(err)
		}
	}
}

// enableHost enables a disabled host, which makes NPM configure nginx.
func (r *Router) enableHost(ctx context.Context, id int) error {
	err := r.api.call(ctx, http.MethodPost, fmt.Sprintf("/nginx/proxy-hosts/%d/enable", id), nil, nil)
	if statusOf(err) == http.StatusBadRequest && strings.Contains(messageOf(err), "already enabled") {
		return nil
	}
	return err
}

// deleteHost deletes a host; a 404 means it is gone already. After an answer
// that may hide a stored delete, the host is looked up before retrying.
func (r *Router) deleteHost(ctx context.Context, id int) error {
	path := fmt.Sprintf("/nginx/proxy-hosts/%d", id)
	again := r.retrier()
	for {
		err := r.api.call(ctx, http.MethodDelete, path, nil, nil)
		if err == nil || statusOf(err) == http.StatusNotFound {
			return nil
		}
		if !mayBeStored(ctx, err) {
			return err
		}
		var h proxyHost
		if gerr := r.api.call(ctx, http.MethodGet, path, nil, &h); statusOf(gerr) == http.StatusNotFound {
			return nil
		}
		if !again.next(ctx, err) {
			return again.explain(err)
		}
	}
}

// retrier paces the retries of one call.
type retrier struct {
	r        *Router
	first    time.Time
	attempts int
	timedOut bool
}

func (r *Router) retrier() *retrier { return &retrier{r: r} }

// next reports whether the call that failed with err is tried again, after
// waiting its backoff: a transient failure until the retry timeout has
// passed since the first failure, another answer that may hide a stored
// change up to maxAttempts attempts in all.
func (t *retrier) next(ctx context.Context, err error) bool {
	if !mayBeStored(ctx, err) {
		return false
	}
	t.attempts++
	if t.first.IsZero() {
		t.first = time.Now()
	}
	if transient(err) {
		if time.Since(t.first) >= t.r.retryTimeout {
			t.timedOut = true
			return false
		}
	} else if t.attempts >= maxAttempts {
		return false
	}
	if t.attempts == 3 || t.attempts%10 == 0 {
		t.r.log(ctx, "NPM does not answer; retrying", map[string]any{
			"error": err.Error(), "for": time.Since(t.first).Round(time.Millisecond).String(), "retry_timeout": t.r.retryTimeout.String(),
		})
	}
	return sleep(ctx, min(retryBackoff*time.Duration(t.attempts), maxRetryBackoff)) == nil
}

// explain says, on an error the retries gave up on, that they did.
func (t *retrier) explain(err error) error {
	if err != nil && t.timedOut {
		return fmt.Errorf("%w (NPM kept failing for %s, the retry timeout)", err, t.r.retryTimeout.Round(time.Second))
	}
	return err
}

// transient reports a failure that passes by itself: no answer at all (a
// refused, reset or dropped connection) or a gateway's 502, 503 or 504.
func transient(err error) bool {
	switch statusOf(err) {
	case 0, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// mayBeStored reports an outcome that does not say whether NPM applied the
// request: a 5xx (NPM stores a change before nginx runs) or no answer at all.
func mayBeStored(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	st := statusOf(err)
	return st >= 500 || st == 0
}

// cleanupContext is for putting things back after a failure: it outlives a
// cancelled ctx (an interrupted apply must not leave traffic on a container
// the engine is about to remove) but is bounded.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

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

// sameDomains compares as sets: NPM stores domain names sorted.
func sameDomains(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	for i := range x {
		x[i] = strings.ToLower(x[i])
	}
	for i := range y {
		y[i] = strings.ToLower(y[i])
	}
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
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

// createBody is POST /api/nginx/proxy-hosts (paths/nginx/proxy-hosts/post.json).
type createBody struct {
	DomainNames   []string          `json:"domain_names"`
	ForwardScheme string            `json:"forward_scheme"`
	ForwardHost   string            `json:"forward_host"`
	ForwardPort   int               `json:"forward_port"`
	Meta          map[string]string `json:"meta"`
}

// hostPatch is a partial PUT /api/nginx/proxy-hosts/{id}
// (paths/nginx/proxy-hosts/hostID/put.json): only the fields set are sent.
// It never carries meta, which a PUT would replace along with the mark.
type hostPatch struct {
	DomainNames   []string `json:"domain_names,omitempty"`
	ForwardScheme string   `json:"forward_scheme,omitempty"`
	ForwardHost   string   `json:"forward_host,omitempty"`
	ForwardPort   int      `json:"forward_port,omitempty"`
}

func (p hostPatch) empty() bool {
	return p.DomainNames == nil && p.ForwardScheme == "" && p.ForwardHost == "" && p.ForwardPort == 0
}

// proxyHost is the part of NPM's proxy host object the router reads.
type proxyHost struct {
	ID            int      `json:"id"`
	DomainNames   []string `json:"domain_names"`
	ForwardScheme string   `json:"forward_scheme"`
	ForwardHost   string   `json:"forward_host"`
	ForwardPort   int      `json:"forward_port"`
	Enabled       flexBool `json:"enabled"`
	Meta          hostMeta `json:"meta"`
}

func (h proxyHost) upstream() upstream { return upstream{h.ForwardHost, h.ForwardPort} }

// hostMeta is a host's meta: the provider's mark and nginx's verdict.
type hostMeta struct {
	Workload    string
	NginxOnline bool
	NginxErr    string
}

func (m hostMeta) online() bool { return m.NginxOnline }

// UnmarshalJSON reads meta leniently: it is a free-form object that users
// and other tools write too, and a stray value there must not make every
// list call fail.
func (m *hostMeta) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if json.Unmarshal(b, &raw) != nil {
		return nil
	}
	json.Unmarshal(raw[markKey], &m.Workload)
	var online flexBool
	json.Unmarshal(raw["nginx_online"], &online)
	m.NginxOnline = bool(online)
	json.Unmarshal(raw["nginx_err"], &m.NginxErr)
	return nil
}

// flexBool reads true/false, and also 1/0, which older NPM versions return
// for boolean columns.
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	switch strings.Trim(string(b), `"`) {
	case "true", "1":
		*f = true
	default:
		*f = false
	}
	return nil
}
