package provider

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// releaseWorkload is a workload routed on domain by strategy, running ref,
// that mounts the volume name-data at /data, with a release command
// (attrs: release_command and more), env vars and more attributes.
func releaseWorkload(name, domain, strategy, ref, attrs string) string {
	return fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name            = %q
  deploy_strategy = %q
  domains         = [%q]
  drain_timeout   = 1
  health_timeout  = 20
%s
  volume {
    source = "%s-data"
    target = "/data"
  }
  source {
    image {
      ref         = %q
      port        = 8080
      healthcheck = "/healthz"
    }
  }
}
`, name, strategy, domain, attrs, name, ref)
}

// oneOffs lists the release one-offs of the workload on the engine, with
// the CLI.
func oneOffs(t *testing.T, workload string) []string {
	t.Helper()
	return strings.Fields(acctest.Docker(t, "ps", "-a", "--filter", "label=tinyforge.release="+workload, "--format", "{{.Names}}"))
}

// removeVolumeAtEnd removes the workload's data volume when the test ends,
// after its containers (cleanups run last-registered first).
func removeVolumeAtEnd(t *testing.T, name string) {
	t.Cleanup(func() {
		if ids := oneOffs(t, name); len(ids) > 0 {
			acctest.DockerE(append([]string{"rm", "-f"}, ids...)...)
		}
		acctest.DockerE("volume", "rm", "-f", name+"-data")
	})
}

// releaseSteps are the step timings of each "deploy done" line of the
// provider's log at info ("produce=12ms release=1.2s start=..."), in order.
func releaseSteps(t *testing.T, logFile string) []string {
	t.Helper()
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile(`deploy done:.*?steps="([^"]*)"`).FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	return out
}

// TestAccRelease: a release command runs once per deploy and never else;
// one that fails, hangs or is interrupted changes nothing that serves,
// fails no request and leaves no one-off container; the next plan offers
// the same deploy again. Two workloads behind one Caddy, side by side.
func TestAccRelease(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	caddy := acctest.StartCaddy(t)
	binary := acctest.ProviderBinary(t)

	// Create, an apply that changes nothing, a refresh, an env change:
	// two runs, one per deploy, counted in the volume the web containers
	// mount too (GET /file reads it).
	t.Run("RunsOncePerDeploy", func(t *testing.T) {
		t.Parallel()
		name := env.workloadName("rel-once")
		removeVolumeAtEnd(t, name)
		domain := name + ".test"
		wd := acctest.NewWorkdir(t, binary)
		logFile := wd.CaptureLog("INFO")
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
		defer cancel()
		t.Cleanup(func() { wd.Destroy(context.Background()) })
		cfg := func(mode string) string {
			return tfConfig(env.provider(caddyBlock(caddy)) + releaseWorkload(name, domain, "blue-green", env.images.V1,
				fmt.Sprintf(`  env             = { MODE = %q }
  release_command = ["task", "append=/data/runs", "print=migrated"]`, mode)))
		}
		runs := func(want int, after string) {
			t.Helper()
			up := strings.Trim(acctest.Docker(t, "port", containersOf(t, name)[0], "8080/tcp"), "\n")
			status, body, err := httpGet("http://" + strings.SplitN(up, "\n", 2)[0] + "/file?path=/data/runs")
			if err != nil || status != 200 {
				t.Fatalf("read the runs after %s: %d %v", after, status, err)
			}
			if got := len(strings.Fields(body)) / 2; got != want {
				t.Fatalf("after %s the release ran %d times, want %d:\n%s", after, got, want, body)
			}
		}
		wd.WriteConfig(cfg("a"))
		res, err := wd.Apply(ctx)
		mustSucceed(t, "create", res, err)
		runs(1, "the create")
		res, err = wd.Apply(ctx)
		mustSucceed(t, "an apply that changes nothing", res, err)
		if !strings.Contains(res.Stdout, "0 added, 0 changed, 0 destroyed") {
			t.Fatalf("the second apply changed something:\n%s", res.Stdout)
		}
		runs(1, "an apply that changes nothing")
		res, err = wd.Run(ctx, []string{"apply", "-refresh-only", "-auto-approve", "-input=false", "-no-color"})
		mustSucceed(t, "refresh", res, err)
		runs(1, "a refresh")
		wd.WriteConfig(cfg("b"))
		res, err = wd.Apply(ctx)
		mustSucceed(t, "an env change", res, err)
		runs(2, "an env change")
		if err := through(caddy, domain, "v1")(nil); err != nil {
			t.Fatal(err)
		}
		plan, err := wd.Plan(ctx)
		if err != nil || plan.HasChanges {
			t.Fatalf("the plan after the deploy is not empty (%v):\n%s", err, plan.Stdout)
		}
		if left := oneOffs(t, name); len(left) != 0 {
			t.Fatalf("one-offs left: %v", left)
		}
		steps := releaseSteps(t, logFile)
		if len(steps) != 2 || !strings.Contains(steps[0], "release=") {
			t.Fatalf("deploys logged %q, want 2 with a release step", steps)
		}
		logged, _ := os.ReadFile(logFile)
		if !strings.Contains(string(logged), "release: migrated") {
			t.Errorf("the release's output is not in the log at info")
		}
		t.Logf("deploy steps with a release: %s", strings.Join(steps, " | "))
	})

	// A release that exits 3, then one that hangs past its timeout, then
	// one interrupted by Ctrl-C, by blue-green and by recreate (which
	// would stop v1 first if the release did not come before): v1 serves
	// throughout, under load, with no request failed.
	t.Run("FailsWithoutTouchingWhatServes", func(t *testing.T) {
		t.Parallel()
		name := env.workloadName("rel-fail")
		removeVolumeAtEnd(t, name)
		domain := name + ".test"
		wd := acctest.NewWorkdir(t, binary)
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		t.Cleanup(func() { wd.Destroy(context.Background()) })
		cfg := func(strategy, ref, release string) string {
			return tfConfig(env.provider(caddyBlock(caddy)) + releaseWorkload(name, domain, strategy, ref, release))
		}
		wd.WriteConfig(cfg("blue-green", env.images.V1, `  release_command = ["task", "print=ok"]`))
		res, err := wd.Apply(ctx)
		mustSucceed(t, "deploy v1", res, err)
		blue := liveIDs(t, name)
		load := (&acctest.Load{URL: caddy.HTTPURL + "/", Host: domain, Clients: 2, Interval: 10 * time.Millisecond}).Start(ctx)
		defer load.Stop()
		keptV1 := func(after string) {
			t.Helper()
			if now := liveIDs(t, name); strings.Join(now, " ") != strings.Join(blue, " ") {
				t.Fatalf("after %s, containers %v; want v1's %v alone", after, now, blue)
			}
			if err := through(caddy, domain, "v1")(nil); err != nil {
				t.Fatalf("after %s: %v", after, err)
			}
			if left := oneOffs(t, name); len(left) != 0 {
				t.Fatalf("after %s, one-offs left: %v", after, left)
			}
		}

		failing := `  release_command = ["task", "print=migrating", "lines=60", "stderr=boom", "exit=3"]`
		for _, strategy := range []string{"blue-green", "recreate"} {
			wd.WriteConfig(cfg(strategy, env.images.V2, failing))
			res, err = wd.Apply(ctx)
			mustFail(t, "a release that exits 3 ("+strategy+")", res, err, wrapped(`release command ["task" "print=migrating"`,
				`exited with code 3`, `nothing that runs was changed`, `its last 50 lines of output:`, `line 60`))
			if out := res.Stdout + res.Stderr; strings.Contains(out, "migrating\n") || !strings.Contains(out, "boom") {
				t.Fatalf("the error's output is not the last 50 lines (line 1 \"migrating\" cut, \"boom\" kept):\n%s", out)
			}
			keptV1("a failed release (" + strategy + ")")
		}
		// The plan offers the same deploy again.
		plan, err := wd.Plan(ctx)
		if err != nil || !plan.HasChanges || !regexp.MustCompile(`generation\s+= 1 -> 2`).MatchString(plan.Stdout) {
			t.Fatalf("after the failed release the plan does not offer generation 2 again (%v):\n%s", err, plan.Stdout)
		}

		wd.WriteConfig(cfg("blue-green", env.images.V2, `  release_command = ["task", "print=started", "sleep=1h"]
  release_timeout = 3`))
		res, err = wd.Apply(ctx)
		mustFail(t, "a release that hangs", res, err, wrapped(`did not end within its release_timeout of 3s and was killed`, `started`))
		keptV1("a release killed at its timeout")

		// Ctrl-C while the release runs: the one-off goes before
		// terraform exits.
		wd.WriteConfig(cfg("blue-green", env.images.V2, `  release_command = ["task", "print=started", "sleep=1h"]`))
		p, err := wd.Start(ctx, []string{"apply", "-auto-approve", "-input=false", "-no-color"})
		if err != nil {
			t.Fatal(err)
		}
		acctest.Eventually(t, 2*time.Minute, 100*time.Millisecond, "the release never started", func() bool {
			return len(oneOffs(t, name)) == 1
		})
		time.Sleep(500 * time.Millisecond)
		interruptApply(t, p)
		keptV1("an interrupted release")

		stats := load.Stop()
		t.Logf("across the failed deploys: %d requests through Caddy, %d failed, answers %v", stats.Total, stats.Failed, stats.Bodies)
		if stats.Failed != 0 || stats.Total == 0 {
			t.Fatalf("%d of %d requests failed: %v", stats.Failed, stats.Total, stats.FirstFailures)
		}
		// Fixed: the same deploy goes through.
		wd.WriteConfig(cfg("blue-green", env.images.V2, `  release_command = ["task", "print=ok"]`))
		res, err = wd.Apply(ctx)
		mustSucceed(t, "deploy v2 with a release that passes", res, err)
		if err := through(caddy, domain, "v2")(nil); err != nil {
			t.Fatal(err)
		}
	})
}

// TestAccReleaseOnTheNetworkThroughTheEntrypoint: the one-off joins the
// workload's network (it reaches a peer container there by its name,
// which the engine's DNS answers on that network alone) and runs through
// the workload's own entrypoint (the release command replaces CMD only).
// A worker, whose entrypoint `/testapp task print=...` prints a marker
// before the steps its command (or the release command) gives: dropped,
// the one-off would run the image's bare /testapp, a server that never
// ends, and fail at release_timeout; without the network, the peer's
// name does not resolve and the get step exits 2.
func TestAccReleaseOnTheNetworkThroughTheEntrypoint(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	name := env.workloadName("rel-net")
	// The network exists before the provider's first apply (which uses
	// it as it is), so that the peer is on it from the start.
	acctest.Docker(t, "network", "create", "--label", acctest.LabelTestRun+"="+acctest.RunID(), env.network)
	peer := acctest.UniqueName("rel-peer")
	t.Cleanup(func() { acctest.DockerE("rm", "-f", peer) })
	acctest.Docker(t, "run", "--detach", "--name", peer, "--network", env.network,
		"--label", acctest.LabelTestRun+"="+acctest.RunID(), env.images.V2)
	wd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	logFile := wd.CaptureLog("INFO")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t.Cleanup(func() { wd.Destroy(context.Background()) })
	wd.WriteConfig(tfConfig(env.provider("") + fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name            = %q
  entrypoint      = ["/testapp", "task", "print=through-the-entrypoint"]
  command         = ["sleep=1h"]
  release_command = ["get=http://%s:8080/"]
  release_timeout = 30
  stop_timeout    = 1
  health_timeout  = 20
  source {
    image {
      ref = %q
    }
  }
}
`, name, peer, env.images.V1)))
	res, err := wd.Apply(ctx)
	mustSucceed(t, "a release that gets a peer on the workload's network", res, err)
	logged, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	// The entrypoint's marker, then the peer's answer, both from the one-off.
	if m := regexp.MustCompile(`(?s)release: through-the-entrypoint.*release: 200 v2`).Find(logged); m == nil {
		t.Fatalf("the release's output at info lacks the entrypoint's marker followed by the peer's answer \"200 v2\":\n%s",
			strings.Join(regexp.MustCompile(`release: [^"\n]*`).FindAllString(string(logged), -1), "\n"))
	}
	if left := oneOffs(t, name); len(left) != 0 {
		t.Fatalf("one-offs left: %v", left)
	}
	plan, err := wd.Plan(ctx)
	if err != nil || plan.HasChanges {
		t.Fatalf("the plan after the deploy is not empty (%v):\n%s", err, plan.Stdout)
	}
}
