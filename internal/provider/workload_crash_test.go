package provider

import (
	"context"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/rollout"
)

// afterKill is what a kill of the provider right after one step of a
// blue-green deploy from v1 (blue) to v2 (green) leaves on the host.
type afterKill struct {
	blue   bool   // blue still exists
	green  bool   // green exists
	routed string // the container the route points at: "blue" or "green"
	serves string // what Caddy answers
}

// blueGreenSteps are the steps the containers pipeline runs for a
// blue-green deploy: the deploy this test kills.
var blueGreenSteps = rollout.ContainerSteps(plugin.StrategyBlueGreen)

// afterKillAt is, for every step of blueGreenSteps, what a kill right after
// it leaves: the CrashAt hook fires at the checkpoint that ends the step
// (rollout/deploy.go). Every step must have an entry: a new step needs its
// expectation before the test passes.
var afterKillAt = map[rollout.Step]afterKill{
	// The image is on the host; nothing running was touched.
	rollout.StepProduce: {blue: true, green: false, routed: "blue", serves: "v1"},
	// Green runs beside blue, not gated, not routed.
	rollout.StepStart: {blue: true, green: true, routed: "blue", serves: "v1"},
	// Green passed its gate; the route is still on blue.
	rollout.StepGate: {blue: true, green: true, routed: "blue", serves: "v1"},
	// The route points at green; blue still runs.
	rollout.StepSwap: {blue: true, green: true, routed: "green", serves: "v2"},
	// Blue has drained and is about to be reaped.
	rollout.StepDrain: {blue: true, green: true, routed: "green", serves: "v2"},
	// Blue is gone; green serves alone, though the state still says blue.
	rollout.StepReap: {blue: false, green: true, routed: "green", serves: "v2"},
}

// TestAccCrashAtEveryStepLeavesTrafficOnAGatedContainer kills a real
// `terraform apply` (the provider process exits abruptly through the
// TINYFORGE_CRASH_AT hook) right after each step of blueGreenSteps in a
// blue-green move from v1 to v2, and checks what the kill left against
// afterKillAt. Requests through Caddy never fail, the next apply converges,
// the plan after it is empty, and exactly one container remains.
func TestAccCrashAtEveryStepLeavesTrafficOnAGatedContainer(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	for step := range afterKillAt {
		if !slices.Contains(blueGreenSteps, step) {
			t.Errorf("afterKillAt has %q, which blueGreenSteps no longer has: remove it", step)
		}
	}
	env := newTestEnv(t)
	binary := acctest.ProviderBinary(t)
	for _, step := range blueGreenSteps {
		t.Run(string(step), func(t *testing.T) {
			want, ok := afterKillAt[step]
			if !ok {
				t.Fatalf("blueGreenSteps has %q, and afterKillAt does not say what a kill after it leaves: add it", step)
			}
			t.Parallel()
			caddy := acctest.StartCaddy(t)
			name := env.workloadName("crash-" + string(step))
			domain := name + ".test"
			wd := acctest.NewWorkdir(t, binary)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			config := func(ref string) string {
				return `terraform {
  required_providers {
    tinyforge = { source = "tinyforge/tinyforge" }
  }
}
` + env.provider(caddyBlock(caddy)) + routedWorkload(name, domain, "blue-green", ref)
			}
			t.Cleanup(func() {
				if _, err := wd.Destroy(context.Background()); err != nil {
					t.Errorf("destroy: %v", err)
				}
			})

			wd.WriteConfig(config(env.images.V1))
			if _, err := wd.Apply(ctx); err != nil {
				t.Fatalf("apply v1: %v", err)
			}
			ids := containerIDsOf(t, name)
			if len(ids) != 1 {
				t.Fatalf("after applying v1 the workload has containers %v, want blue alone", ids)
			}
			blue := ids[0]
			load := (&acctest.Load{URL: caddy.HTTPURL + "/", Host: domain, Clients: 2, Interval: 10 * time.Millisecond}).Start(ctx)
			defer load.Stop()

			wd.WriteConfig(config(env.images.V2))
			res, err := wd.Apply(ctx, CrashAtEnv+"="+string(step))
			if err == nil {
				t.Fatalf("the apply with %s=%s did not fail:\n%s", CrashAtEnv, step, res.Stdout)
			}
			if !regexp.MustCompile(`(?i)plugin`).MatchString(res.Stdout + res.Stderr) {
				t.Fatalf("the apply failed, but not by the provider exiting:\n%s\n%s", res.Stdout, res.Stderr)
			}

			checkKillLeft(t, caddy, domain, name, step, blue, containerIDsOf(t, name), want, want.serves)

			if res, err := wd.Apply(ctx); err != nil {
				t.Fatalf("the apply after the kill did not converge: %v\n%s", err, res.Stdout)
			}
			plan, err := wd.Plan(ctx)
			if err != nil || plan.HasChanges {
				t.Fatalf("the plan after converging is not empty (%v):\n%s", err, plan.Stdout)
			}
			if names := containersOf(t, name); len(names) != 1 {
				t.Fatalf("after converging the workload has %d containers: %v", len(names), names)
			}
			if err := through(caddy, domain, "v2")(nil); err != nil {
				t.Fatalf("after converging: %v", err)
			}
			stats := load.Stop()
			t.Logf("crash at %s: %d requests through Caddy, %d failed, answers %v", step, stats.Total, stats.Failed, stats.Bodies)
			if stats.Failed != 0 {
				t.Fatalf("%d requests failed: %v", stats.Failed, stats.FirstFailures)
			}
			if stats.Total == 0 {
				t.Fatal("the load sent nothing")
			}
			for body := range stats.Bodies {
				if body != "v1" && body != "v2" {
					t.Fatalf("an answer was neither v1 nor v2: %q", body)
				}
			}
		})
	}
}

// checkKillLeft checks what a kill right after step left of a move away
// from blue, whose containers are now ids, against want: blue or not, one
// green or none, the route on the one want says, Caddy answering serves.
// It returns the green, if any.
func checkKillLeft(t *testing.T, caddy *acctest.Caddy, domain, workload string, step rollout.Step, blue string, ids []string,
	want afterKill, serves string) (green string) {
	t.Helper()
	blueThere := false
	for _, id := range ids {
		switch {
		case id == blue:
			blueThere = true
		case green == "":
			green = id
		default:
			t.Fatalf("after the kill at %s the workload has more than blue and one green: %v", step, ids)
		}
	}
	if blueThere != want.blue || (green != "") != want.green {
		t.Fatalf("after the kill at %s: blue there %v, green there %v (containers %v); want blue %v, green %v",
			step, blueThere, green != "", ids, want.blue, want.green)
	}
	dial := strings.Trim(caddy.AdminGet(t, "/id/tinyforge-"+workload+"/handle/0/upstreams/0/dial"), `"`)
	routed := "elsewhere"
	switch {
	case blueThere && samePort(dial, publishedAt(t, blue)):
		routed = "blue"
	case green != "" && samePort(dial, publishedAt(t, green)):
		routed = "green"
	}
	if routed != want.routed {
		t.Fatalf("after the kill at %s the route dials %s (%s), want %s", step, dial, routed, want.routed)
	}
	if err := through(caddy, domain, serves)(nil); err != nil {
		t.Fatalf("after the kill at %s: %v", step, err)
	}
	return green
}

// containerIDsOf lists the full IDs of the workload's containers.
func containerIDsOf(t *testing.T, workload string) []string {
	t.Helper()
	return strings.Fields(acctest.Docker(t, "ps", "-aq", "--no-trunc", "--filter", "label=tinyforge.workload="+workload))
}

// publishedAt is the host address where the container's port 8080 is
// published.
func publishedAt(t *testing.T, id string) string {
	t.Helper()
	return strings.TrimSpace(strings.SplitN(acctest.Docker(t, "port", id, "8080/tcp"), "\n", 2)[0])
}

// samePort reports whether two host:port addresses have the same port (the
// route may name the loopback address the port is published on, or not).
func samePort(a, b string) bool {
	_, pa, errA := net.SplitHostPort(a)
	_, pb, errB := net.SplitHostPort(b)
	return errA == nil && errB == nil && pa == pb
}
