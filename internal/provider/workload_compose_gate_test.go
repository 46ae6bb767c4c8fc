package provider

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// TestAccComposeStackGatedByLiveness: a routed stack whose web has
// neither a compose healthcheck nor a healthcheck path is updated
// start-first too, its new web gated by the liveness window. Under load
// through Caddy: a web that exits 2 s after it starts (compose's wait saw
// it running) fails the liveness gate with its log lines, and the old web
// serves on alone; the next commit's web passes, takes the route and is
// the one web left. No request fails across both deploys.
func TestAccComposeStackGatedByLiveness(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	stack := deployStack(ctx, t, "live-stack", "one", func(hcl string) string {
		return strings.Replace(hcl, "      healthcheck  = \"/healthz\"\n", "", 1)
	})
	caddy, site, wd, name, domain := stack.caddy, stack.site, stack.wd, stack.name, stack.domain
	if res, err := wd.Run(ctx, []string{"state", "show", "-no-color", "tinyforge_workload.web"}); err != nil ||
		!strings.Contains(strings.Join(strings.Fields(res.Stdout), " "), `effective_strategy = "start-first"`) {
		t.Fatalf("the stack without a healthcheck is not updated start-first (%v):\n%s", err, res.Stdout)
	}
	old := webContainers(t, name)
	load := (&acctest.Load{URL: caddy.HTTPURL + "/", Host: domain, Clients: 2, Interval: 10 * time.Millisecond}).Start(ctx)
	defer load.Stop()

	site.repo.CommitFiles(t, map[string]acctest.File{stackFile: {Content: []byte(stackCompose("crash", "one", "EXIT_AFTER: 2s"))}}, "web crashes")
	res, err := wd.Apply(ctx)
	mustFail(t, "a web that exits 2 s after it starts", res, err,
		wrapped("failed its gate", "liveness window", "last log lines of", "testapp exiting with code 3 on purpose"))
	if now := webContainers(t, name); strings.Join(now, " ") != strings.Join(old, " ") {
		t.Fatalf("after the failed gate the stack has web containers %v, want the old %v alone", now, old)
	}
	if err := through(caddy, domain, "web-one")(nil); err != nil {
		t.Fatal(err)
	}

	site.repo.CommitFiles(t, map[string]acctest.File{stackFile: {Content: []byte(stackCompose("two", "one"))}}, "web two")
	res, err = wd.Apply(ctx)
	mustSucceed(t, "deploy web two", res, err)
	if ids := webContainers(t, name); len(ids) != 1 || ids[0] == old[0] {
		t.Fatalf("after the apply the stack has web containers %v (old %v), want one new", ids, old)
	}
	if err := through(caddy, domain, "web-two")(nil); err != nil {
		t.Fatal(err)
	}
	stats := load.Stop()
	t.Logf("across the failed and the good deploy: %d requests through Caddy, %d failed, answers %v", stats.Total, stats.Failed, stats.Bodies)
	if stats.Failed != 0 || stats.Total == 0 {
		t.Fatalf("%d of %d requests failed: %v", stats.Failed, stats.Total, stats.FirstFailures)
	}
}
