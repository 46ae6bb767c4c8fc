package rollout

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/runner"
)

// The stack pipeline's start-first update of its routed service, beside
// pipeline_test.go's cases, on the same fakes.

// deployedStack is a world whose stack "shop" runs web v1 and db db1.
func deployedStack(t *testing.T, src *fakeStackSource) (*world, *Engine, workload.Spec) {
	t.Helper()
	w := newWorld(t)
	e := w.engine(true, false)
	spec := fakeStackSpec("v1", plugin.StrategyDefault)
	spec.Source = src
	if _, err := e.Apply(context.Background(), spec, Intent{Redeploy: true, Generation: 1, Create: true}); err != nil {
		t.Fatalf("deploy v1: %v", err)
	}
	w.takeEvents()
	return w, e, spec
}

// TestAStackLeavesAnUnchangedRoutedServiceAlone: a commit that changes db
// only recreates db (compose's way) and starts nothing beside web, which
// keeps its container and the route.
func TestAStackLeavesAnUnchangedRoutedServiceAlone(t *testing.T) {
	w, e, spec := deployedStack(t, &fakeStackSource{fakeSource: fakeSource{Ref: "v1", Healthcheck: "/healthz"}})
	spec.Source = &fakeStackSource{fakeSource: fakeSource{Ref: "v1", Healthcheck: "/healthz"}, DB: "db2"}
	if _, err := e.Apply(context.Background(), spec, Intent{Redeploy: true, Generation: 2}); err != nil {
		t.Fatal(err)
	}
	want := []string{"step produce", "remove shop-db-1", "start shop-db-2", "step start", "step gate",
		"route shop -> [shop-web-1:80]", "record shop 2", "step swap", "step drain", "step reap"}
	if got := w.takeEvents(); !slices.Equal(got, want) {
		t.Errorf("events\n  %q\nwant\n  %q", got, want)
	}
	if got := w.names("shop"); !slices.Equal(got, []string{"shop-db-2", "shop-web-1"}) {
		t.Errorf("containers %v", got)
	}
}

// TestAStackGatesOnTheComposeHealthcheck: when web has a compose
// healthcheck, the Up waits for it: a new web that fails it fails the
// start, goes, and the old web serves on; one that passes takes the route
// without another gate.
func TestAStackGatesOnTheComposeHealthcheck(t *testing.T) {
	src := func(ref string) *fakeStackSource {
		return &fakeStackSource{fakeSource: fakeSource{Ref: ref}, Healthchecked: true}
	}
	w, e, spec := deployedStack(t, src("v1"))
	spec.Source = src("bad")
	_, err := e.Apply(context.Background(), spec, Intent{Redeploy: true, Generation: 2})
	for _, s := range []string{`container shop-web-2 of workload "shop" failed its gate`, "shop-web-2 is unhealthy", "log line of shop-web-2"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("the error does not say %q: %v", s, err)
		}
	}
	if got, want := w.takeEvents(), []string{"step produce", "start shop-web-2", "remove shop-web-2"}; !slices.Equal(got, want) {
		t.Errorf("events\n  %q\nwant\n  %q", got, want)
	}
	if got := w.routed("shop"); got != "shop-web-1:80" {
		t.Errorf("the route moved to %s", got)
	}

	spec.Source = src("v2")
	if _, err := e.Apply(context.Background(), spec, Intent{Redeploy: true, Generation: 2}); err != nil {
		t.Fatal(err)
	}
	// compose numbers a new container after those that exist.
	want := []string{"step produce", "start shop-web-2", "step start", "step gate", "route shop -> [shop-web-2:80]",
		"record shop 2", "step swap", "step drain", "retire shop-web-1", "step reap"}
	if got := w.takeEvents(); !slices.Equal(got, want) {
		t.Errorf("events\n  %q\nwant\n  %q", got, want)
	}
}

// TestAStackRetiresWhatAKillLeftUnrouted: a deploy killed between its
// start and its swap left a new web beside the routed one. The host read
// reports it as a stray, not live; the next converge removes it, and the
// next deploy retires it before it starts its own.
func TestAStackRetiresWhatAKillLeftUnrouted(t *testing.T) {
	w, e, spec := deployedStack(t, &fakeStackSource{fakeSource: fakeSource{Ref: "v1", Healthcheck: "/healthz"}})
	leftover := func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.instances["shop-web-2"] = &fakeInstance{image: "v2", number: 2, Instance: runner.Instance{ID: "shop-web-2", Name: "shop-web-2",
			State: docker.ContainerRunning, Recorded: workload.Recorded{Workload: "shop", Owner: "me"}, Service: "web",
			Published: "shop-web-2:80", Upstream: "shop-web-2:80", Created: time.Unix(100, 0)}}
	}
	leftover()
	o, err := e.Observe(context.Background(), "shop", "me")
	if err != nil {
		t.Fatal(err)
	}
	if names(o.Strays) == nil || !slices.Equal(names(o.Strays), []string{"shop-web-2"}) || slices.ContainsFunc(o.Live, func(in runner.Instance) bool { return in.Name == "shop-web-2" }) {
		t.Fatalf("the unrouted web: live %v, strays %v; want it a stray", names(o.Live), names(o.Strays))
	}
	if _, err := e.Apply(context.Background(), spec, Intent{Generation: 1}); err != nil {
		t.Fatal(err)
	}
	if got, want := w.takeEvents(), []string{"remove shop-web-2"}; !slices.Equal(got, want) {
		t.Errorf("the converge: events %q, want %q", got, want)
	}

	leftover()
	spec.Source = &fakeStackSource{fakeSource: fakeSource{Ref: "v2", Healthcheck: "/healthz"}}
	if _, err := e.Apply(context.Background(), spec, Intent{Redeploy: true, Generation: 2}); err != nil {
		t.Fatal(err)
	}
	want := []string{"step produce", "retire shop-web-2", "start shop-web-2", "step start", "step gate",
		"route shop -> [shop-web-2:80]", "record shop 2", "step swap", "step drain", "retire shop-web-1", "step reap"}
	if got := w.takeEvents(); !slices.Equal(got, want) {
		t.Errorf("events\n  %q\nwant\n  %q", got, want)
	}
}

// TestAStackConvergesFromAKillAfterItsSwap: a deploy killed right after
// its swap left the route on the new web, the old one parked in it for
// its drain and still running. The next converge routes the new web
// alone and removes the old one: it never routes back to it.
func TestAStackConvergesFromAKillAfterItsSwap(t *testing.T) {
	w, e, spec := deployedStack(t, &fakeStackSource{fakeSource: fakeSource{Ref: "v1", Healthcheck: "/healthz"}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.AfterStep = func(_ context.Context, _ string, s Step) {
		if s == StepSwap {
			cancel()
		}
	}
	spec.Source = &fakeStackSource{fakeSource: fakeSource{Ref: "v2", Healthcheck: "/healthz"}}
	if _, err := e.Apply(ctx, spec, Intent{Redeploy: true, Generation: 2}); err == nil {
		t.Fatal("the interrupted deploy succeeded")
	}
	w.mu.Lock()
	r := w.routes["shop"]
	r.Draining = []string{"shop-web-1:80"}
	w.routes["shop"] = r
	w.mu.Unlock()
	w.takeEvents()

	e.AfterStep = nil
	if _, err := e.Apply(context.Background(), spec, Intent{Generation: 2}); err != nil {
		t.Fatal(err)
	}
	if got, want := w.takeEvents(), []string{"route shop -> [shop-web-2:80]", "remove shop-web-1"}; !slices.Equal(got, want) {
		t.Errorf("the converge: events %q, want %q", got, want)
	}
	if got := w.names("shop"); !slices.Equal(got, []string{"shop-db-1", "shop-web-2"}) {
		t.Errorf("containers %v", got)
	}
}
