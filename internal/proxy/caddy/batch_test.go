package caddy_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
)

// configLoads counts the config loads in Caddy's own log: Caddy restarts
// its admin endpoint once per load (its start included).
func configLoads(c *acctest.Caddy) int {
	return strings.Count(c.Log(), `"msg":"admin endpoint started"`)
}

// TestConcurrentRouteWritesAreBatched: 60 upserts from 60 goroutines of one
// Router at once (as one provider process applies 60 workloads) make far
// fewer than 60 config loads, counted in Caddy's log, and every route is
// there and routes; then 30 deletes and 30 swaps at once, likewise. A
// Router that wrote each change alone would load the config 60 times.
func TestConcurrentRouteWritesAreBatched(t *testing.T) {
	t.Parallel()
	c := acctest.StartCaddy(t)
	r := newRouter(t, c, nil)
	blue, green := backend(t, "blue"), backend(t, "green")
	ctx := context.Background()
	const n = 60
	route := func(i int, upstream string) proxy.Route {
		return proxy.Route{Workload: fmt.Sprintf("b%02d", i), Domains: []string{fmt.Sprintf("b%02d.test", i)}, Upstreams: []string{upstream}}
	}
	run := func(op func(i int) error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = op(i)
			}()
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	}

	before, writesBefore := configLoads(c), r.Calls().Loads
	run(func(i int) error { return r.Upsert(ctx, route(i, blue)) })
	loads, writes := configLoads(c)-before, r.Calls().Loads-writesBefore
	t.Logf("%d concurrent upserts: %d config loads in Caddy's log, %d writes by the Router, calls %+v", n, loads, writes, r.Calls())
	if loads > n/4 || loads < 1 {
		t.Fatalf("%d concurrent upserts made %d config loads, want far fewer (at most %d)", n, loads, n/4)
	}
	if int64(loads) != writes {
		t.Fatalf("Caddy logged %d loads, the Router counted %d writes", loads, writes)
	}
	got, err := r.Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("%d routes after %d upserts, want %d", len(got), n, n)
	}
	for i := range n {
		wantBody(t, c, route(i, blue).Domains[0], "blue")
	}

	before = configLoads(c)
	run(func(i int) error {
		if i%2 == 0 {
			return r.Delete(ctx, route(i, "").Workload)
		}
		return r.Upsert(ctx, route(i, green))
	})
	if loads := configLoads(c) - before; loads > n/4 {
		t.Fatalf("%d concurrent deletes and swaps made %d config loads, want at most %d", n, loads, n/4)
	}
	got, err = r.Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n/2 {
		t.Fatalf("%d routes after deleting half of %d, want %d: %+v", len(got), n, n/2, got)
	}
	for i := 1; i < n; i += 2 {
		wantBody(t, c, route(i, green).Domains[0], "green")
	}
}

// TestBatchedWriteFailsOnlyTheRefusedChange: in one batch, a route whose
// domain another workload holds is refused, and the others land.
func TestBatchedWriteFailsOnlyTheRefusedChange(t *testing.T) {
	t.Parallel()
	c := acctest.StartCaddy(t)
	r := newRouter(t, c, nil)
	up := backend(t, "x")
	upsert(t, r, proxy.Route{Workload: "owner", Domains: []string{"taken.test"}, Upstreams: []string{up}})
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := fmt.Sprintf("free%d.test", i)
			if i == 3 {
				d = "taken.test"
			}
			errs[i] = r.Upsert(ctx, proxy.Route{Workload: fmt.Sprintf("w%d", i), Domains: []string{d}, Upstreams: []string{up}})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		var taken *proxy.DomainTakenError
		if i == 3 && !errors.As(err, &taken) {
			t.Fatalf("upsert of a taken domain: %v", err)
		}
		if i != 3 && err != nil {
			t.Fatalf("upsert %d: %v", i, err)
		}
	}
	got, err := r.Routes(ctx)
	if err != nil || len(got) != 8 {
		t.Fatalf("routes %+v (%v), want owner and the 7 free ones", got, err)
	}
}

// TestDrainingUpstreamStaysCounted: after a swap that parks the old
// upstream (Route.Draining), InFlight still sees the request that Caddy
// sent it before the swap, until it finishes; the route serves the new
// upstream meanwhile, and reads back with its draining upstream. Without
// the parking, Caddy drops the old upstream from its pool at the swap and
// reports nothing in flight while the request still runs.
func TestDrainingUpstreamStaysCounted(t *testing.T) {
	t.Parallel()
	c := acctest.StartCaddy(t)
	r := newRouter(t, c, nil)
	release := make(chan struct{})
	slowSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/slow" {
			<-release
		}
		fmt.Fprint(w, "blue")
	}))
	t.Cleanup(slowSrv.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	blue, green := strings.TrimPrefix(slowSrv.URL, "http://"), backend(t, "green")
	ctx := context.Background()
	upsert(t, r, proxy.Route{Workload: "app", Domains: []string{"app.test"}, Upstreams: []string{blue}})

	done := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, c.HTTPURL+"/slow", nil)
		req.Host = "app.test"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- fmt.Sprintf("%d %s", resp.StatusCode, b)
	}()
	acctest.Eventually(t, 10*time.Second, 20*time.Millisecond, "caddy never counted the slow request", func() bool {
		n, err := r.InFlight(ctx, []string{blue})
		return err == nil && n[blue] == 1
	})

	upsert(t, r, proxy.Route{Workload: "app", Domains: []string{"app.test"}, Upstreams: []string{green}, Draining: []string{blue}})
	wantBody(t, c, "app.test", "green")
	n, err := r.InFlight(ctx, []string{blue, green})
	if err != nil || n[blue] != 1 || n[green] != 0 {
		t.Fatalf("in flight after the swap: %v (%v), want 1 to blue, 0 to green", n, err)
	}
	routes, err := r.Routes(ctx)
	if err != nil || len(routes) != 1 || routes[0].Upstreams[0] != green || len(routes[0].Draining) != 1 || routes[0].Draining[0] != blue {
		t.Fatalf("routes after the swap: %+v (%v), want green serving and blue draining", routes, err)
	}

	close(release)
	if got := <-done; got != "200 blue" {
		t.Fatalf("the request in flight at the swap got %q, want 200 blue", got)
	}
	acctest.Eventually(t, 10*time.Second, 20*time.Millisecond, "blue's request never left the count", func() bool {
		n, err := r.InFlight(ctx, []string{blue})
		return err == nil && n[blue] == 0
	})
	upsert(t, r, proxy.Route{Workload: "app", Domains: []string{"app.test"}, Upstreams: []string{green}})
	if routes, _ := r.Routes(ctx); len(routes) != 1 || len(routes[0].Draining) != 0 {
		t.Fatalf("routes after the drain: %+v, want no draining upstream", routes)
	}
}
