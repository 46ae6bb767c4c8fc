package rollout

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
)

// workerSpec is a worker "jobs" (no port, no domains) of 2 replicas at
// ref, by strategy.
func workerSpec(ref string, strategy plugin.Strategy) workload.Spec {
	return workload.Spec{Name: "jobs", Owner: "me", Strategy: strategy, Replicas: 2, Source: &fakeSource{Ref: ref, NoPort: true}}
}

// TestAWorkerDeploysWithoutARoute: blue-green starts the new replicas
// beside the old, gates them on their liveness, and only then removes the
// old (an overlap, nothing to drain); recreate stops the old first. No
// route is ever written.
func TestAWorkerDeploysWithoutARoute(t *testing.T) {
	want := map[plugin.Strategy][]string{
		plugin.StrategyBlueGreen: {"step produce", "start jobs-2-3", "start jobs-2-4", "step start", "step gate",
			"unroute jobs", "step swap", "remove jobs-1-1", "remove jobs-1-2", "step reap"},
		plugin.StrategyRecreate: {"step produce", "stop jobs-1-1", "stop jobs-1-2", "step stop", "start jobs-2-3",
			"start jobs-2-4", "step start", "step gate", "unroute jobs", "step swap", "remove jobs-1-1", "remove jobs-1-2", "step reap"},
	}
	for strategy, events := range want {
		t.Run(string(strategy), func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			e := w.engine(false, false)
			ctx := context.Background()
			if _, err := e.Apply(ctx, workerSpec("v1", strategy), Intent{Redeploy: true, Generation: 1, Create: true}); err != nil {
				t.Fatal(err)
			}
			w.takeEvents()
			res, err := e.Apply(ctx, workerSpec("v2", strategy), Intent{Redeploy: true, Generation: 2})
			if err != nil {
				t.Fatal(err)
			}
			if got := w.takeEvents(); !slices.Equal(got, events) {
				t.Errorf("events\n  %q\nwant\n  %q", got, events)
			}
			if w.routed("jobs") != "" || len(res.Live) != 2 || res.Upstreams() != nil {
				t.Errorf("after the deploy: route %q, live %v, upstreams %v", w.routed("jobs"), res.LiveNames(), res.Upstreams())
			}
		})
	}
}

// TestACrashLoopingWorkerFailsItsGate: the new replicas restart in a
// loop, fail their liveness window and go; the old ones keep running.
func TestACrashLoopingWorkerFailsItsGate(t *testing.T) {
	w := newWorld(t)
	e := w.engine(false, false)
	ctx := context.Background()
	if _, err := e.Apply(ctx, workerSpec("v1", plugin.StrategyBlueGreen), Intent{Redeploy: true, Generation: 1, Create: true}); err != nil {
		t.Fatal(err)
	}
	w.takeEvents()
	_, err := e.Apply(ctx, workerSpec("crash", plugin.StrategyBlueGreen), Intent{Redeploy: true, Generation: 2})
	if err == nil || !strings.Contains(err.Error(), "failed its gate") || !strings.Contains(err.Error(), "liveness window") {
		t.Fatalf("a crash-looping worker: %v", err)
	}
	if got := w.names("jobs"); !slices.Equal(got, []string{"jobs-1-1", "jobs-1-2"}) {
		t.Errorf("after the failed gate: %v, want the old replicas alone", got)
	}
	for _, n := range []string{"jobs-1-1", "jobs-1-2"} {
		if w.instances[n].State != "running" {
			t.Errorf("old replica %s is %s", n, w.instances[n].State)
		}
	}
}

// TestASwarmWorkerDeploysWithoutARoute: on Swarm a worker is a service
// of its replicas whose update is the gate, and no route is written.
func TestASwarmWorkerDeploysWithoutARoute(t *testing.T) {
	w := newWorld(t)
	e := w.engine(false, true)
	ctx := context.Background()
	for gen, ref := range []string{"v1", "v2"} {
		res, err := e.Apply(ctx, workerSpec(ref, plugin.StrategyDefault), Intent{Redeploy: true, Generation: gen + 1, Create: gen == 0})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"step produce", "update jobs " + ref + "@sha256:0", "step gate", "step swap", "step reap"}
		if got := w.takeEvents(); !slices.Equal(got, want) {
			t.Errorf("deploy of %s: events\n  %q\nwant\n  %q", ref, got, want)
		}
		if w.routed("jobs") != "" || res.Upstreams() != nil || res.Primary().Upstream != "" || w.services["jobs"].Desired != 2 {
			t.Errorf("after the deploy of %s: route %q, upstreams %v, %d replicas", ref, w.routed("jobs"), res.Upstreams(), w.services["jobs"].Desired)
		}
	}
}
