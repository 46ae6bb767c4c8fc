// Package caddy is the Caddy backend of proxy.Router: it keeps one route per
// workload in one HTTP server of a running Caddy, through Caddy's admin API.
//
// The provider shares that Caddy with whatever else the user runs in it, so
// the Router touches only its own server (apps.http.servers.<Server>) and,
// inside it, only the routes whose "@id" is "tinyforge-<workload>". It never
// POSTs /load and never writes above its server, except to create that server
// when it is missing, and, with HTTPS, to keep its own entries in Caddy's
// TLS app and its own log (see below).
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
//
// With HTTPS (https.go) the server listens on an HTTP and an HTTPS
// address, and the provider owns, in Caddy's TLS app, per workload an
// automation policy naming the domains Caddy gets certificates for (with
// those names in certificates.automate) or the workload's own certificate
// in certificates.load_pem (tlsapp.go). Certify (certify.go) puts them
// there before a route points at new instances and waits until Caddy
// serves each domain with its certificate; Caddy's reasons for a refused
// certificate come from a log of its own that the provider reads
// (issuerlog.go). A swap writes the route only.
//
// caddy.go is the Router; server.go reads and writes the provider's server
// under its Etag; batch.go writes the pending changes together; route.go is
// a route's JSON; retry.go the rounds of one operation; admin.go the admin
// API client.
package caddy

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/retry"
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

// Config says which Caddy to drive and how the provider's server looks.
type Config struct {
	// AdminURL is Caddy's admin endpoint; default DefaultAdminURL.
	AdminURL string
	// Server is the key under apps.http.servers that the provider owns;
	// default DefaultServer.
	Server string
	// Listen are the server's listener addresses; default DefaultListen,
	// or DefaultHTTPSListen with HTTPS.
	Listen []string
	// HTTPS, when set, serves the routes over HTTPS too (see HTTPS); nil
	// serves plain HTTP. Caddy's automatic HTTPS stays off for the server:
	// the provider says which certificates Caddy holds.
	HTTPS *HTTPS
	// Dial opens the connections to Caddy's HTTPS listener that check a
	// certificate is served (for a Caddy beside an ssh:// Docker host,
	// through that connection); nil dials directly.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
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
	admin      *adminClient
	serverName string
	serverPath string // /config/apps/http/servers/<server>
	listen     []string
	retries    retry.Policy
	log        func(ctx context.Context, msg string, fields map[string]any)
	batch      batcher

	// With HTTPS: the settings, the ports of the HTTP and HTTPS listen
	// addresses, where the HTTPS listener is reached from here, and how.
	https               *HTTPS
	httpPort, httpsPort int
	probeAddr           string
	dial                func(ctx context.Context, network, addr string) (net.Conn, error)
	issuer              issuerLog
	account             acmeAccount
	httpPortMu          sync.Mutex
	httpPortOK          bool // Caddy's http_port was checked
}

var (
	_ proxy.Router     = (*Router)(nil)
	_ proxy.Drainer    = (*Router)(nil)
	_ proxy.Certifier  = (*Router)(nil)
	_ proxy.TLSChecker = (*Router)(nil)
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
		if cfg.HTTPS != nil {
			cfg.Listen = DefaultHTTPSListen
		}
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
		admin:      &adminClient{base: strings.TrimSuffix(u.String(), "/"), client: client},
		serverName: cfg.Server,
		serverPath: "/config/apps/http/servers/" + cfg.Server,
		listen:     slices.Clone(cfg.Listen),
		log:        cfg.Log,
		dial:       cfg.Dial,
	}
	if cfg.HTTPS != nil {
		h := *cfg.HTTPS
		if r.httpsPort, err = h.check(r.listen); err != nil {
			return nil, err
		}
		r.httpPort, _ = listenPort(r.listen[0])
		r.https = &h
		r.probeAddr = probeAddress(u.Hostname(), r.listen[1], r.httpsPort)
	}
	if r.log == nil {
		r.log = func(context.Context, string, map[string]any) {}
	}
	r.retries = r.retryPolicy(cmp.Or(cfg.RetryTimeout, DefaultRetryTimeout))
	return r, nil
}

// Calls returns how many admin API requests this Router has sent so far.
func (r *Router) Calls() Calls { return r.admin.calls.snapshot() }

// Upsert creates the workload's route, or replaces it in place: the route
// keeps its position and "@id", and no request ever meets a missing route.
// On the way it creates the server when missing and brings its listen and
// HTTPS settings back in line with Config. Upserts and Deletes pending at
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
	err := r.retry(ctx, func() error {
		srv, err := r.readServer(ctx)
		if err != nil {
			return err
		}
		if out, err = r.parseRoutes(srv); err != nil || r.https == nil {
			return err
		}
		app, err := r.readTLS(ctx)
		if err != nil {
			return err
		}
		certs := app.certificatesByWorkload()
		for i := range out {
			if pem, ok := certs[out[i].Workload]; ok {
				out[i].TLS = &proxy.TLS{CertificatePEM: pem}
			}
		}
		return nil
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
// sent it stay counted. A read that fails in passing (the admin server
// restarting after the swap's own load) is retried, as every read is.
func (r *Router) InFlight(ctx context.Context, upstreams []string) (map[string]int, error) {
	var rep reply
	err := r.retry(ctx, func() (err error) {
		rep, err = r.admin.do(ctx, http.MethodGet, "/reverse_proxy/upstreams", nil, "")
		return err
	})
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
