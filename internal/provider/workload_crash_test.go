package provider

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/rollout"
)

// TestAccCrashAtEveryStepLeavesTrafficOnAGatedContainer kills a real
// `terraform apply` (the provider process exits abruptly through the
// TINYFORGE_CRASH_AT hook) in the middle of a blue-green move from v1 to v2:
// after green started, after its gate, after the swap, and before the reap.
// Requests through Caddy never fail, the next apply converges, the plan
// after it is empty, and exactly one container remains.
func TestAccCrashAtEveryStepLeavesTrafficOnAGatedContainer(t *testing.T) {
	env := newTestEnv(t)
	binary := acctest.ProviderBinary(t)
	for _, step := range []rollout.Step{rollout.StepStart, rollout.StepGate, rollout.StepSwap, rollout.StepDrain} {
		t.Run(string(step), func(t *testing.T) {
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
			// The kill came mid-deploy: blue and green both exist, and the
			// route is on blue until the swap, on green from it on.
			if names := containersOf(t, name); len(names) != 2 {
				t.Fatalf("after the kill at %s the workload has containers %v, want blue and green", step, names)
			}
			want := "v1"
			if step == rollout.StepSwap || step == rollout.StepDrain {
				want = "v2"
			}
			time.Sleep(300 * time.Millisecond)
			if status, body, err := caddy.GetE(domain, "/"); err != nil || status != 200 || strings.TrimSpace(body) != want {
				t.Fatalf("after the kill at %s, Caddy answered %d %q %v, want %s", step, status, body, err, want)
			}

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
			if status, body, _ := caddy.GetE(domain, "/"); status != 200 || strings.TrimSpace(body) != "v2" {
				t.Fatalf("after converging Caddy answered %d %q, want v2", status, body)
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
