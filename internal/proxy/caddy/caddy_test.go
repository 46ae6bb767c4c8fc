package caddy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy/caddy"
)

// backend starts a real HTTP server on 127.0.0.1 that answers its name, and
// returns its "host:port" for a route's upstream.
func backend(t *testing.T, name string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, name)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func newRouter(t *testing.T, c *acctest.Caddy, client *http.Client) *caddy.Router {
	t.Helper()
	r, err := caddy.New(caddy.Config{
		AdminURL:   c.AdminURL,
		Listen:     []string{"127.0.0.1:" + strconv.Itoa(c.HTTPPort)},
		HTTPClient: client,
	})
	if err != nil {
		t.Fatalf("caddy.New: %v", err)
	}
	return r
}

func upsert(t *testing.T, r *caddy.Router, route proxy.Route) {
	t.Helper()
	if err := r.Upsert(context.Background(), route); err != nil {
		t.Fatalf("Upsert(%+v): %v", route, err)
	}
}

// wantBody fails the test unless a request for host through Caddy reaches
// the backend that answers body.
//
// Caddy answers a config write before the previous server has stopped: a
// connection it still holds may get one more answer of the old config, so
// the body is asked for again for up to 10 s (a loaded machine may stop
// the old server late; the wait ends at the first right answer).
func wantBody(t *testing.T, c *acctest.Caddy, host, body string) {
	t.Helper()
	var status int
	var got string
	var err error
	// A transport error is "not yet", like a wrong answer: Caddy 2.6 has
	// reset a fresh connection that arrived as it stopped the server of
	// the config before (once in CI, right after a write). What these
	// tests check is the route; that no request fails across a write is
	// the load tests' claim (the bench's row 1, the acceptance tests).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		status, got, err = c.GetE(host, "/")
		if (err == nil && status == http.StatusOK && got == body) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || status != http.StatusOK || got != body {
		t.Fatalf("GET Host %s through caddy = %d %q (%v), want 200 %q\ncaddy log:\n%s", host, status, got, err, body, c.Log())
	}
}

// jsonEqual compares two JSON texts by value, not by key order.
func jsonEqual(t *testing.T, got, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("decode %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("decode %s: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}

// TestUpsertCreatesServerAndRoute starts from each kind of config a user
// may have and checks that the first Upsert creates the server and a route
// of the documented shape, and that traffic for the domain reaches the
// backend. It catches a creation that needs a parent to exist, or that
// replaces a parent (and so the user's servers or apps).
func TestUpsertCreatesServerAndRoute(t *testing.T) {
	t.Parallel()
	starts := map[string]string{
		"no apps":              ``,
		"apps without http":    `{"apps": {"tls": {"session_tickets": {"disabled": true}}}}`,
		"http without servers": `{"apps": {"http": {"grace_period": "1s"}}}`,
		"a user's server":      `{"apps": {"http": {"servers": {"user": {"listen": ["127.0.0.1:` + strconv.Itoa(acctest.FreePort(t)) + `"], "routes": [{"handle": [{"handler": "static_response", "body": "user"}]}]}}}}}`,
	}
	for name, config := range starts {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := acctest.StartCaddyWithConfig(t, config)
			r := newRouter(t, c, nil)
			upstream := backend(t, "web")

			upsert(t, r, proxy.Route{Workload: "web", Domains: []string{"web.example.test", "www.example.test"}, Upstreams: []string{upstream}})

			wantServer := fmt.Sprintf(`{
				"listen": ["127.0.0.1:%d"],
				"automatic_https": {"disable": true},
				"routes": [{
					"@id": "tinyforge-web",
					"match": [{"host": ["web.example.test", "www.example.test"]}],
					"handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": %q}]}],
					"terminal": true
				}]
			}`, c.HTTPPort, upstream)
			if got := c.AdminGet(t, "/config/apps/http/servers/tinyforge"); !jsonEqual(t, got, wantServer) {
				t.Fatalf("server config = %s\nwant %s", got, wantServer)
			}
			wantBody(t, c, "web.example.test", "web")
			wantBody(t, c, "www.example.test", "web")
			if status, body := c.Get(t, "other.example.test", "/"); body == "web" {
				t.Fatalf("a host the route does not match reached the backend: %d %q", status, body)
			}
		})
	}
}

// TestUpsertReplacesRouteInPlace swaps the upstream of an existing route and
// checks that the route kept its index and @id, that the neighbour did not
// move, that the swap was one PATCH (no delete, no append), and that a
// repeated Upsert of the same route writes nothing.
func TestUpsertReplacesRouteInPlace(t *testing.T) {
	t.Parallel()
	c := acctest.StartCaddy(t)
	r := newRouter(t, c, nil)
	blue, green, other := backend(t, "blue"), backend(t, "green"), backend(t, "other")

	upsert(t, r, proxy.Route{Workload: "app", Domains: []string{"app.test"}, Upstreams: []string{blue}})
	upsert(t, r, proxy.Route{Workload: "other", Domains: []string{"other.test"}, Upstreams: []string{other}})
	wantBody(t, c, "app.test", "blue")

	before := r.Calls()
	upsert(t, r, proxy.Route{Workload: "app", Domains: []string{"app.test"}, Upstreams: []string{green}})
	d := diffCalls(before, r.Calls())
	if d.Patch != 1 || d.Delete != 0 || d.Post != 0 || d.Put != 0 {
		t.Fatalf("swap made calls %+v, want exactly one PATCH and no DELETE/POST/PUT", d)
	}
	wantBody(t, c, "app.test", "green")
	wantBody(t, c, "other.test", "other")

	var ids []string
	var routes []struct {
		ID     string `json:"@id"`
		Handle []struct {
			Upstreams []struct{ Dial string } `json:"upstreams"`
		} `json:"handle"`
	}
	if err := json.Unmarshal([]byte(c.AdminGet(t, "/config/apps/http/servers/tinyforge/routes")), &routes); err != nil {
		t.Fatal(err)
	}
	for _, rt := range routes {
		ids = append(ids, rt.ID)
	}
	if !reflect.DeepEqual(ids, []string{"tinyforge-app", "tinyforge-other"}) {
		t.Fatalf("route ids after the swap = %v, want [tinyforge-app tinyforge-other] (same order)", ids)
	}
	if got := routes[0].Handle[0].Upstreams[0].Dial; got != green {
		t.Fatalf("route 0 dials %s, want %s", got, green)
	}

	before = r.Calls()
	upsert(t, r, proxy.Route{Workload: "app", Domains: []string{"app.test"}, Upstreams: []string{green}})
	if d := diffCalls(before, r.Calls()); d != (caddy.Calls{Get: 1}) {
		t.Fatalf("an unchanged Upsert made calls %+v, want one GET and no write", d)
	}
}

// TestSwapUnderLoadFailsNoRequest runs a few keep-alive clients against a
// route for about ten seconds while the route is swapped five times between
// two backends, and requires that not one request fails and that each swap
// takes effect as soon as Upsert returns.
func TestSwapUnderLoadFailsNoRequest(t *testing.T) {
	t.Parallel()
	c := acctest.StartCaddy(t)
	r := newRouter(t, c, nil)
	upstreams := map[string]string{"blue": backend(t, "blue"), "green": backend(t, "green")}
	route := proxy.Route{Workload: "live", Domains: []string{"live.test"}, Upstreams: []string{upstreams["blue"]}}
	upsert(t, r, route)
	wantBody(t, c, "live.test", "blue")

	const clients = 3
	transport := &http.Transport{MaxIdleConnsPerHost: clients}
	t.Cleanup(transport.CloseIdleConnections)
	client := &http.Client{Transport: transport, Timeout: 5 * time.Second}

	var ok, failed atomic.Int64
	var served sync.Map // body -> *atomic.Int64
	var firstFailures sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, c.HTTPURL+"/", nil)
				req.Host = "live.test"
				resp, err := client.Do(req)
				var body string
				if err == nil {
					body, err = readBody(resp)
					if err == nil && (resp.StatusCode != http.StatusOK || upstreams[body] == "") {
						err = fmt.Errorf("HTTP %d %q", resp.StatusCode, body)
					}
				}
				if err != nil {
					if failed.Add(1) <= 5 {
						firstFailures.Store(fmt.Sprintf("client %d #%d", i, failed.Load()), err.Error())
					}
					continue
				}
				ok.Add(1)
				n, _ := served.LoadOrStore(body, new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
			}
		}()
	}

	for i, color := range []string{"green", "blue", "green", "blue", "green"} {
		time.Sleep(1600 * time.Millisecond)
		route.Upstreams = []string{upstreams[color]}
		if err := r.Upsert(context.Background(), route); err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("swap %d to %s: %v", i+1, color, err)
		}
		wantBody(t, c, "live.test", color)
	}
	time.Sleep(1600 * time.Millisecond)
	close(stop)
	wg.Wait()

	counts := map[string]int64{}
	served.Range(func(k, v any) bool { counts[k.(string)] = v.(*atomic.Int64).Load(); return true })
	t.Logf("load across 5 swaps: %d ok, %d failed, served by backend: %v", ok.Load(), failed.Load(), counts)
	if failed.Load() != 0 {
		firstFailures.Range(func(k, v any) bool { t.Errorf("%s: %s", k, v); return true })
		t.Fatalf("%d of %d requests failed during the swaps", failed.Load(), ok.Load()+failed.Load())
	}
	if ok.Load() == 0 || counts["blue"] == 0 || counts["green"] == 0 {
		t.Fatalf("load did not reach both backends: %v", counts)
	}
}

// readBody reads a response body to the end, so the connection is reused.
func readBody(resp *http.Response) (string, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// userConfig is a user's Caddy config the provider must not touch: an own
// server with a route, a route of the user's inside the provider's server
// (with and without an @id), an http option and another app.
// ourListen is the listen address preset for the provider's server.
func userConfig(t *testing.T, ourListen string) (config string, userPort int) {
	userPort = acctest.FreePort(t)
	return fmt.Sprintf(`{
		"apps": {
			"http": {
				"grace_period": "2s",
				"servers": {
					"user": {
						"listen": ["127.0.0.1:%d"],
						"routes": [{"@id": "user-hello", "handle": [{"handler": "static_response", "body": "hello"}]}]
					},
					"tinyforge": {
						"listen": [%q],
						"automatic_https": {"disable": true},
						"routes": [
							{"@id": "user-in-ours", "match": [{"host": ["mine.test"]}], "handle": [{"handler": "static_response", "body": "mine"}], "terminal": true},
							{"match": [{"host": ["anon.test"]}], "handle": [{"handler": "static_response", "body": "anon"}], "terminal": true}
						]
					}
				}
			},
			"tls": {"session_tickets": {"disabled": true}}
		}
	}`, userPort, ourListen), userPort
}

// TestRoutesListsOnlyOwnedRoutes checks that Routes returns exactly the
// tinyforge- routes, read back into workload, domains and upstream, and
// skips the user's routes in the same server.
func TestRoutesListsOnlyOwnedRoutes(t *testing.T) {
	t.Parallel()
	config, _ := userConfig(t, "127.0.0.1:{{http_port}}")
	c := acctest.StartCaddyWithConfig(t, config)
	r := newRouter(t, c, nil)
	a, b := backend(t, "a"), backend(t, "b")
	upsert(t, r, proxy.Route{Workload: "a", Domains: []string{"a.test", "www.a.test"}, Upstreams: []string{a}})
	upsert(t, r, proxy.Route{Workload: "b", Domains: []string{"b.test"}, Upstreams: []string{b}})

	before := r.Calls()
	got, err := r.Routes(context.Background())
	if err != nil {
		t.Fatalf("Routes: %v", err)
	}
	want := []proxy.Route{
		{Workload: "a", Domains: []string{"a.test", "www.a.test"}, Upstreams: []string{a}},
		{Workload: "b", Domains: []string{"b.test"}, Upstreams: []string{b}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Routes = %+v, want %+v", got, want)
	}
	if d := diffCalls(before, r.Calls()); d != (caddy.Calls{Get: 1}) {
		t.Fatalf("Routes made calls %+v, want one GET", d)
	}
}

// TestRoutesOfMissingServerIsEmpty checks that a Caddy without the
// provider's server (no apps at all, or other servers only) has no routes
// and is no error.
func TestRoutesOfMissingServerIsEmpty(t *testing.T) {
	t.Parallel()
	for name, config := range map[string]string{
		"no apps":      ``,
		"other server": `{"apps": {"http": {"servers": {"user": {"listen": ["127.0.0.1:` + strconv.Itoa(acctest.FreePort(t)) + `"]}}}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := acctest.StartCaddyWithConfig(t, config)
			r := newRouter(t, c, nil)
			got, err := r.Routes(context.Background())
			if err != nil || len(got) != 0 {
				t.Fatalf("Routes = %v, %v; want no routes and no error", got, err)
			}
			if err := r.Delete(context.Background(), "ghost"); err != nil {
				t.Fatalf("Delete on a missing server: %v", err)
			}
		})
	}
}

// TestDeleteRemovesOnlyOwnedRoute deletes one workload's route and checks
// that the user's routes and the other workload's route stay, in order,
// still serving; a second Delete of the same route is not an error.
func TestDeleteRemovesOnlyOwnedRoute(t *testing.T) {
	t.Parallel()
	config, _ := userConfig(t, "127.0.0.1:{{http_port}}")
	c := acctest.StartCaddyWithConfig(t, config)
	r := newRouter(t, c, nil)
	upsert(t, r, proxy.Route{Workload: "a", Domains: []string{"a.test"}, Upstreams: []string{backend(t, "a")}})
	upsert(t, r, proxy.Route{Workload: "b", Domains: []string{"b.test"}, Upstreams: []string{backend(t, "b")}})
	wantBody(t, c, "a.test", "a")

	if err := r.Delete(context.Background(), "a"); err != nil {
		t.Fatalf("Delete(a): %v", err)
	}
	var routes []struct {
		ID string `json:"@id"`
	}
	if err := json.Unmarshal([]byte(c.AdminGet(t, "/config/apps/http/servers/tinyforge/routes")), &routes); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, rt := range routes {
		ids = append(ids, rt.ID)
	}
	if want := []string{"user-in-ours", "", "tinyforge-b"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("route ids after Delete(a) = %q, want %q", ids, want)
	}
	wantBody(t, c, "b.test", "b")
	wantBody(t, c, "mine.test", "mine")
	// b and mine answer alike before and after the Delete: the server of
	// the config before may still be the one answering.
	acctest.Eventually(t, 10*time.Second, 20*time.Millisecond, "a.test still reaches the deleted route's backend", func() bool {
		_, body, err := c.GetE("a.test", "/")
		return err == nil && body != "a"
	})
	wantBody(t, c, "anon.test", "anon")

	if err := r.Delete(context.Background(), "a"); err != nil {
		t.Fatalf("second Delete(a): %v", err)
	}
}

// TestUserConfigLeftAlone runs every operation against a Caddy that holds a
// user's config and compares the user's parts of it, byte for byte, before
// and after. It catches any write above or beside the provider's routes.
func TestUserConfigLeftAlone(t *testing.T) {
	t.Parallel()
	// The preset listen differs from the Router's, so Upsert also patches it.
	config, userPort := userConfig(t, "127.0.0.1:"+strconv.Itoa(acctest.FreePort(t)))
	c := acctest.StartCaddyWithConfig(t, config)
	r := newRouter(t, c, nil)

	userPaths := []string{
		"/config/admin",
		"/config/apps/tls",
		"/config/apps/http/grace_period",
		"/config/apps/http/servers/user",
		"/config/apps/http/servers/tinyforge/routes/0",
		"/config/apps/http/servers/tinyforge/routes/1",
	}
	snapshot := func() map[string]string {
		m := map[string]string{}
		for _, p := range userPaths {
			m[p] = c.AdminGet(t, p)
		}
		return m
	}
	before := snapshot()

	ctx := context.Background()
	upsert(t, r, proxy.Route{Workload: "a", Domains: []string{"a.test"}, Upstreams: []string{backend(t, "a")}})
	upsert(t, r, proxy.Route{Workload: "b", Domains: []string{"b.test"}, Upstreams: []string{backend(t, "b")}})
	upsert(t, r, proxy.Route{Workload: "a", Domains: []string{"a.test"}, Upstreams: []string{backend(t, "a2")}})
	if _, err := r.Routes(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, "b"); err != nil {
		t.Fatal(err)
	}

	after := snapshot()
	for _, p := range userPaths {
		if before[p] != after[p] {
			t.Errorf("%s changed:\nbefore %s\nafter  %s", p, before[p], after[p])
		}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(c.AdminGet(t, "/config/")), &top); err != nil {
		t.Fatal(err)
	}
	if len(top) != 2 {
		t.Errorf("top-level config keys = %d, want admin and apps only", len(top))
	}
	if got := c.AdminGet(t, "/config/apps/http/servers/tinyforge/listen"); got != `["127.0.0.1:`+strconv.Itoa(c.HTTPPort)+`"]` {
		t.Errorf("provider server listen = %s, want the configured one", got)
	}
	status, body, err := getURL(fmt.Sprintf("http://127.0.0.1:%d/", userPort))
	if err != nil || status != http.StatusOK || body != "hello" {
		t.Errorf("the user's server answers %d %q %v, want 200 \"hello\"", status, body, err)
	}
}

func getURL(u string) (int, string, error) {
	resp, err := http.Get(u)
	if err != nil {
		return 0, "", err
	}
	body, err := readBody(resp)
	return resp.StatusCode, body, err
}

// TestAutomaticHTTPSStaysOff checks that Caddy's automatic HTTPS is off: the
// server has automatic_https.disable = true, plain HTTP is served (no
// redirect to HTTPS) and Caddy attempts no certificate; and that when the
// server drifts (listen changed, automatic_https removed by hand), the next
// Upsert patches those keys back without touching the server's other keys.
func TestAutomaticHTTPSStaysOff(t *testing.T) {
	t.Parallel()
	c := acctest.StartCaddy(t)
	r := newRouter(t, c, nil)
	upsert(t, r, proxy.Route{Workload: "plain", Domains: []string{"plain.example.com"}, Upstreams: []string{backend(t, "plain")}})

	if got := c.AdminGet(t, "/config/apps/http/servers/tinyforge/automatic_https"); !jsonEqual(t, got, `{"disable": true}`) {
		t.Fatalf("automatic_https = %s, want {\"disable\": true}", got)
	}
	wantBody(t, c, "plain.example.com", "plain") // a redirect would show as 308
	if _, err := os.Stat(filepath.Join(c.Dir(), "data", "caddy", "certificates")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("caddy created a certificates dir (stat: %v): it attempted certificates\n%s", err, c.Log())
	}
	for _, sign := range []string{"enabling automatic HTTPS", "obtaining certificate", "enabling automatic HTTP->HTTPS redirects"} {
		if strings.Contains(c.Log(), sign) {
			t.Fatalf("caddy log says %q: automatic HTTPS is not off\n%s", sign, c.Log())
		}
	}

	// Drift: a hand edit moves the listener, drops automatic_https and
	// adds a key of its own.
	otherPort := acctest.FreePort(t)
	adminDo(t, c, http.MethodPatch, "/config/apps/http/servers/tinyforge/listen", fmt.Sprintf(`["127.0.0.1:%d"]`, otherPort))
	adminDo(t, c, http.MethodDelete, "/config/apps/http/servers/tinyforge/automatic_https", "")
	adminDo(t, c, http.MethodPut, "/config/apps/http/servers/tinyforge/max_header_bytes", `4096`)
	routesBefore := c.AdminGet(t, "/config/apps/http/servers/tinyforge/routes")

	before := r.Calls()
	upsert(t, r, proxy.Route{Workload: "plain", Domains: []string{"plain.example.com"}, Upstreams: []string{backend(t, "plain2")}})
	d := diffCalls(before, r.Calls())

	wantServer := fmt.Sprintf(`{"listen": ["127.0.0.1:%d"], "automatic_https": {"disable": true}, "max_header_bytes": 4096}`, c.HTTPPort)
	var srv map[string]json.RawMessage
	if err := json.Unmarshal([]byte(c.AdminGet(t, "/config/apps/http/servers/tinyforge")), &srv); err != nil {
		t.Fatal(err)
	}
	delete(srv, "routes")
	got, _ := json.Marshal(srv)
	if !jsonEqual(t, string(got), wantServer) {
		t.Fatalf("server after drift repair = %s, want %s", got, wantServer)
	}
	if d.Patch != 2 || d.Put != 1 || d.Post != 0 || d.Delete != 0 {
		t.Fatalf("drift repair + swap made calls %+v, want PATCH listen, PUT automatic_https, PATCH route", d)
	}
	if routesBefore == c.AdminGet(t, "/config/apps/http/servers/tinyforge/routes") {
		t.Fatalf("the route was not swapped after the drift repair")
	}
	wantBody(t, c, "plain.example.com", "plain2")
}

// adminDo makes a hand edit through the admin API, as a user would.
func adminDo(t *testing.T, c *acctest.Caddy, method, path, body string) {
	t.Helper()
	req, err := http.NewRequest(method, c.AdminURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
}

// serverCreations counts the admin API writes that created the provider's
// server and succeeded, seen from the caller's side of the HTTP client.
type serverCreations struct {
	inner http.RoundTripper
	n     atomic.Int64
}

func (s *serverCreations) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.inner.RoundTrip(req)
	if err == nil && req.Method == http.MethodPut && req.URL.Path == "/config/apps/http/servers/tinyforge" && resp.StatusCode == http.StatusOK {
		s.n.Add(1)
	}
	return resp, err
}

// TestConcurrentUpsertsLoseNothing upserts 12 workloads at once, from two
// Routers with separate HTTP clients (as two provider processes would),
// against a Caddy with an empty config. Every route must land exactly once
// and the server must be created once: a creation that overwrote another,
// or an append computed from a stale read, would lose or duplicate a route.
// Then it deletes half and swaps the other half at once, which catches a
// write that lands on a shifted index.
func TestConcurrentUpsertsLoseNothing(t *testing.T) {
	t.Parallel()
	c := acctest.StartCaddy(t)
	counter := &serverCreations{inner: http.DefaultTransport}
	routers := []*caddy.Router{
		newRouter(t, c, &http.Client{Transport: counter, Timeout: 30 * time.Second}),
		newRouter(t, c, &http.Client{Transport: counter, Timeout: 30 * time.Second}),
	}
	blue, green := backend(t, "blue"), backend(t, "green")

	const n = 12
	run := func(op func(i int, r *caddy.Router) error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = op(i, routers[i%2])
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	route := func(i int, upstream string) proxy.Route {
		return proxy.Route{Workload: fmt.Sprintf("w%02d", i), Domains: []string{fmt.Sprintf("w%02d.test", i)}, Upstreams: []string{upstream}}
	}

	run(func(i int, r *caddy.Router) error { return r.Upsert(ctx, route(i, blue)) })
	if got := counter.n.Load(); got != 1 {
		t.Fatalf("the server was created %d times, want once", got)
	}
	got, err := routers[0].Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, rt := range got {
		seen[rt.Workload]++
	}
	for i := range n {
		if w := route(i, blue).Workload; seen[w] != 1 {
			t.Errorf("route %s present %d times, want once", w, seen[w])
		}
	}
	if len(got) != n {
		t.Fatalf("%d routes after %d concurrent upserts, want %d: %+v", len(got), n, n, got)
	}
	for i := range n {
		wantBody(t, c, route(i, blue).Domains[0], "blue")
	}

	// Half go, half swap, all at once.
	run(func(i int, r *caddy.Router) error {
		if i%2 == 0 {
			return r.Delete(ctx, route(i, "").Workload)
		}
		return r.Upsert(ctx, route(i, green))
	})
	got, err = routers[1].Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Routes keeps the server's order, which is the order the appends won.
	slices.SortFunc(got, func(a, b proxy.Route) int { return strings.Compare(a.Workload, b.Workload) })
	var want []proxy.Route
	for i := 1; i < n; i += 2 {
		want = append(want, route(i, green))
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after concurrent deletes and swaps Routes = %+v\nwant %+v", got, want)
	}
	c0, c1 := routers[0].Calls(), routers[1].Calls()
	t.Logf("admin API calls for %d upserts then %d deletes + %d swaps: router 0 %+v, router 1 %+v", n, n/2, n/2, c0, c1)
}

// TestAdminErrorsNameMessageAndPath makes Caddy reject a change and checks
// that the error carries Caddy's own message and the admin API path.
func TestAdminErrorsNameMessageAndPath(t *testing.T) {
	t.Parallel()
	c := acctest.StartCaddy(t)
	r, err := caddy.New(caddy.Config{AdminURL: c.AdminURL, Listen: []string{"127.0.0.1:notaport"}})
	if err != nil {
		t.Fatal(err)
	}
	err = r.Upsert(context.Background(), proxy.Route{Workload: "x", Domains: []string{"x.test"}, Upstreams: []string{"127.0.0.1:9"}})
	var apiErr *caddy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("Upsert with a bad listen address = %v, want a *caddy.APIError", err)
	}
	if apiErr.Path != "/config/apps/http/servers/tinyforge" || apiErr.Message == "" || apiErr.Status/100 != 4 && apiErr.Status/100 != 5 {
		t.Fatalf("APIError = %+v, want the server path, Caddy's message and its status", apiErr)
	}
	t.Logf("error: %v", err)
	for _, part := range []string{apiErr.Path, apiErr.Message, "notaport", `"tinyforge-x"`} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not mention %q", err, part)
		}
	}
}

// TestInvalidInputIsRejectedBeforeAnyCall checks the validation of Config
// and of routes, and that a rejected route costs no admin API call.
func TestInvalidInputIsRejectedBeforeAnyCall(t *testing.T) {
	t.Parallel()
	for _, cfg := range []caddy.Config{
		{AdminURL: "127.0.0.1:2019"},
		{AdminURL: "unix:///run/caddy.sock"},
		{Server: "a/b"},
		{Listen: []string{""}},
	} {
		if _, err := caddy.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted a bad config", cfg)
		}
	}
	r, err := caddy.New(caddy.Config{AdminURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		route proxy.Route
		want  string
	}{
		{proxy.Route{Domains: []string{"a.test"}, Upstreams: []string{"127.0.0.1:80"}}, "workload name must not be empty"},
		{proxy.Route{Workload: "w", Upstreams: []string{"127.0.0.1:80"}}, "at least one domain"},
		{proxy.Route{Workload: "w", Domains: []string{"Bad_Host"}, Upstreams: []string{"127.0.0.1:80"}}, "domains[0]"},
		{proxy.Route{Workload: "w", Domains: []string{"a.test"}, Upstreams: []string{"127.0.0.1"}}, `upstream "127.0.0.1"`},
		{proxy.Route{Workload: "w", Domains: []string{"a.test"}, Upstreams: []string{"127.0.0.1:0"}}, "port must be between"},
	} {
		err := r.Upsert(context.Background(), tc.route)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Upsert(%+v) = %v, want an error mentioning %q", tc.route, err, tc.want)
		}
	}
	if err := r.Delete(context.Background(), ""); err == nil {
		t.Errorf("Delete(\"\") accepted an empty workload name")
	}
	if calls := r.Calls(); calls != (caddy.Calls{}) {
		t.Fatalf("rejected input made admin API calls: %+v", calls)
	}
}

func diffCalls(a, b caddy.Calls) caddy.Calls {
	return caddy.Calls{
		Get: b.Get - a.Get, Post: b.Post - a.Post, Put: b.Put - a.Put,
		Patch: b.Patch - a.Patch, Delete: b.Delete - a.Delete,
		Conflicts: b.Conflicts - a.Conflicts,
	}
}

// TestUpsertRefusesADomainOfAnotherWorkload: two workloads racing for one
// domain, and a name under another workload's wildcard, are refused under
// the same If-Match read as the write: exactly one route gets the domain,
// and the refused upsert changes nothing.
func TestUpsertRefusesADomainOfAnotherWorkload(t *testing.T) {
	t.Parallel()
	c := acctest.StartCaddy(t)
	r := newRouter(t, c, nil)
	a, b := backend(t, "a"), backend(t, "b")

	// Race: many workloads ask for one domain at once; one wins.
	const racers = 6
	var wg sync.WaitGroup
	errs := make([]error, racers)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.Upsert(context.Background(), proxy.Route{
				Workload: fmt.Sprintf("racer-%d", i), Domains: []string{"shared.example.test"}, Upstreams: []string{a},
			})
		}()
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		var taken *proxy.DomainTakenError
		switch {
		case err == nil:
			won++
		case errors.As(err, &taken) && taken.Domain == "shared.example.test" && taken.Workload == fmt.Sprintf("racer-%d", i):
		default:
			t.Errorf("racer %d: %v", i, err)
		}
	}
	routes, err := r.Routes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if won != 1 || len(routes) != 1 {
		t.Fatalf("%d racers won, %d routes: %+v; want exactly one", won, len(routes), routes)
	}

	upsert(t, r, proxy.Route{Workload: "wild", Domains: []string{"*.apps.example.test"}, Upstreams: []string{b}})
	err = r.Upsert(context.Background(), proxy.Route{Workload: "api", Domains: []string{"api.apps.example.test"}, Upstreams: []string{a}})
	if err == nil || !strings.Contains(err.Error(), `overlaps domain "*.apps.example.test", already routed to workload "wild"`) {
		t.Fatalf("a name under another workload's wildcard: %v", err)
	}
	wantBody(t, c, "api.apps.example.test", "b")
	if routes, _ := r.Routes(context.Background()); len(routes) != 2 {
		t.Fatalf("the refused upsert wrote a route: %+v", routes)
	}
}

// TestTransientAdminFailuresAreRetried: dropped and refused connections and
// 502/503/504 from a gateway in front of the admin API are retried, reads
// (routes and the in-flight count) and writes alike, and the swap lands; while the API stays down, the
// operation fails after the retry timeout, naming it, and changes nothing.
func TestTransientAdminFailuresAreRetried(t *testing.T) {
	t.Parallel()
	c := acctest.StartCaddy(t)
	front := acctest.StartFront(t, c.AdminURL)
	var logged atomic.Int32
	r, err := caddy.New(caddy.Config{
		AdminURL:     front.URL,
		Listen:       []string{"127.0.0.1:" + strconv.Itoa(c.HTTPPort)},
		RetryTimeout: 2 * time.Second,
		Log:          func(context.Context, string, map[string]any) { logged.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	blue, green := backend(t, "blue"), backend(t, "green")
	upsert(t, r, proxy.Route{Workload: "web", Domains: []string{"web.example.test"}, Upstreams: []string{blue}})

	front.FailNext(acctest.Drop, acctest.Unavailable, acctest.BadGateway, acctest.GatewayTimeout)
	if _, err := r.Routes(context.Background()); err != nil {
		t.Fatalf("Routes through four transient failures: %v", err)
	}
	// A drain's count too: the swap's own load restarts the admin server.
	front.FailNext(acctest.Drop, acctest.Unavailable)
	if n, err := r.InFlight(context.Background(), []string{blue}); err != nil || n[blue] != 0 {
		t.Fatalf("InFlight through two transient failures: %v (%v)", n, err)
	}
	// The swap's write meets a dropped connection and a port that refuses
	// connections for a second.
	front.DownOnNextWrite(time.Second)
	start := time.Now()
	upsert(t, r, proxy.Route{Workload: "web", Domains: []string{"web.example.test"}, Upstreams: []string{green}})
	t.Logf("swap through a 1 s outage took %s; %d retry logs", time.Since(start).Round(time.Millisecond), logged.Load())
	// Caddy's previous HTTP server may answer a request accepted while
	// the new config took over: give it a moment.
	acctest.Eventually(t, 10*time.Second, 50*time.Millisecond, "the swap did not reach Caddy's traffic", func() bool {
		status, body, err := c.GetE("web.example.test", "/")
		return err == nil && status == http.StatusOK && body == "green"
	})
	if logged.Load() == 0 {
		t.Error("the retries were not logged")
	}

	// Down for good: the swap fails after the retry timeout, the route is
	// left where it was.
	front.Down()
	start = time.Now()
	err = r.Upsert(context.Background(), proxy.Route{Workload: "web", Domains: []string{"web.example.test"}, Upstreams: []string{blue}})
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "kept failing for 2s, the retry timeout") {
		t.Fatalf("a swap while the admin API is down: %v", err)
	}
	if took < 2*time.Second || took > 6*time.Second {
		t.Fatalf("the swap gave up after %s, want the 2s retry timeout", took)
	}
	wantBody(t, c, "web.example.test", "green")

	// Errors that do not pass by themselves are not retried.
	if err := front.Up(); err != nil {
		t.Fatal(err)
	}
	before, _ := front.Requests()
	bad, _ := caddy.New(caddy.Config{AdminURL: front.URL + "/nowhere", RetryTimeout: 2 * time.Second})
	if _, err := bad.Routes(context.Background()); err == nil {
		t.Fatal("a 404 from the admin API was not an error")
	}
	if after, _ := front.Requests(); after-before > 2 {
		t.Fatalf("a 404 was retried: %d requests", after-before)
	}
}
