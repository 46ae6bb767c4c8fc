package provider

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// interruptApply sends SIGINT (Ctrl-C) to a running `terraform apply` and
// waits for it to exit, which it must do with an error; it logs how long
// terraform took.
func interruptApply(t *testing.T, p *acctest.Process) acctest.Result {
	t.Helper()
	interrupted := time.Now()
	if err := p.Interrupt(); err != nil {
		t.Fatal(err)
	}
	res, err := p.Wait()
	t.Logf("terraform exited %s after the interrupt, code %d", time.Since(interrupted).Round(time.Millisecond), res.ExitCode)
	if err == nil {
		t.Fatalf("the interrupted apply succeeded:\n%s", res.Stdout)
	}
	return res
}

// TestAccInterruptDuringTheGateRemovesGreen sends SIGINT (Ctrl-C) to a real
// `terraform apply` while green is being gated: before terraform exits, the
// provider removes green on a fresh context (the request's is cancelled),
// the route stays on blue, and blue keeps serving every request.
func TestAccInterruptDuringTheGateRemovesGreen(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	caddy := acctest.StartCaddy(t)
	name := env.workloadName("sigint")
	domain := name + ".test"
	wd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cfg := func(ref string) string {
		return tfConfig(env.provider(caddyBlock(caddy)) + strings.Replace(routedWorkload(name, domain, "blue-green", ref),
			"health_timeout  = 20", "health_timeout  = 120", 1))
	}
	t.Cleanup(func() { wd.Destroy(context.Background()) })

	wd.WriteConfig(cfg(env.images.V1))
	res, err := wd.Apply(ctx)
	mustSucceed(t, "apply v1", res, err)
	blue := liveIDs(t, name)
	load := (&acctest.Load{URL: caddy.HTTPURL + "/", Host: domain, Clients: 2, Interval: 10 * time.Millisecond}).Start(ctx)
	defer load.Stop()

	// Green never passes its health check: the gate would wait 120 s.
	wd.WriteConfig(cfg(env.images.FailHealth))
	res = interruptInTheGate(ctx, t, wd, time.Minute, func() bool { return len(liveIDs(t, name)) == 2 })
	if now := liveIDs(t, name); strings.Join(now, " ") != strings.Join(blue, " ") {
		t.Fatalf("after the interrupted apply returned, containers %v; want blue %v alone (green removed)\n%s", now, blue, res.Stdout)
	}
	if err := through(caddy, domain, "v1")(nil); err != nil {
		t.Fatal(err)
	}
	stats := load.Stop()
	t.Logf("during the interrupted deploy: %d requests through Caddy, %d failed, answers %v", stats.Total, stats.Failed, stats.Bodies)
	if stats.Failed != 0 || stats.Total == 0 {
		t.Fatalf("%d of %d requests failed: %v", stats.Failed, stats.Total, stats.FirstFailures)
	}
	// The state still describes blue: the next plan wants the redeploy.
	wd.WriteConfig(cfg(env.images.V1))
	plan, err := wd.Plan(ctx)
	if err != nil || plan.HasChanges {
		t.Fatalf("with v1 configured again the plan is not empty (%v):\n%s", err, plan.Stdout)
	}
}

// interruptInTheGate starts `terraform apply` in wd, waits (at most
// within) until terraform modifies the workload and started says the new
// instances run beside the old ones, and interrupts it a second later,
// well inside a gate that never passes (interruptApply).
func interruptInTheGate(ctx context.Context, t *testing.T, wd *acctest.Workdir, within time.Duration, started func() bool) acctest.Result {
	t.Helper()
	p, err := wd.Start(ctx, []string{"apply", "-auto-approve", "-input=false", "-no-color"})
	if err != nil {
		t.Fatal(err)
	}
	acctest.Eventually(t, within, 100*time.Millisecond, "the new instances never started beside the old ones", func() bool {
		return strings.Contains(p.Stdout(), "Modifying...") && started()
	})
	time.Sleep(time.Second)
	return interruptApply(t, p)
}

// TestAccProxyOutageDuringTheSwap: Caddy's admin API refuses connections
// for a few seconds just when the swap is written; the apply retries and
// lands the swap, failing no request. When the admin API stays down past
// retry_timeout, the apply fails naming it, green is removed, and the
// route stays on blue, which keeps serving.
func TestAccProxyOutageDuringTheSwap(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	caddy := acctest.StartCaddy(t)
	front := acctest.StartFront(t, caddy.AdminURL)
	name := env.workloadName("outage")
	domain := name + ".test"
	wd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cfg := func(ref string) string {
		proxy := fmt.Sprintf(`  proxy {
    retry_timeout = 4
    caddy {
      admin_url = %q
      listen    = ["127.0.0.1:%d"]
    }
  }
`, front.URL, caddy.HTTPPort)
		return tfConfig(env.provider(proxy) + routedWorkload(name, domain, "blue-green", ref))
	}
	t.Cleanup(func() {
		front.Up()
		wd.Destroy(context.Background())
	})

	wd.WriteConfig(cfg(env.images.V1))
	res, err := wd.Apply(ctx)
	mustSucceed(t, "apply v1", res, err)
	load := (&acctest.Load{URL: caddy.HTTPURL + "/", Host: domain, Clients: 2, Interval: 10 * time.Millisecond}).Start(ctx)
	defer load.Stop()

	// The swap's write meets a dropped connection, then 2 s of refused
	// connections: within retry_timeout, so the swap lands.
	front.DownOnNextWrite(2 * time.Second)
	wd.WriteConfig(cfg(env.images.V2))
	res, err = wd.Apply(ctx)
	mustSucceed(t, "apply v2 through a 2 s outage of Caddy's admin API", res, err)
	if _, failed := front.Requests(); failed != 1 {
		t.Fatalf("the front failed %d requests on purpose; the outage did not happen as planned", failed)
	}
	if err := through(caddy, domain, "v2")(nil); err != nil {
		t.Fatalf("after the swap: %v", err)
	}
	if n := len(liveIDs(t, name)); n != 1 {
		t.Fatalf("%d containers after the swap, want green alone", n)
	}
	green := liveIDs(t, name)

	// Down for longer than retry_timeout: the apply fails cleanly.
	front.DownOnNextWrite(-1)
	wd.WriteConfig(cfg(env.images.V3))
	res, err = wd.Apply(ctx)
	mustFail(t, "apply v3 while Caddy's admin API stays down", res, err,
		regexp.MustCompile(`(?s)connection\s+refused.*kept\s+failing\s+for\s+4s,\s+the\s+retry\s+timeout`))
	if now := liveIDs(t, name); strings.Join(now, " ") != strings.Join(green, " ") {
		t.Fatalf("after the failed swap, containers %v; want v2's %v alone", now, green)
	}
	if err := through(caddy, domain, "v2")(nil); err != nil {
		t.Fatal(err)
	}
	stats := load.Stop()
	t.Logf("across both deploys: %d requests through Caddy, %d failed, answers %v", stats.Total, stats.Failed, stats.Bodies)
	if stats.Failed != 0 {
		t.Fatalf("%d of %d requests failed: %v", stats.Failed, stats.Total, stats.FirstFailures)
	}
	if err := front.Up(); err != nil {
		t.Fatal(err)
	}
}
