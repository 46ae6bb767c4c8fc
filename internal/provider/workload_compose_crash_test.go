package provider

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/rollout"
)

// startFirstSteps are the steps the stack pipeline runs for a start-first
// update of a routed stack's web: the deploy this test kills.
var startFirstSteps = rollout.StackSteps(true, plugin.StrategyStartFirst)

// deployedStack is the test stack deployed by a real `terraform apply`,
// with a repository, a Caddy and a workdir of its own.
type deployedStack struct {
	caddy        *acctest.Caddy
	site         *siteRepo
	wd           *acctest.Workdir
	name, domain string
}

// deployStack deploys the test stack (web at version web, db one) as
// workload label, its configuration stackWorkload's as hcl changes it;
// the workload is destroyed when the test ends.
func deployStack(ctx context.Context, t *testing.T, label, web string, hcl func(string) string) deployedStack {
	t.Helper()
	env := newTestEnv(t)
	s := deployedStack{caddy: acctest.StartCaddy(t), site: newSiteRepo(t), wd: acctest.NewWorkdir(t, acctest.ProviderBinary(t))}
	s.name = env.workloadName(label)
	s.domain = s.name + ".test"
	removeStack(t, s.name)
	s.site.repo.CommitFiles(t, stackFiles(t, web, "one"), "web "+web)
	s.wd.WriteConfig(tfConfig(env.provider(caddyBlock(s.caddy)) + hcl(stackWorkload(s.name, s.domain, "", s.site))))
	res, err := s.wd.Apply(ctx)
	mustSucceed(t, "deploy web "+web, res, err)
	t.Cleanup(func() {
		if res, err := s.wd.Destroy(context.Background()); err != nil {
			t.Errorf("destroy: %v\n%s", err, res.Stdout)
		}
	})
	return s
}

// TestAccComposeCrashAtEveryStep kills a real `terraform apply` (the
// provider exits abruptly through the TINYFORGE_CRASH_AT hook) right after
// each step of startFirstSteps, one after the other on one stack, each in
// a move of web to a new version, and checks what the kill left against
// afterKillAt (blue is the old web container, green the new one): the
// route only ever points at a web that passed its gate. Requests through
// Caddy never fail, the next apply converges, the plan after it is empty,
// and one web container remains, answering the new version.
func TestAccComposeCrashAtEveryStep(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	for _, step := range startFirstSteps {
		if _, ok := afterKillAt[step]; !ok {
			t.Fatalf("startFirstSteps has %q, and afterKillAt does not say what a kill after it leaves: add it", step)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	stack := deployStack(ctx, t, "crash-stack", "0", func(hcl string) string { return hcl })
	caddy, site, wd, name, domain := stack.caddy, stack.site, stack.wd, stack.name, stack.domain
	load := (&acctest.Load{URL: caddy.HTTPURL + "/", Host: domain, Clients: 2, Interval: 10 * time.Millisecond}).Start(ctx)
	defer load.Stop()

	for i, step := range startFirstSteps {
		from, to := fmt.Sprintf("web-%d", i), fmt.Sprintf("web-%d", i+1)
		want := afterKillAt[step]
		serves := map[string]string{"v1": from, "v2": to}[want.serves]
		ids := webContainers(t, name)
		if len(ids) != 1 {
			t.Fatalf("before the kill at %s the stack has web containers %v, want one", step, ids)
		}
		blue := ids[0]
		site.repo.CommitFiles(t, map[string]acctest.File{stackFile: {Content: []byte(stackCompose(fmt.Sprint(i+1), "one"))}}, to)
		res, err := wd.Apply(ctx, CrashAtEnv+"="+string(step))
		if err == nil {
			t.Fatalf("the apply with %s=%s did not fail:\n%s", CrashAtEnv, step, res.Stdout)
		}
		if !regexp.MustCompile(`(?i)plugin`).MatchString(res.Stdout + res.Stderr) {
			t.Fatalf("the apply failed, but not by the provider exiting:\n%s\n%s", res.Stdout, res.Stderr)
		}

		green := checkKillLeft(t, caddy, domain, name, step, blue, webContainers(t, name), want, serves)

		if res, err := wd.Apply(ctx); err != nil {
			t.Fatalf("the apply after the kill at %s did not converge: %v\n%s", step, err, res.Stdout)
		}
		if plan, err := wd.Plan(ctx); err != nil || plan.HasChanges {
			t.Fatalf("the plan after converging from the kill at %s is not empty (%v):\n%s", step, err, plan.Stdout)
		}
		if ids := webContainers(t, name); len(ids) != 1 {
			t.Fatalf("after converging from the kill at %s the stack has web containers %v, want one", step, ids)
		}
		if err := through(caddy, domain, to)(nil); err != nil {
			t.Fatalf("after converging from the kill at %s: %v", step, err)
		}
		t.Logf("kill at %s: old web there %v, new web there %v, route on %s; converged", step, want.blue, green != "", want.routed)
	}
	stats := load.Stop()
	t.Logf("%d requests through Caddy across the kills, %d failed, answers %v", stats.Total, stats.Failed, stats.Bodies)
	if stats.Failed != 0 || stats.Total == 0 {
		t.Fatalf("%d of %d requests failed: %v", stats.Failed, stats.Total, stats.FirstFailures)
	}
	for body := range stats.Bodies {
		if !regexp.MustCompile(`^web-[0-9]+$`).MatchString(body) {
			t.Fatalf("an answer was not one of web's versions: %q", body)
		}
	}
}

// TestAccComposeInterruptDuringTheGate sends SIGINT (Ctrl-C) to a real
// `terraform apply` while a stack's new web is being gated beside the
// old one (it never passes: the gate would wait 120 s): before terraform
// exits, the provider removes the new web, the route stays on the old
// one, which serves every request. The next commit's apply converges to
// one web container answering it, with an empty plan after.
func TestAccComposeInterruptDuringTheGate(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	stack := deployStack(ctx, t, "sigint-stack", "one", func(hcl string) string {
		return strings.Replace(hcl, "health_timeout  = 30", "health_timeout  = 120", 1)
	})
	caddy, site, wd, name, domain := stack.caddy, stack.site, stack.wd, stack.name, stack.domain
	old := webContainers(t, name)
	load := (&acctest.Load{URL: caddy.HTTPURL + "/", Host: domain, Clients: 2, Interval: 10 * time.Millisecond}).Start(ctx)
	defer load.Stop()

	site.repo.CommitFiles(t, map[string]acctest.File{stackFile: {Content: []byte(stackCompose("bad", "one", "HEALTH: fail"))}}, "web fails")
	res := interruptInTheGate(ctx, t, wd, 2*time.Minute, func() bool { return len(webContainers(t, name)) == 2 })
	if now := webContainers(t, name); strings.Join(now, " ") != strings.Join(old, " ") {
		t.Fatalf("after the interrupted apply returned, web containers %v; want the old %v alone\n%s", now, old, res.Stdout)
	}
	if err := through(caddy, domain, "web-one")(nil); err != nil {
		t.Fatal(err)
	}
	stats := load.Stop()
	t.Logf("during the interrupted deploy: %d requests through Caddy, %d failed, answers %v", stats.Total, stats.Failed, stats.Bodies)
	if stats.Failed != 0 || stats.Total == 0 || len(stats.Bodies) != 1 {
		t.Fatalf("%d of %d requests failed, answers %v: %v", stats.Failed, stats.Total, stats.Bodies, stats.FirstFailures)
	}

	site.repo.CommitFiles(t, map[string]acctest.File{stackFile: {Content: []byte(stackCompose("two", "one"))}}, "web two")
	res, err := wd.Apply(ctx)
	mustSucceed(t, "deploy web two after the interrupt", res, err)
	if plan, err := wd.Plan(ctx); err != nil || plan.HasChanges {
		t.Fatalf("the plan after the apply is not empty (%v):\n%s", err, plan.Stdout)
	}
	if ids := webContainers(t, name); len(ids) != 1 || ids[0] == old[0] {
		t.Fatalf("after the apply the stack has web containers %v (old %v), want one new", ids, old)
	}
	if err := through(caddy, domain, "web-two")(nil); err != nil {
		t.Fatal(err)
	}
}
