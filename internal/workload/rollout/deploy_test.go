package rollout

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
)

// TestBlueGreenRunsEveryStepInOrder: a create, then a blue-green redeploy
// that goes through the steps of ContainerSteps(blue-green) in their order, swaps the route to
// green and reaps blue; a redeploy whose green fails its gate leaves blue
// routed, alone.
func TestBlueGreenRunsEveryStepInOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	name := f.name("bg")
	ctx := context.Background()

	res, err := f.engine.Apply(ctx, f.spec(name, f.images.V1), Intent{Redeploy: true, Generation: 1, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	blue := res.Primary()
	if f.through(name, "v1") != "v1" || res.Status() != StatusRunning || blue.Recorded.Generation != 1 {
		t.Fatalf("after create: %q through Caddy, %+v", f.through(name, "v1"), res.Observed)
	}
	f.takeSteps()

	res, err = f.engine.Apply(ctx, f.spec(name, f.images.V2), Intent{Redeploy: true, Generation: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.takeSteps(), ContainerSteps(plugin.StrategyBlueGreen); !slices.Equal(got, want) {
		t.Fatalf("steps %v, want %v", got, want)
	}
	// "deploy done" says how long each step took, in their order.
	if !stepTimingsLogged.MatchString(f.logs.String()) {
		t.Errorf("no step timings in the log of the redeploy:\n%s", f.logs.String())
	}
	if f.through(name, "v2") != "v2" || res.Primary().Recorded.Generation != 2 || len(res.Strays) != 0 {
		t.Fatalf("after the redeploy: %q through Caddy, %+v", f.through(name, "v2"), res.Observed)
	}
	if names := containerNames(t, name); len(names) != 1 || names[0] != res.Primary().Name {
		t.Fatalf("containers %v: want green alone", names)
	}

	green := res.Primary()
	bad := f.spec(name, f.images.FailHealth)
	bad.HealthTimeout = 2 * time.Second
	_, err = f.engine.Apply(ctx, bad, Intent{Redeploy: true, Generation: 3})
	if err == nil || !strings.Contains(err.Error(), "failed its gate") || !strings.Contains(err.Error(), `HTTP 500 "unhealthy"`) {
		t.Fatalf("a green that fails its gate: %v", err)
	}
	if got := f.takeSteps(); !slices.Equal(got, []Step{StepProduce, StepStart}) {
		t.Fatalf("steps of the failed deploy %v", got)
	}
	if names := containerNames(t, name); len(names) != 1 || names[0] != green.Name || f.through(name, "v2") != "v2" {
		t.Fatalf("after the failed gate: containers %v, %q through Caddy; want %s alone, v2", names, f.through(name, "v2"), green.Name)
	}
}

var stepTimingsLogged = regexp.MustCompile(`msg="deploy done".* steps="produce=\S+ start=\S+ gate=\S+ swap=\S+ drain=\S+ reap=\S+ after=\S+"`)

// TestInterruptedDeployRemovesGreen: the deploy's context is cancelled
// while green is gated; Apply returns only once green is gone, and the
// route stays on blue.
func TestInterruptedDeployRemovesGreen(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	name := f.name("int")
	if _, err := f.engine.Apply(context.Background(), f.spec(name, f.images.V1), Intent{Redeploy: true, Generation: 1, Create: true}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.engine.AfterStep = func(_ context.Context, _ string, s Step) {
		if s == StepStart {
			go func() { time.Sleep(500 * time.Millisecond); cancel() }()
		}
	}
	bad := f.spec(name, f.images.FailHealth)
	bad.HealthTimeout = 2 * time.Minute // the gate alone would wait this long
	start := time.Now()
	_, err := f.engine.Apply(ctx, bad, Intent{Redeploy: true, Generation: 2})
	if err == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("an interrupted deploy: %v", err)
	}
	if took := time.Since(start); took > time.Minute {
		t.Fatalf("the interrupted deploy returned after %s", took)
	}
	if names := containerNames(t, name); len(names) != 1 || !strings.HasPrefix(names[0], name+"-1-") || f.through(name, "v1") != "v1" {
		t.Fatalf("after the interrupt: containers %v, %q through Caddy; want blue alone, v1", names, f.through(name, "v1"))
	}
}

// TestRecreateRestoresTheOldInstanceWhenTheNewFails: recreate stops the
// old instance first; a new one that fails its gate is removed and the old
// one serves again.
func TestRecreateRestoresTheOldInstanceWhenTheNewFails(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	name := f.name("rec")
	ctx := context.Background()
	spec := f.spec(name, f.images.V1)
	spec.Strategy = plugin.StrategyRecreate
	res, err := f.engine.Apply(ctx, spec, Intent{Redeploy: true, Generation: 1, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	old := res.Primary()
	f.takeSteps()
	bad := f.spec(name, f.images.FailHealth)
	bad.Strategy, bad.HealthTimeout = plugin.StrategyRecreate, 2*time.Second
	if _, err := f.engine.Apply(ctx, bad, Intent{Redeploy: true, Generation: 2}); err == nil {
		t.Fatal("the failed recreate succeeded")
	}
	if got := f.takeSteps(); !slices.Equal(got, []Step{StepProduce, StepStop, StepStart}) {
		t.Fatalf("steps %v", got)
	}
	acctest.Eventually(t, 10*time.Second, 100*time.Millisecond, "the old instance does not serve again", func() bool {
		return f.through(name, "v1") == "v1"
	})
	if names := containerNames(t, name); len(names) != 1 || names[0] != old.Name {
		t.Fatalf("containers %v: want the old %s alone", names, old.Name)
	}
}

// TestCreateRefusesADeployedName: only import adopts.
func TestCreateRefusesADeployedName(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	name := f.name("taken")
	ctx := context.Background()
	if _, err := f.engine.Apply(ctx, f.spec(name, f.images.V1), Intent{Redeploy: true, Generation: 1, Create: true}); err != nil {
		t.Fatal(err)
	}
	other := f.spec(name, f.images.V2)
	other.Owner = "someone-else"
	_, err := f.engine.Apply(ctx, other, Intent{Redeploy: true, Generation: 1, Create: true})
	var taken *AlreadyDeployedError
	if !errors.As(err, &taken) {
		t.Fatalf("create of a deployed name: %v", err)
	}
	_, err = f.engine.Apply(ctx, other, Intent{Redeploy: true, Generation: 2})
	var foreign *ForeignOwnerError
	if !errors.As(err, &foreign) || foreign.Others[0] != "owner-"+name {
		t.Fatalf("redeploy of another owner's workload: %v", err)
	}
	if f.through(name, "v1") != "v1" || len(containerNames(t, name)) != 1 {
		t.Fatalf("the refused applies changed something: %q, %v", f.through(name, "v1"), containerNames(t, name))
	}
}
