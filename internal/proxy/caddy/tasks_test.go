package caddy_test

import (
	"context"
	"net"
	"strconv"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
)

// TestTasksRouteResolvesTheNameAgain: a route to a DNS name (a Swarm
// service's tasks.<name>) is Caddy's dynamic "a" upstreams, re-read every
// second, with retries on another address; the real Caddy serves through
// it, reads it back as the same route, and a repeated Upsert writes
// nothing. "localhost" stands for tasks.<name>: its A record is the
// backend's loopback address.
func TestTasksRouteResolvesTheNameAgain(t *testing.T) {
	t.Parallel()
	c := acctest.StartCaddy(t)
	r := newRouter(t, c, nil)
	_, port, _ := net.SplitHostPort(backend(t, "task"))
	p, _ := strconv.Atoi(port)
	route := proxy.Route{Workload: "svc", Domains: []string{"svc.example.test"}, Tasks: "localhost", TasksPort: p}
	upsert(t, r, route)
	wantBody(t, c, "svc.example.test", "task")

	routes, err := r.Routes(context.Background())
	if err != nil || len(routes) != 1 || routes[0].Tasks != "localhost" || routes[0].TasksPort != p || len(routes[0].Upstreams) != 0 {
		t.Fatalf("Routes = %+v, %v; want the tasks route back", routes, err)
	}
	got := c.AdminGet(t, "/id/tinyforge-svc/handle/0/dynamic_upstreams")
	if !jsonEqual(t, got, `{"source": "a", "name": "localhost", "port": "`+port+`", "refresh": "1s"}`) {
		t.Fatalf("dynamic_upstreams = %s", got)
	}
	before := r.Calls()
	upsert(t, r, route)
	if d := diffCalls(before, r.Calls()); d.Patch+d.Post+d.Put+d.Delete != 0 {
		t.Fatalf("a repeated Upsert of the tasks route wrote: %+v", d)
	}
	if err := r.Upsert(context.Background(), proxy.Route{Workload: "svc", Domains: []string{"svc.example.test"}, Tasks: "tasks.svc"}); err == nil {
		t.Fatal("a tasks route without a port was accepted")
	}
}
