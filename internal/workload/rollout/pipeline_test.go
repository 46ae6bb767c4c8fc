package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
)

// The fast tests of each pipeline's step order, against the world of
// fake_test.go: what each deploy starts, routes and removes, in which
// order, when it goes through, when a gate or a route write fails, and
// when it is interrupted after each of its steps. No Docker, no proxy:
// they run without TF_ACC, in milliseconds. The real-engine tests beside
// them (deploy_test.go, the provider's acceptance tests) prove the same
// pipelines on Docker and Caddy.

// fakeSpec is a routed workload "web" of the fake source at ref.
func fakeSpec(ref string, strategy plugin.Strategy) workload.Spec {
	return workload.Spec{
		Name: "web", Owner: "me", Strategy: strategy, Domains: []string{"web.test"},
		HealthTimeout: 2 * time.Second, DrainTimeout: time.Millisecond,
		Source: &fakeSource{Ref: ref, Healthcheck: "/healthz"},
	}
}

// fakeStackSpec is a stack workload "shop" whose web service is routed
// and runs ref, by strategy.
func fakeStackSpec(ref string, strategy plugin.Strategy) workload.Spec {
	return workload.Spec{
		Name: "shop", Owner: "me", Strategy: strategy, Domains: []string{"shop.test"}, HealthTimeout: 2 * time.Second,
		Source: &fakeStackSource{fakeSource: fakeSource{Ref: ref, Healthcheck: "/healthz"}},
	}
}

// fakeHealthcheckedStackSpec is fakeStackSpec whose web has a compose
// healthcheck and no healthcheck path: the stack's Up waits for it, and
// that wait is the gate.
func fakeHealthcheckedStackSpec(ref string) workload.Spec {
	spec := fakeStackSpec(ref, plugin.StrategyDefault)
	spec.Source = &fakeStackSource{fakeSource: fakeSource{Ref: ref}, Healthchecked: true}
	return spec
}

// fakeServiceSpec is a routed Swarm workload "api" (Swarm gates on the
// image's own health check: no probe path).
func fakeServiceSpec(ref string) workload.Spec {
	return workload.Spec{Name: "api", Owner: "me", Domains: []string{"api.test"}, Source: &fakeSource{Ref: ref}}
}

// pipelineCase is one pipeline and strategy: the world's engine, the
// first deploy (v1) and the redeploy under test (v2 or a bad one).
type pipelineCase struct {
	name            string
	stacks, service bool
	// release says the spec has a release command ("migrate").
	release bool
	spec    func(ref string) workload.Spec
	steps   []Step
}

var pipelineCases = withReleases([]pipelineCase{
	{name: "containers blue-green", spec: func(ref string) workload.Spec { return fakeSpec(ref, plugin.StrategyBlueGreen) },
		steps: ContainerSteps(plugin.StrategyBlueGreen)},
	{name: "containers recreate", spec: func(ref string) workload.Spec { return fakeSpec(ref, plugin.StrategyRecreate) },
		steps: ContainerSteps(plugin.StrategyRecreate)},
	{name: "stack", stacks: true, spec: func(ref string) workload.Spec { return fakeStackSpec(ref, plugin.StrategyDefault) },
		steps: StackSteps(true, plugin.StrategyStartFirst)},
	{name: "stack healthchecked", stacks: true, spec: fakeHealthcheckedStackSpec,
		steps: StackSteps(true, plugin.StrategyStartFirst)},
	{name: "stack recreate", stacks: true, spec: func(ref string) workload.Spec { return fakeStackSpec(ref, plugin.StrategyRecreate) },
		steps: StackSteps(true, plugin.StrategyRecreate)},
	{name: "service", service: true, spec: fakeServiceSpec, steps: ServiceSteps},
})

// withReleases adds, for each case whose pipeline runs a release command
// (all but a stack's), the same case with one: its steps gain the release
// step, and the tests below expect what they expect of the case without,
// plus the release's run right after produce (see expect).
func withReleases(cases []pipelineCase) []pipelineCase {
	out := slices.Clone(cases)
	for _, c := range cases {
		if c.stacks {
			continue
		}
		spec := c.spec
		out = append(out, pipelineCase{name: c.name + releaseSuffix, service: c.service, release: true,
			spec: func(ref string) workload.Spec {
				s := spec(ref)
				s.Release = workload.Release{Command: []string{"migrate"}}
				return s
			},
			steps: withStep(c.steps, StepRelease)})
	}
	return out
}

const releaseSuffix = " with a release"

// base is the name of c without its release: the key of the tests'
// expectations.
func (c pipelineCase) base() string { return strings.TrimSuffix(c.name, releaseSuffix) }

// expect is events, what a deploy of ref as generation 2 does without a
// release, with c's release: the one-off run of ref and the release step
// right after produce.
func (c pipelineCase) expect(events []string, ref string) []string {
	if !c.release {
		return events
	}
	name := c.spec("").Name
	run := fmt.Sprintf("release %s-2 of %s: migrate", name, ref)
	if c.service {
		run = fmt.Sprintf("job %s-2 of %s@sha256:0: migrate", name, ref)
	}
	return slices.Insert(slices.Clone(events), slices.Index(events, "step produce")+1, run, "step release")
}

// deployed is a world whose workload of c runs v1, and its engine.
func (c pipelineCase) deployed(t *testing.T) (*world, *Engine) {
	t.Helper()
	w := newWorld(t)
	e := w.engine(c.stacks, c.service)
	if _, err := e.Apply(context.Background(), c.spec("v1"), Intent{Redeploy: true, Generation: 1, Create: true}); err != nil {
		t.Fatalf("deploy v1: %v", err)
	}
	w.takeEvents()
	return w, e
}

// TestEveryPipelineListsItsStepsInTheOrderOfSteps: a pipeline may skip a
// step, never reorder one; and the engine picks each list for its spec.
func TestEveryPipelineListsItsStepsInTheOrderOfSteps(t *testing.T) {
	lists := map[string][]Step{"stack without a routed service": StackSteps(false, plugin.StrategyRecreate)}
	for _, c := range pipelineCases {
		lists[c.name] = c.steps
	}
	for name, list := range lists {
		i := 0
		for _, s := range list {
			j := slices.Index(Steps[i:], s)
			if j < 0 {
				t.Errorf("%s: steps %v are not in the order of %v", name, list, Steps)
				break
			}
			i += j + 1
		}
	}
	for _, c := range pipelineCases {
		w := newWorld(t)
		got, err := w.engine(c.stacks, c.service).StepsOf(c.spec("v1"))
		if err != nil || !slices.Equal(got, c.steps) {
			t.Errorf("%s: StepsOf = %v %v, want %v", c.name, got, err, c.steps)
		}
	}
}

// TestEachPipelineRunsItsStepsInOrder: a redeploy from v1 to v2 runs the
// pipeline's steps, in their order, doing at each what the runbook says.
func TestEachPipelineRunsItsStepsInOrder(t *testing.T) {
	want := map[string][]string{
		"containers blue-green": {"step produce", "start web-2-2", "step start", "step gate", "route web -> [web-2-2:80]",
			"step swap", "step drain", "remove web-1-1", "step reap"},
		"containers recreate": {"step produce", "stop web-1-1", "step stop", "start web-2-2", "step start", "step gate",
			"route web -> [web-2-2:80]", "step swap", "remove web-1-1", "step reap"},
		// The routed service's new container starts beside the old one,
		// takes the route once gated, and the old one goes after its
		// drain.
		"stack": {"step produce", "start shop-web-2", "step start", "step gate", "route shop -> [shop-web-2:80]",
			"record shop 2", "step swap", "step drain", "retire shop-web-1", "step reap"},
		// The same, the Up having waited for the compose healthcheck.
		"stack healthchecked": {"step produce", "start shop-web-2", "step start", "step gate", "route shop -> [shop-web-2:80]",
			"record shop 2", "step swap", "step drain", "retire shop-web-1", "step reap"},
		// compose recreates what changed in place.
		"stack recreate": {"step produce", "remove shop-web-1", "start shop-web-2", "step start", "step gate",
			"route shop -> [shop-web-2:80]", "record shop 2", "step swap", "step reap"},
		// Swarm's update is the gate; the route follows the tasks' DNS
		// name by itself.
		"service": {"step produce", "update api v2@sha256:0", "step gate", "step swap", "step reap"},
	}
	for _, c := range pipelineCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w, e := c.deployed(t)
			res, err := e.Apply(context.Background(), c.spec("v2"), Intent{Redeploy: true, Generation: 2})
			if err != nil {
				t.Fatal(err)
			}
			events, want := w.takeEvents(), c.expect(want[c.base()], "v2")
			if !slices.Equal(events, want) {
				t.Errorf("events\n  %q\nwant\n  %q", events, want)
			}
			if got := steps(events); !slices.Equal(got, c.steps) {
				t.Errorf("steps %v, want the pipeline's %v", got, c.steps)
			}
			if res.Status() != StatusRunning || res.Primary().Recorded.Generation != 2 || len(res.Strays) != 0 {
				t.Errorf("after the redeploy: status %s, %+v", res.Status(), res.Observed)
			}
		})
	}
}

// TestAFailedGateKeepsWhatServes: a v2 that fails its gate changes
// nothing that serves (recreate starts v1 again), removes what it started
// (a stack's container is compose's to keep when compose recreated it in
// place; Swarm rolls back itself), and says why. A stack's web that fails
// its compose healthcheck fails the Up itself: the new container goes,
// the old one keeps the route.
func TestAFailedGateKeepsWhatServes(t *testing.T) {
	want := map[string]struct {
		events []string
		err    []string
		// left are the workload's containers after the failed deploy.
		left []string
	}{
		"containers blue-green": {
			[]string{"step produce", "start web-2-2", "step start", "remove web-2-2"},
			[]string{"container web-2-2 of workload \"web\" failed its gate", `HTTP 500`, "log line of web-2-2"},
			[]string{"web-1-1"},
		},
		"containers recreate": {
			[]string{"step produce", "stop web-1-1", "step stop", "start web-2-2", "step start", "remove web-2-2", "resume web-1-1"},
			[]string{"container web-2-2 of workload \"web\" failed its gate", `HTTP 500`},
			[]string{"web-1-1"},
		},
		"stack": {
			[]string{"step produce", "start shop-web-2", "step start", "remove shop-web-2"},
			[]string{"container shop-web-2 of workload \"shop\" failed its gate", `HTTP 500`, "log line of shop-web-2"},
			[]string{"shop-db-1", "shop-web-1"},
		},
		"stack healthchecked": {
			[]string{"step produce", "start shop-web-2", "remove shop-web-2"},
			[]string{"container shop-web-2 of workload \"shop\" failed its gate", "shop-web-2 is unhealthy", "log line of shop-web-2"},
			[]string{"shop-db-1", "shop-web-1"},
		},
		"stack recreate": {
			[]string{"step produce", "remove shop-web-1", "start shop-web-2", "step start"},
			[]string{"container shop-web-2 of workload \"shop\" failed its gate", `HTTP 500`, "log line of shop-web-2"},
			[]string{"shop-db-1", "shop-web-2"},
		},
		"service": {
			[]string{"step produce", "roll back api"},
			[]string{"swarm rolled the update of service api back", "task 1: unhealthy"},
			nil,
		},
	}
	for _, c := range pipelineCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w, e := c.deployed(t)
			w.rollBack = true
			before := w.routed(c.spec("").Name)
			_, err := e.Apply(context.Background(), c.spec("bad"), Intent{Redeploy: true, Generation: 2})
			if err == nil {
				t.Fatal("the deploy of a bad version succeeded")
			}
			for _, s := range want[c.base()].err {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("the error does not say %q: %v", s, err)
				}
			}
			if events, want := w.takeEvents(), c.expect(want[c.base()].events, "bad"); !slices.Equal(events, want) {
				t.Errorf("events\n  %q\nwant\n  %q", events, want)
			}
			if got := w.routed(c.spec("").Name); got != before {
				t.Errorf("the route moved from %s to %s", before, got)
			}
			if got := w.names(c.spec("").Name); !slices.Equal(got, want[c.base()].left) {
				t.Errorf("containers after the failed deploy %v, want %v", got, want[c.base()].left)
			}
			if routed := strings.Split(before, ":")[0]; w.instances[routed] != nil && !w.instances[routed].Running() {
				t.Errorf("the routed %s is %s", routed, w.instances[routed].State)
			}
			o, err := e.Observe(context.Background(), c.spec("").Name, "me")
			if err != nil {
				t.Fatal(err)
			}
			if c.stacks {
				// The record stays on generation 1: the next plan offers
				// the deploy again.
				if o.Primary().Recorded.Generation != 1 {
					t.Errorf("the stack records generation %d", o.Primary().Recorded.Generation)
				}
				return
			}
			if o.Status() != StatusRunning && !c.service || o.Primary().Recorded.Generation != 1 || len(o.Strays) != 0 {
				t.Errorf("after the failed gate: status %s, %+v", o.Status(), o)
			}
		})
	}
}

// TestAFailedRouteWriteKeepsWhatServes: the proxy refuses the swap; the
// new instances go and the old serve (recreate starts them again); a
// stack keeps its record; the error names the route.
func TestAFailedRouteWriteKeepsWhatServes(t *testing.T) {
	want := map[string][]string{
		"containers blue-green": {"step produce", "start web-2-2", "step start", "step gate", "remove web-2-2"},
		"containers recreate": {"step produce", "stop web-1-1", "step stop", "start web-2-2", "step start", "step gate",
			"remove web-2-2", "resume web-1-1"},
		"stack":               {"step produce", "start shop-web-2", "step start", "step gate", "remove shop-web-2"},
		"stack healthchecked": {"step produce", "start shop-web-2", "step start", "step gate", "remove shop-web-2"},
		"stack recreate":      {"step produce", "remove shop-web-1", "start shop-web-2", "step start", "step gate"},
	}
	for _, c := range pipelineCases {
		if c.service {
			continue // a redeploy keeps the tasks' route: see TestAServiceWhoseRouteCannotBeWritten
		}
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w, e := c.deployed(t)
			name := c.spec("").Name
			before := w.routed(name)
			w.failUpsert = errors.New("proxy down")
			_, err := e.Apply(context.Background(), c.spec("v2"), Intent{Redeploy: true, Generation: 2})
			if err == nil || !strings.Contains(err.Error(), "proxy down") || !strings.Contains(err.Error(), "route [") {
				t.Fatalf("a refused swap: %v", err)
			}
			if events, want := w.takeEvents(), c.expect(want[c.base()], "v2"); !slices.Equal(events, want) {
				t.Errorf("events\n  %q\nwant\n  %q", events, want)
			}
			o, err := e.Observe(context.Background(), name, "me")
			if err != nil {
				t.Fatal(err)
			}
			if w.routed(name) != before || o.Status() != StatusRunning || o.Primary().Recorded.Generation != 1 || len(o.Strays) != 0 {
				t.Errorf("after the refused swap: route %s (was %s), status %s, %+v", w.routed(name), before, o.Status(), o)
			}
		})
	}
}

// TestAServiceWhoseRouteCannotBeWritten: Swarm runs the new service, the
// proxy refuses its first route; the apply fails naming the route, and
// the next apply, with the proxy back, routes the tasks.
func TestAServiceWhoseRouteCannotBeWritten(t *testing.T) {
	w := newWorld(t)
	e := w.engine(false, true)
	w.failUpsert = errors.New("proxy down")
	spec := fakeServiceSpec("v1")
	_, err := e.Apply(context.Background(), spec, Intent{Redeploy: true, Generation: 1, Create: true})
	if err == nil || !strings.Contains(err.Error(), "proxy down") || !strings.Contains(err.Error(), "tasks.api") {
		t.Fatalf("a refused route: %v", err)
	}
	if got, want := w.takeEvents(), []string{"step produce", "update api v1@sha256:0", "step gate"}; !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	w.failUpsert = nil
	if _, err := e.Apply(context.Background(), spec, Intent{Generation: 1}); err != nil {
		t.Fatal(err)
	}
	if got, want := w.takeEvents(), []string{"route api -> tasks.api"}; !slices.Equal(got, want) {
		t.Errorf("the converge: events %q, want %q", got, want)
	}
}

// interrupted is what an interrupt (the deploy's context cancelled) right
// after a step leaves: the workload's containers, where the route points.
type interrupted struct {
	names  []string
	routed string
}

// TestAnInterruptAfterEachStep cancels a redeploy from v1 to v2 right
// after each of its pipeline's steps; the steps after it run on until
// one needs the context. Until the swap, the deploy removes what it
// started and v1 serves (recreate starts it again); from the swap on, the
// route stays on v2, which passed its gate, and what the interrupt kept
// from being reaped is a stray for the next apply. Every such apply fails
// with the interrupt.
func TestAnInterruptAfterEachStep(t *testing.T) {
	v1, v2 := interrupted{[]string{"web-1-1"}, "web-1-1:80"}, interrupted{[]string{"web-2-2"}, "web-2-2:80"}
	both := interrupted{[]string{"web-1-1", "web-2-2"}, "web-2-2:80"}
	shop1 := interrupted{[]string{"shop-db-1", "shop-web-1"}, "shop-web-1:80"}
	shopBoth := interrupted{[]string{"shop-db-1", "shop-web-1", "shop-web-2"}, "shop-web-2:80"}
	shop2 := interrupted{[]string{"shop-db-1", "shop-web-2"}, "shop-web-2:80"}
	// Recreate: compose replaced web in place before the gate.
	shop2Unrouted := interrupted{[]string{"shop-db-1", "shop-web-2"}, "shop-web-1:80"}
	api := interrupted{nil, "tasks.api"}
	want := map[string]map[Step]interrupted{
		"containers blue-green": {StepProduce: v1, StepStart: v1, StepGate: v1, StepSwap: both, StepDrain: both, StepReap: v2},
		"containers recreate":   {StepProduce: v1, StepStop: v1, StepStart: v1, StepGate: v1, StepSwap: both, StepReap: v2},
		"stack": {StepProduce: shop1, StepStart: shop1, StepGate: shop1, StepSwap: shopBoth, StepDrain: shopBoth,
			StepReap: shop2},
		"stack healthchecked": {StepProduce: shop1, StepStart: shop1, StepGate: shop1, StepSwap: shopBoth,
			StepDrain: shopBoth, StepReap: shop2},
		"stack recreate": {StepProduce: shop1, StepStart: shop2Unrouted, StepGate: shop2Unrouted, StepSwap: shop2,
			StepReap: shop2},
		"service": {StepProduce: api, StepGate: api, StepSwap: api, StepReap: api},
	}
	for _, c := range pipelineCases {
		for _, step := range c.steps {
			t.Run(c.name+"/"+string(step), func(t *testing.T) {
				t.Parallel()
				w, e := c.deployed(t)
				name := c.spec("").Name
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				e.AfterStep = func(_ context.Context, _ string, s Step) {
					w.event("step %s", s)
					if s == step {
						cancel()
					}
				}
				_, err := e.Apply(ctx, c.spec("v2"), Intent{Redeploy: true, Generation: 2})
				if !errors.Is(err, context.Canceled) && (err == nil || !strings.Contains(err.Error(), context.Canceled.Error())) {
					t.Fatalf("the interrupted deploy: %v", err)
				}
				// The steps after it run on until one needs the context.
				events := w.takeEvents()
				if got := steps(events); !slices.Contains(got, step) || !slices.Equal(got, c.steps[:len(got)]) {
					t.Errorf("steps %v after an interrupt at %s", got, step)
				}
				// The release changes nothing that runs: what produce left.
				at := want[c.base()][step]
				if step == StepRelease {
					at = want[c.base()][StepProduce]
				}
				got := interrupted{w.names(name), w.routed(name)}
				if !slices.Equal(got.names, at.names) || got.routed != at.routed {
					t.Errorf("after an interrupt at %s: containers %v routed to %q, want %v routed to %q (events %q)",
						step, got.names, got.routed, at.names, at.routed, events)
				}
				for _, n := range got.names {
					if in := w.instances[n]; in.State != docker.ContainerRunning && n == strings.Split(got.routed, ":")[0] {
						t.Errorf("after an interrupt at %s the routed %s is %s", step, n, in.State)
					}
				}
			})
		}
	}
}

// TestEachPipelineTearsDownWhatItRuns: the route goes first, then what
// the runtime runs of the workload; nothing of it is left.
func TestEachPipelineTearsDownWhatItRuns(t *testing.T) {
	want := map[string][]string{
		"containers blue-green": {"unroute web", "remove web-1-1"},
		"containers recreate":   {"unroute web", "remove web-1-1"},
		"stack":                 {"unroute shop", "down shop"},
		"stack healthchecked":   {"unroute shop", "down shop"},
		"stack recreate":        {"unroute shop", "down shop"},
		"service":               {"unroute api", "remove service api"},
	}
	for _, c := range pipelineCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w, e := c.deployed(t)
			spec := c.spec("v1")
			if warnings, err := e.Teardown(context.Background(), spec); err != nil || len(warnings) != 0 {
				t.Fatalf("teardown: %v %v", warnings, err)
			}
			if events := w.takeEvents(); !slices.Equal(events, want[c.base()]) {
				t.Errorf("events %q, want %q", events, want[c.base()])
			}
			o, err := e.Observe(context.Background(), spec.Name, "")
			if err != nil || o.Status() != StatusMissing || len(w.names(spec.Name)) != 0 || w.routed(spec.Name) != "" {
				t.Errorf("after the teardown: %+v %v, containers %v", o, err, w.names(spec.Name))
			}
		})
	}
}
