package npm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest/npmstandin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
)

const email = "admin@example.test"

// fixture is one NPM stand-in, a router on it, and what the router logged.
type fixture struct {
	npm      *npmstandin.Server
	router   *Router
	password string

	mu   sync.Mutex
	logs []string
}

// newFixture starts a stand-in and a router on it. The stand-in validates
// every body the router sends against NPM's schema; at the end of the test
// any body it refused (an ajv "data..." message) fails the test.
func newFixture(t *testing.T, edit func(*Config, *npmstandin.Server)) *fixture {
	t.Helper()
	f := &fixture{password: "pw-" + randomHex() + randomHex()}
	f.npm = npmstandin.New(t, email, f.password)
	cfg := Config{
		URL:         f.npm.URL,
		Email:       email,
		Password:    f.password,
		SettleDelay: time.Millisecond,
		Log: func(_ context.Context, msg string, fields map[string]any) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.logs = append(f.logs, fmt.Sprint(msg, fields))
		},
	}
	if edit != nil {
		edit(&cfg, f.npm)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.router = r
	t.Cleanup(func() {
		for _, req := range f.npm.Requests() {
			if strings.HasPrefix(req.Error, "data") {
				t.Errorf("NPM's schema refused a body the router sent: %s %s", req, req.Body)
			}
		}
	})
	return f
}

// writes lists the proxy-host writes NPM answered, as "METHOD path status".
func (f *fixture) writes() []string {
	var out []string
	for _, r := range f.npm.Requests() {
		if strings.HasPrefix(r.Path, "/api/nginx/proxy-hosts") && r.Method != http.MethodGet {
			out = append(out, fmt.Sprintf("%s %s %d", r.Method, r.Path, r.Status))
		}
	}
	return out
}

// app starts an HTTP server on 127.0.0.1 that answers name, and returns its
// "127.0.0.1:port".
func app(t *testing.T, name string) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, name)
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// deadUpstream returns a 127.0.0.1 address where nothing listens.
func deadUpstream(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// through sends GET / for host through the stand-in's nginx.
func through(t *testing.T, s *npmstandin.Server, host string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.HTTPURL+"/", nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func domain(prefix string) string {
	b := make([]byte, 3)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b) + ".example.test"
}

// TestUpsertCreatesThenSwapsInPlace is the blue-green contract: one POST for
// the first deploy, then partial PUTs of only what changed, never a DELETE
// (delete then create serves NPM's default page), and no write at all when
// nothing changed.
func TestUpsertCreatesThenSwapsInPlace(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	blue, green := app(t, "blue"), app(t, "green")
	d1, d2 := domain("web"), domain("www")

	route := proxy.Route{Workload: "web", Domains: []string{d2, d1}, Upstreams: []string{blue}}
	if err := f.router.Upsert(ctx, route); err != nil {
		t.Fatalf("create: %v", err)
	}
	route.Upstreams = []string{green}
	if err := f.router.Upsert(ctx, route); err != nil {
		t.Fatalf("swap: %v", err)
	}
	// Same domains in NPM's (sorted) order: nothing to change.
	if err := f.router.Upsert(ctx, proxy.Route{Workload: "web", Domains: []string{d1, d2}, Upstreams: []string{green}}); err != nil {
		t.Fatalf("unchanged upsert: %v", err)
	}

	hosts := f.npm.Hosts()
	if len(hosts) != 1 {
		t.Fatalf("%d proxy hosts, want 1", len(hosts))
	}
	id := hosts[0].ID
	want := []string{"POST /api/nginx/proxy-hosts 201", fmt.Sprintf("PUT /api/nginx/proxy-hosts/%d 200", id)}
	if got := f.writes(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("writes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, r := range f.npm.Requests() {
		if r.Method == http.MethodPut {
			_, port, _ := net.SplitHostPort(green)
			if r.Body != `{"forward_port":`+port+`}` {
				t.Errorf("swap PUT body %s, want only the changed forward_port %s", r.Body, port)
			}
		}
	}
	if h := hosts[0]; h.Meta[markKey] != "web" || fmt.Sprintf("%s:%d", h.ForwardHost, h.ForwardPort) != green {
		t.Errorf("host %+v, want marked for web and forwarding to green %s", h, green)
	}
	acctest.Eventually(t, 10*time.Second, 20*time.Millisecond, "NPM never served green for "+d1, func() bool {
		return through(t, f.npm, d1) == "green"
	})

	// A new domain set is a PUT of domain_names on the same host.
	d3 := domain("api")
	if err := f.router.Upsert(ctx, proxy.Route{Workload: "web", Domains: []string{d3}, Upstreams: []string{green}}); err != nil {
		t.Fatalf("change domains: %v", err)
	}
	if got := f.npm.Hosts(); len(got) != 1 || got[0].ID != id || strings.Join(got[0].DomainNames, ",") != d3 {
		t.Errorf("after a domain change: %+v, want host %d with only %s", got, id, d3)
	}
}

// TestUpsertEnablesDisabledHost checks that a route disabled in NPM's UI is
// enabled again: NPM does not configure nginx for a disabled host on PUT, so
// without the enable call the route would not serve.
func TestUpsertEnablesDisabledHost(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	blue := app(t, "blue")
	route := proxy.Route{Workload: "dis", Domains: []string{domain("dis")}, Upstreams: []string{blue}}
	if err := f.router.Upsert(ctx, route); err != nil {
		t.Fatal(err)
	}
	id := f.npm.Hosts()[0].ID
	if err := f.router.api.call(ctx, http.MethodPost, fmt.Sprintf("/nginx/proxy-hosts/%d/disable", id), nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.router.Upsert(ctx, route); err != nil {
		t.Fatal(err)
	}
	if h := f.npm.Hosts()[0]; !h.Enabled {
		t.Errorf("host %d still disabled after Upsert", id)
	}
	acctest.Eventually(t, 10*time.Second, 20*time.Millisecond, "the re-enabled host never served blue", func() bool {
		return through(t, f.npm, route.Domains[0]) == "blue"
	})
}

// TestTokenExpirySurvived checks that a token NPM calls expired (a 400, not
// a 401) costs one new login shared by every goroutine, and that a token
// near its expiry is refreshed rather than replaced by a login.
func TestTokenExpirySurvived(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	blue, green := app(t, "blue"), app(t, "green")
	d := domain("tok")

	// Ten goroutines on a fresh router: one login.
	parallel(t, 10, func() error { _, err := f.router.Routes(ctx); return err })
	if n := f.npm.Logins(); n != 1 {
		t.Fatalf("10 concurrent first calls made %d logins, want 1", n)
	}
	if err := f.router.Upsert(ctx, proxy.Route{Workload: "tok", Domains: []string{d}, Upstreams: []string{blue}}); err != nil {
		t.Fatal(err)
	}

	f.npm.ExpireTokens()
	if err := f.router.Upsert(ctx, proxy.Route{Workload: "tok", Domains: []string{d}, Upstreams: []string{green}}); err != nil {
		t.Fatalf("swap with an expired token: %v", err)
	}
	if n := f.npm.Logins(); n != 2 {
		t.Errorf("%d logins after the token expired mid-sequence, want 2", n)
	}
	expired := 0
	for _, r := range f.npm.Requests() {
		if r.Error == "Token has expired" {
			expired++
		}
	}
	if expired != 1 {
		t.Errorf("%d requests met the expired token, want 1 (then a login and the retry)", expired)
	}

	f.npm.ExpireTokens()
	parallel(t, 10, func() error { _, err := f.router.Routes(ctx); return err })
	if n := f.npm.Logins(); n != 3 {
		t.Errorf("10 concurrent calls on an expired token made %d new logins, want 1", n-2)
	}

	// Three quarters into its life the token is refreshed, not replaced.
	f.router.api.now = func() time.Time { return time.Now().Add(20 * time.Hour) }
	if _, err := f.router.Routes(ctx); err != nil {
		t.Fatal(err)
	}
	if f.npm.Refreshes() != 1 || f.npm.Logins() != 3 {
		t.Errorf("after 20 h of a 24 h token: %d refreshes, %d logins; want 1 and 3", f.npm.Refreshes(), f.npm.Logins())
	}
}

func parallel(t *testing.T, n int, fn func() error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- fn()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestNginxRefusal checks meta.nginx_online: a swap nginx refuses fails with
// nginx's error and puts the previous target back (the engine keeps blue);
// a create nginx refuses fails and leaves no host behind.
func TestNginxRefusal(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	blue, green := app(t, "blue"), app(t, "green")
	d := domain("ref")
	const nginxErr = `nginx: [emerg] host not found in upstream "green"`

	if err := f.router.Upsert(ctx, proxy.Route{Workload: "ref", Domains: []string{d}, Upstreams: []string{blue}}); err != nil {
		t.Fatal(err)
	}
	f.npm.RejectUpstream(green, nginxErr)
	err := f.router.Upsert(ctx, proxy.Route{Workload: "ref", Domains: []string{d}, Upstreams: []string{green}})
	if err == nil || !strings.Contains(err.Error(), nginxErr) || !strings.Contains(err.Error(), "previous upstream "+blue+" is back in place") {
		t.Fatalf("swap refused by nginx: got %v, want nginx_err and the previous upstream restored", err)
	}
	h := f.npm.Hosts()[0]
	if fmt.Sprintf("%s:%d", h.ForwardHost, h.ForwardPort) != blue || h.Meta["nginx_online"] != true {
		t.Errorf("after the refused swap the host is %+v, want blue %s and online", h, blue)
	}
	acctest.Eventually(t, 10*time.Second, 20*time.Millisecond, "NPM stopped serving blue after the refused swap", func() bool {
		return through(t, f.npm, d) == "blue"
	})

	bad := app(t, "bad")
	f.npm.RejectUpstream(bad, nginxErr)
	err = f.router.Upsert(ctx, proxy.Route{Workload: "other", Domains: []string{domain("oth")}, Upstreams: []string{bad}})
	if err == nil || !strings.Contains(err.Error(), nginxErr) {
		t.Fatalf("create refused by nginx: got %v", err)
	}
	if n := len(f.npm.Hosts()); n != 1 {
		t.Errorf("%d hosts after a refused create, want 1 (the refused one deleted)", n)
	}
}

// TestWriteAnswering500 checks NPM's nginx-down trap: a create answering 500
// was stored, so the router looks it up (no duplicate, no "already in use")
// and makes NPM configure it; when 500s persist the retries are bounded.
func TestWriteAnswering500(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	blue := app(t, "blue")
	d := domain("five")

	f.npm.FailWritesAfterStoring(1)
	if err := f.router.Upsert(ctx, proxy.Route{Workload: "five", Domains: []string{d}, Upstreams: []string{blue}}); err != nil {
		t.Fatalf("create after one 500: %v", err)
	}
	hosts := f.npm.Hosts()
	if len(hosts) != 1 || hosts[0].Meta["nginx_online"] != true {
		t.Fatalf("hosts %+v, want exactly one, online", hosts)
	}
	want := []string{"POST /api/nginx/proxy-hosts 500", fmt.Sprintf("PUT /api/nginx/proxy-hosts/%d 200", hosts[0].ID)}
	if got := f.writes(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("writes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// NPM keeps failing: the create gives up after bounded retries and
	// leaves no host.
	f.npm.FailWritesAfterStoring(100)
	err := f.router.Upsert(ctx, proxy.Route{Workload: "down", Domains: []string{domain("down")}, Upstreams: []string{blue}})
	if err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("create with NPM failing: got %v, want the 500", err)
	}
	if n := len(f.writes()); n > 2+maxAttempts+maxAttempts {
		t.Errorf("%d writes, want the retries bounded", n)
	}
	if n := len(f.npm.Hosts()); n != 1 {
		t.Errorf("%d hosts, want 1 (the stored half-made host deleted)", n)
	}
}

// TestForeignDomainRefused checks that a domain on a host the provider did
// not create (or on another workload's) is an error naming the domain, with
// no write.
func TestForeignDomainRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	blue := app(t, "blue")
	shop, mine := domain("shop"), domain("mine")
	foreign := f.npm.SeedHost([]string{shop}, "127.0.0.1", 9, nil)

	err := f.router.Upsert(ctx, proxy.Route{Workload: "shop", Domains: []string{mine, shop}, Upstreams: []string{blue}})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", shop)) || !strings.Contains(err.Error(), "did not create") {
		t.Fatalf("got %v, want an error naming %s as on a host the provider did not create", err, shop)
	}
	if err := f.router.Upsert(ctx, proxy.Route{Workload: "a", Domains: []string{mine}, Upstreams: []string{blue}}); err != nil {
		t.Fatal(err)
	}
	err = f.router.Upsert(ctx, proxy.Route{Workload: "b", Domains: []string{mine}, Upstreams: []string{blue}})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", mine)) || !strings.Contains(err.Error(), `workload "a"`) {
		t.Fatalf("got %v, want an error naming %s as workload a's", err, mine)
	}
	if got := f.writes(); len(got) != 1 {
		t.Errorf("writes %v, want only the create of workload a", got)
	}
	for _, h := range f.npm.Hosts() {
		if h.ID == foreign && (h.ForwardPort != 9 || len(h.Meta) != 2) {
			t.Errorf("the foreign host was touched: %+v", h)
		}
	}
}

// TestRoutesAndDelete checks that Routes reports only the provider's hosts
// in one list call, and that Delete removes one, tolerating a host already
// gone and a delete answering 500 after storing.
func TestRoutesAndDelete(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	blue := app(t, "blue")
	f.npm.SeedHost([]string{domain("user")}, "127.0.0.1", 9, map[string]any{"note": "the user's own"})
	da, db := domain("a"), domain("b")
	for name, d := range map[string]string{"a": da, "b": db} {
		if err := f.router.Upsert(ctx, proxy.Route{Workload: name, Domains: []string{d}, Upstreams: []string{blue}}); err != nil {
			t.Fatal(err)
		}
	}

	before := len(f.npm.Requests())
	routes, err := f.router.Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if calls := f.npm.Requests()[before:]; len(calls) != 1 || calls[0].Path != "/api/nginx/proxy-hosts" {
		t.Errorf("Routes made %v, want one list call", calls)
	}
	want := fmt.Sprint([]proxy.Route{{Workload: "a", Domains: []string{da}, Upstreams: []string{blue}}, {Workload: "b", Domains: []string{db}, Upstreams: []string{blue}}})
	if fmt.Sprint(routes) != want {
		t.Errorf("Routes = %v, want %v", routes, want)
	}

	if err := f.router.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	f.npm.FailWritesAfterStoring(1)
	if err := f.router.Delete(ctx, "b"); err != nil {
		t.Fatalf("delete answering 500 after storing: %v", err)
	}
	for _, w := range []string{"a", "b", "never-existed"} {
		if err := f.router.Delete(ctx, w); err != nil {
			t.Errorf("Delete(%q) of a missing route: %v", w, err)
		}
	}
	if routes, _ := f.router.Routes(ctx); len(routes) != 0 {
		t.Errorf("routes left: %v", routes)
	}
	if n := len(f.npm.Hosts()); n != 1 {
		t.Errorf("%d hosts left, want only the user's", n)
	}
}

// TestProbeWaitsForTraffic checks that with HTTPURL set Upsert returns only
// when NPM's nginx serves the new upstream; the control shows that without
// the wait the default page would still be served at that moment.
func TestProbeWaitsForTraffic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	blue, green := app(t, "blue"), app(t, "green")

	control := newFixture(t, nil)
	// Nothing waits for the control's reload: a long delay costs nothing
	// and keeps the GET before it on a loaded machine too.
	control.npm.SetReloadDelay(10 * time.Second)
	d := domain("ctl")
	if err := control.router.Upsert(ctx, proxy.Route{Workload: "ctl", Domains: []string{d}, Upstreams: []string{blue}}); err != nil {
		t.Fatal(err)
	}
	if got := through(t, control.npm, d); got != npmstandin.DefaultPage {
		t.Fatalf("control: right after a create without probe NPM answers %q, want its default page", got)
	}

	f := newFixture(t, func(c *Config, s *npmstandin.Server) {
		c.HTTPURL = s.HTTPURL
		c.SettleDelay = 700 * time.Millisecond
		c.ProbeTimeout = 3 * time.Second
	})
	f.npm.SetReloadDelay(300 * time.Millisecond)
	d = domain("probe")
	if err := f.router.Upsert(ctx, proxy.Route{Workload: "probe", Domains: []string{d}, Upstreams: []string{blue}}); err != nil {
		t.Fatal(err)
	}
	if got := through(t, f.npm, d); got != "blue" {
		t.Errorf("right after the create returned NPM answers %q, want blue", got)
	}
	if err := f.router.Upsert(ctx, proxy.Route{Workload: "probe", Domains: []string{d}, Upstreams: []string{green}}); err != nil {
		t.Fatal(err)
	}
	if got := through(t, f.npm, d); got != "green" {
		t.Errorf("right after the swap returned NPM answers %q, want green", got)
	}

	// nginx cannot reach the new upstream: the swap fails and blue stays.
	f.router.probeTimeout = 500 * time.Millisecond
	dead := deadUpstream(t)
	err := f.router.Upsert(ctx, proxy.Route{Workload: "probe", Domains: []string{d}, Upstreams: []string{dead}})
	if err == nil || !strings.Contains(err.Error(), "nginx cannot reach the upstream") || !strings.Contains(err.Error(), "previous upstream "+green+" is back in place") {
		t.Fatalf("swap to a dead upstream: got %v", err)
	}
	if h := f.npm.Hosts()[0]; fmt.Sprintf("%s:%d", h.ForwardHost, h.ForwardPort) != green {
		t.Errorf("after the failed swap the host forwards to %s:%d, want green %s", h.ForwardHost, h.ForwardPort, green)
	}
}

// TestSecretsNeverInErrors drives every failure path and greps each error
// and log line for the password and every token NPM issued.
func TestSecretsNeverInErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	blue := app(t, "blue")
	d := domain("sec")
	var errs []error
	collect := func(err error) {
		if err == nil {
			t.Errorf("expected an error")
			return
		}
		errs = append(errs, err)
	}

	if err := f.router.Upsert(ctx, proxy.Route{Workload: "sec", Domains: []string{d}, Upstreams: []string{blue}}); err != nil {
		t.Fatal(err)
	}
	f.npm.ExpireTokens()
	f.npm.RejectUpstream(blue, "nginx: [emerg] refused")
	collect(f.router.Upsert(ctx, proxy.Route{Workload: "sec2", Domains: []string{domain("s2")}, Upstreams: []string{blue}}))
	f.npm.FailWritesAfterStoring(100)
	collect(f.router.Upsert(ctx, proxy.Route{Workload: "sec3", Domains: []string{domain("s3")}, Upstreams: []string{"127.0.0.1:1"}}))
	f.npm.FailWritesAfterStoring(0)
	f.npm.SeedHost([]string{"foreign-" + d}, "127.0.0.1", 9, nil)
	collect(f.router.Upsert(ctx, proxy.Route{Workload: "sec", Domains: []string{"foreign-" + d}, Upstreams: []string{blue}}))

	wrong, err := New(Config{URL: f.npm.URL, Email: email, Password: f.password + "-wrong"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = wrong.Routes(ctx)
	collect(err)

	// A server that echoes the request (credentials included) into its
	// error message: the router must scrub it.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":{"code":400,"message":%q}}`, string(b)+" "+r.Header.Get("Authorization"))
	}))
	defer echo.Close()
	echoing, _ := New(Config{URL: echo.URL, Email: email, Password: f.password})
	_, err = echoing.Routes(ctx)
	collect(err)

	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	unreachable, _ := New(Config{URL: closed.URL, Email: email, Password: f.password, RetryTimeout: time.Second})
	_, err = unreachable.Routes(ctx)
	collect(err)

	secrets := append([]string{f.password}, f.npm.IssuedTokens()...)
	if len(secrets) < 3 {
		t.Fatalf("only %d secrets to look for; the scenario did not log in twice", len(secrets))
	}
	f.mu.Lock()
	texts := append([]string{}, f.logs...)
	f.mu.Unlock()
	for _, err := range errs {
		texts = append(texts, err.Error())
	}
	for _, text := range texts {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("a secret leaked into %q", text)
			}
		}
	}
}

// TestNewChecksConfig checks that a bad setting is refused up front with an
// error naming the field and the value.
func TestNewChecksConfig(t *testing.T) {
	t.Parallel()
	ok := Config{URL: "http://127.0.0.1:81", Email: email, Password: "secret-pw"}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"url without scheme", func(c *Config) { c.URL = "127.0.0.1:81" }, `url must be an http or https URL such as http://127.0.0.1:81 (got "127.0.0.1:81")`},
		{"url ftp", func(c *Config) { c.URL = "ftp://x" }, `(got "ftp://x")`},
		{"no email", func(c *Config) { c.Email = "" }, "email must not be empty"},
		{"no password", func(c *Config) { c.Password = "" }, "password must not be empty"},
		{"bad http url", func(c *Config) { c.HTTPURL = "nope" }, `http_url must be an http or https URL`},
	} {
		cfg := ok
		tc.edit(&cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
	for _, raw := range []string{"http://127.0.0.1:81", "http://127.0.0.1:81/", "http://127.0.0.1:81/api"} {
		cfg := ok
		cfg.URL = raw
		r, err := New(cfg)
		if err != nil || r.api.base != "http://127.0.0.1:81/api" {
			t.Errorf("URL %q: base %v, %v; want http://127.0.0.1:81/api", raw, r, err)
		}
	}
	for _, route := range []proxy.Route{
		{Workload: "w", Domains: nil, Upstreams: []string{"127.0.0.1:80"}},
		{Workload: "w", Domains: []string{"Bad_Domain"}, Upstreams: []string{"127.0.0.1:80"}},
		{Workload: "w", Domains: []string{"a.test"}, Upstreams: []string{"127.0.0.1"}},
		{Workload: "w", Domains: []string{"a.test"}, Upstreams: []string{"127.0.0.1:0"}},
		{Workload: "", Domains: []string{"a.test"}, Upstreams: []string{"127.0.0.1:80"}},
	} {
		if _, err := checkRoute(route); err == nil {
			t.Errorf("checkRoute(%+v) accepted a route NPM cannot carry", route)
		}
	}
}

// TestTransientFailuresAreRetried: NPM behind a gateway that answers 502,
// 503 and 504, drops a connection, or refuses connections while NPM
// restarts: reads and writes are retried and the swap lands; while NPM stays
// down, the swap fails after the retry timeout, naming it.
func TestTransientFailuresAreRetried(t *testing.T) {
	t.Parallel()
	var front *acctest.Front
	f := newFixture(t, func(c *Config, s *npmstandin.Server) {
		front = acctest.StartFront(t, s.URL)
		c.URL = front.URL
		c.RetryTimeout = 2 * time.Second
	})
	ctx := context.Background()
	blue, green := app(t, "blue"), app(t, "green")
	d := domain("flaky")
	if err := f.router.Upsert(ctx, proxy.Route{Workload: "flaky", Domains: []string{d}, Upstreams: []string{blue}}); err != nil {
		t.Fatal(err)
	}
	front.FailNext(acctest.Unavailable, acctest.BadGateway, acctest.Drop, acctest.GatewayTimeout)
	if routes, err := f.router.Routes(ctx); err != nil || len(routes) != 1 {
		t.Fatalf("Routes through four transient failures: %v %v", routes, err)
	}
	front.DownOnNextWrite(time.Second)
	start := time.Now()
	if err := f.router.Upsert(ctx, proxy.Route{Workload: "flaky", Domains: []string{d}, Upstreams: []string{green}}); err != nil {
		t.Fatalf("a swap through a 1 s outage: %v", err)
	}
	t.Logf("swap through a 1 s outage took %s", time.Since(start).Round(time.Millisecond))
	acctest.Eventually(t, 10*time.Second, 20*time.Millisecond, "NPM never served green after the swap", func() bool {
		return through(t, f.npm, d) == "green"
	})
	if writes := f.writes(); len(writes) != 2 || !strings.HasPrefix(writes[1], "PUT ") {
		t.Fatalf("writes %v: want the create and one PUT (the dropped one never reached NPM)", writes)
	}

	front.Down()
	start = time.Now()
	err := f.router.Upsert(ctx, proxy.Route{Workload: "flaky", Domains: []string{d}, Upstreams: []string{blue}})
	if took := time.Since(start); err == nil || !strings.Contains(err.Error(), "kept failing for 2s, the retry timeout") || took > 8*time.Second {
		t.Fatalf("a swap while NPM is down: %v after %s", err, took)
	}
	if got := through(t, f.npm, d); got != "green" {
		t.Fatalf("a failed swap moved the traffic: NPM serves %q", got)
	}
}

// TestProbeDialsThroughDial: with Dial set, the probe of HTTPURL opens its
// connections through it (an SSH engine's dialer, for NPM on the Docker
// host's loopback), for HTTPURL's address, never dialling that directly.
func TestProbeDialsThroughDial(t *testing.T) {
	t.Parallel()
	const remote = "127.0.0.1:1" // nothing listens there on this machine
	var mu sync.Mutex
	var asked []string
	f := newFixture(t, func(c *Config, s *npmstandin.Server) {
		c.HTTPURL = "http://" + remote
		c.ProbeTimeout = 5 * time.Second
		standin := strings.TrimPrefix(s.HTTPURL, "http://")
		c.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			mu.Lock()
			asked = append(asked, addr)
			mu.Unlock()
			var d net.Dialer
			return d.DialContext(ctx, network, standin)
		}
	})
	d := domain("dial")
	if err := f.router.Upsert(context.Background(), proxy.Route{Workload: "dial", Domains: []string{d}, Upstreams: []string{app(t, "blue")}}); err != nil {
		t.Fatalf("Upsert with the probe through Dial: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) == 0 {
		t.Fatal("the probe never used Dial")
	}
	for _, a := range asked {
		if a != remote {
			t.Fatalf("Dial was asked for %s, want HTTPURL's %s", a, remote)
		}
	}
}
