package provider

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// TestAccCrashLoopIsGatedByItsHealthcheck: containers that crash at once,
// restarting in a loop, with a healthcheck. Right after the start their
// port is often not published yet; the gate is still the health check they
// configured (never the liveness window), and it fails at once, saying the
// container crashed, with its log lines, leaving no container. Their
// /healthz answers 500: a process that lives a millisecond can still
// answer one probe on a loaded host, and a crash-looping app that is
// healthy in that moment would rightly pass its gate.
func TestAccCrashLoopIsGatedByItsHealthcheck(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	const n = 4
	prefix := acctest.UniqueName("crashloop")
	var names []string
	for i := range n {
		names = append(names, fmt.Sprintf("%s-%d", prefix, i))
		env.cleanUp(names[i])
	}
	wd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	wd.WriteConfig(tfConfig(env.provider("") + fmt.Sprintf(`
resource "tinyforge_workload" "w" {
  count          = %d
  name           = "%s-${count.index}"
  health_timeout = 60
  env            = { EXIT_AFTER = "1ms", HEALTH = "fail" }
  source {
    image {
      ref         = %q
      port        = 8080
      healthcheck = "/healthz"
    }
  }
}
`, n, prefix, env.images.V1)))
	start := time.Now()
	res, err := wd.Apply(ctx)
	took := time.Since(start)
	out := res.Stdout + res.Stderr
	if err == nil {
		t.Fatalf("crash-looping containers passed their gate:\n%s", out)
	}
	t.Logf("the apply failed after %s", took.Round(time.Millisecond))
	flat := strings.Join(strings.Fields(out), " ")
	if strings.Contains(flat, "liveness window") {
		t.Fatalf("a container with a healthcheck was gated by the liveness window:\n%s", out)
	}
	if got := strings.Count(flat, "health check /healthz: container"); got != n {
		t.Fatalf("%d of %d workloads failed their health check gate as crashed:\n%s", got, n, diagnostics(out))
	}
	if !strings.Contains(flat, "testapp exiting with code 3 on purpose") {
		t.Fatalf("the error lacks the container's log lines:\n%s", out)
	}
	if took > 50*time.Second {
		t.Fatalf("the gate took %s: a crash must fail it at once, not after the health timeout", took)
	}
	for _, name := range names {
		if left := containersOf(t, name); len(left) > 0 {
			t.Fatalf("the failed deploy of %s left %v", name, left)
		}
	}
}

// diagnostics is the part of terraform's output from its first error on:
// what a failure message needs, without the plan before it.
func diagnostics(out string) string {
	if i := strings.Index(out, "Error: "); i >= 0 {
		return out[i:]
	}
	return out
}
