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
//
// With a custom certificate on the route, or LetsEncrypt, the route's host
// carries a certificate the provider made for it (certificates.go).
//
// router.go is the Router; hosts.go its proxy-host calls, each with its
// retry rule (retry.go); certificates.go the route's certificate;
// client.go the API client and its token; route.go the checks of a route;
// wire.go NPM's JSON; probe.go the wait for traffic.
package npm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/retry"
)

// Defaults of Config.
const (
	DefaultSettleDelay  = 500 * time.Millisecond
	DefaultProbeTimeout = 5 * time.Second
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
	// LetsEncrypt asks NPM for a Let's Encrypt certificate for each route
	// that brings none of its own (route.TLS), registered with
	// LetsEncryptEmail: NPM 2.15 registers with the email of the user the
	// provider logs in as, so it must be Email (empty means Email).
	LetsEncrypt      bool
	LetsEncryptEmail string
}

// Router implements proxy.Router on NPM proxy hosts. It is safe for
// concurrent use; all goroutines share one token.
type Router struct {
	api          *apiClient
	letsEncrypt  bool
	retries      retry.Policy
	httpURL      string
	settle       time.Duration
	probeTimeout time.Duration
	probeClient  *http.Client
	log          func(ctx context.Context, msg string, fields map[string]any)
}

var (
	_ proxy.Router       = (*Router)(nil)
	_ proxy.SingleTarget = (*Router)(nil)
	_ proxy.TLSChecker   = (*Router)(nil)
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
	if e := cfg.LetsEncryptEmail; cfg.LetsEncrypt && e != "" && !strings.EqualFold(e, cfg.Email) {
		return nil, fmt.Errorf("npm: https email %q: NPM registers Let's Encrypt accounts with the email of the NPM user the provider logs in as (%q), and takes no other; set that user's email to %q in NPM and log in with it, or leave https email unset",
			e, cfg.Email, e)
	}
	if cfg.SettleDelay < 0 || cfg.ProbeTimeout < 0 || cfg.RetryTimeout < 0 {
		return nil, fmt.Errorf("npm: settle delay, probe timeout and retry timeout must not be negative (got %s, %s, %s)",
			cfg.SettleDelay, cfg.ProbeTimeout, cfg.RetryTimeout)
	}
	r := &Router{
		letsEncrypt:  cfg.LetsEncrypt,
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
	r.retries = r.retryPolicy(cmp.Or(cfg.RetryTimeout, DefaultRetryTimeout))
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
	certs, err := r.certificatesOf(ctx, hosts)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	var routes []proxy.Route
	for _, h := range hosts {
		if h.Meta.Workload == "" {
			continue
		}
		route := proxy.Route{
			Workload:  h.Meta.Workload,
			Domains:   slices.Clone(h.DomainNames),
			Upstreams: []string{h.upstream().String()},
		}
		if c, ok := certs[int(h.CertificateID)]; ok {
			if fp := customFingerprint(h.Meta.Workload, c); fp != "" {
				route.TLS = &proxy.TLS{Fingerprint: fp}
			}
		}
		routes = append(routes, route)
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
		r.retire(ctx, workload, h.Meta.Certificate)
	}
	return nil
}

// create makes the workload's proxy host and waits for it to serve. On
// failure the host is deleted again: NPM serves nothing for a config nginx
// refused, and a failed Upsert must not leave a route that Routes would
// report.
func (r *Router) create(ctx context.Context, route proxy.Route, target upstream) error {
	cert, made, err := r.certificateFor(ctx, route, nil)
	if err != nil {
		return err
	}
	id, err := r.createHost(ctx, route, target, cert)
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
	undo, cancel := cleanupContext(ctx)
	defer cancel()
	if id != 0 {
		if derr := r.deleteHost(undo, id); derr != nil {
			return fmt.Errorf("%w; deleting the half-made proxy host %d failed too (the next apply updates it in place): %v", err, id, derr)
		}
		err = fmt.Errorf("%w; the half-made proxy host %d was deleted", err, id)
	}
	if made {
		if derr := r.deleteCertificate(undo, cert); derr != nil {
			return fmt.Errorf("%w; deleting its new certificate %d failed too: %v", err, cert, derr)
		}
	}
	return err
}

// update changes the owned host in place with a partial PUT of the fields
// that differ. On failure it puts the previous values back, so that traffic
// stays on the container the engine still considers live.
func (r *Router) update(ctx context.Context, route proxy.Route, own proxyHost, target upstream) error {
	cert, made, err := r.certificateFor(ctx, route, &own)
	if err != nil {
		return err
	}
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
	if !proxy.SameHosts(own.DomainNames, route.Domains) {
		p.DomainNames = route.Domains
	}
	if int(own.CertificateID) != cert {
		p.CertificateID = &cert
	}
	if secure := cert > 0; bool(own.SSLForced) != secure || bool(own.HTTP2Support) != secure {
		p.SSLForced, p.HTTP2Support = &secure, &secure
	}
	if own.Meta.Certificate != cert {
		p.Meta = own.Meta.with(route.Workload, cert)
	}
	if p.empty() && bool(own.Enabled) {
		if own.Meta.online() {
			return nil
		}
		// Unchanged but not serving (nginx refused it earlier, or a write
		// answered 500): the same target again makes NPM regenerate it.
		p.ForwardHost, p.ForwardPort = target.host, target.port
	}

	err = func() error {
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
		if old := own.Meta.Certificate; old != cert {
			r.retire(ctx, route.Workload, old)
		}
		return nil
	}
	err = fmt.Errorf("update route of workload %q to %s (NPM proxy host %d): %w", route.Workload, target, own.ID, err)
	err = r.restore(ctx, own, p, err)
	if made {
		undo, cancel := cleanupContext(ctx)
		defer cancel()
		if derr := r.deleteCertificate(undo, cert); derr != nil {
			return fmt.Errorf("%w; deleting its new certificate %d failed too: %v", err, cert, derr)
		}
	}
	return err
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
	if p.CertificateID != nil {
		id := int(own.CertificateID)
		back.CertificateID = &id
	}
	if p.SSLForced != nil {
		forced, h2 := bool(own.SSLForced), bool(own.HTTP2Support)
		back.SSLForced, back.HTTP2Support = &forced, &h2
	}
	if p.Meta != nil {
		back.Meta = own.Meta.with(own.Meta.Workload, own.Meta.Certificate)
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
