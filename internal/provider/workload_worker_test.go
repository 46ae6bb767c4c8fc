package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// workerWorkload is a worker (an image source without a port) of 2
// replicas running `task steps...` by strategy, with env ROUND = round.
func workerWorkload(name, strategy, ref string, round int, steps ...string) string {
	quoted := make([]string, len(steps))
	for i, s := range steps {
		quoted[i] = strconv.Quote(s)
	}
	return fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name            = %q
  deploy_strategy = %q
  replicas        = 2
  command         = ["task", %s]
  stop_signal     = "SIGINT"
  stop_timeout    = 5
  health_timeout  = 20
  env             = { ROUND = "%d" }
  source {
    image {
      ref = %q
    }
  }
}
`, name, strategy, strings.Join(quoted, ", "), round, ref)
}

// eventsOf reads the events of the workload's containers between since and
// now, with the CLI.
func eventsOf(t *testing.T, workload string, since time.Time) []dockerEvent {
	return readEvents(t, acctest.Docker, since, "type=container", "label=tinyforge.workload="+workload)
}

// first is the time of the first event of action by a container of
// generation gen (zero when none); last the last one's.
func first(evs []dockerEvent, action, gen string) time.Time {
	for _, e := range evs {
		if e.Action == action && e.Attributes["tinyforge.generation"] == gen {
			return e.Time
		}
	}
	return time.Time{}
}

func last(evs []dockerEvent, action, gen string) time.Time {
	var out time.Time
	for _, e := range evs {
		if e.Action == action && e.Attributes["tinyforge.generation"] == gen {
			out = e.Time
		}
	}
	return out
}

// TestAccWorker: a workload without a port, 2 replicas. blue-green starts
// both new replicas before the old ones stop (an overlap), stops the old
// with stop_signal and they finish cleanly; no route is ever written,
// though the provider has a proxy; recreate stops first; a worker that
// crashes in a loop fails its gate and the previous replicas keep running.
func TestAccWorker(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	caddy := acctest.StartCaddy(t)
	name := env.workloadName("worker")
	wd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	t.Cleanup(func() { wd.Destroy(context.Background()) })
	cfg := func(strategy string, round int, steps ...string) string {
		return tfConfig(env.provider(caddyBlock(caddy)) + workerWorkload(name, strategy, env.images.V1, round, steps...))
	}
	working := []string{"print=working", "sleep=1h"}
	running := func(gen string) []string {
		t.Helper()
		return strings.Fields(acctest.Docker(t, "ps", "--filter", "label=tinyforge.workload="+name,
			"--filter", "label=tinyforge.generation="+gen, "--filter", "status=running", "--format", "{{.Names}}"))
	}

	wd.WriteConfig(cfg("blue-green", 1, working...))
	res, err := wd.Apply(ctx)
	mustSucceed(t, "create the worker", res, err)
	if n := len(running("1")); n != 2 {
		t.Fatalf("%d replicas of generation 1 run, want 2", n)
	}
	// The image EXPOSEs 8080; nothing is published ("->").
	if ports := acctest.Docker(t, "ps", "--filter", "label=tinyforge.workload="+name, "--format", "{{.Ports}}"); strings.Contains(ports, "->") {
		t.Fatalf("a worker publishes ports: %q", ports)
	}
	vals := webValues(t, ctx, wd)
	if vals["upstream"] != "" || vals["routed_to"] != nil || fmt.Sprint(vals["upstreams"]) != "[]" || vals["replicas_running"] != 2.0 {
		t.Fatalf("the worker's state: upstream %q, routed_to %v, upstreams %v, replicas_running %v; want \"\", null, [], 2",
			vals["upstream"], vals["routed_to"], vals["upstreams"], vals["replicas_running"])
	}

	// blue-green: both new replicas start before the old ones stop.
	since := time.Now().Add(-time.Second)
	wd.WriteConfig(cfg("blue-green", 2, working...))
	res, err = wd.Apply(ctx)
	mustSucceed(t, "redeploy the worker blue-green", res, err)
	evs := eventsOf(t, name, since)
	newStarted, oldStopped := last(evs, "start", "2"), first(evs, "die", "1")
	if newStarted.IsZero() || oldStopped.IsZero() || !newStarted.Before(oldStopped) {
		t.Fatalf("blue-green: the last new replica started at %s, the first old one died at %s: want an overlap\n%+v",
			newStarted.Format(time.StampMilli), oldStopped.Format(time.StampMilli), evs)
	}
	t.Logf("blue-green overlap: both new replicas ran %s before the first old one stopped", oldStopped.Sub(newStarted).Round(time.Millisecond))
	for _, e := range evs {
		gen, a := e.Attributes["tinyforge.generation"], e.Attributes
		if gen == "1" && e.Action == "kill" && a["signal"] != "2" {
			t.Errorf("an old replica was sent signal %s, want stop_signal SIGINT (2): %+v", a["signal"], e)
		}
		if gen == "1" && e.Action == "die" && a["exitCode"] != "0" {
			t.Errorf("an old replica did not finish cleanly on stop_signal: %+v", e)
		}
	}
	if n := len(running("2")); n != 2 || len(containersOf(t, name)) != 2 {
		t.Fatalf("after blue-green: %d of generation 2 run, %v in all; want the 2 new alone", n, containersOf(t, name))
	}
	noRouteWritten(t, caddy, name)
	plan, err := wd.Plan(ctx)
	if err != nil || plan.HasChanges {
		t.Fatalf("the plan after the deploy is not empty (%v):\n%s", err, plan.Stdout)
	}

	// recreate: the old replicas stop before the new start.
	since = time.Now().Add(-time.Second)
	wd.WriteConfig(cfg("recreate", 3, working...))
	res, err = wd.Apply(ctx)
	mustSucceed(t, "redeploy the worker by recreate", res, err)
	evs = eventsOf(t, name, since)
	oldDied, newStarted := last(evs, "die", "2"), first(evs, "start", "3")
	if oldDied.IsZero() || newStarted.IsZero() || !oldDied.Before(newStarted) {
		t.Fatalf("recreate: the last old replica died at %s, the first new started at %s: want stop first\n%+v",
			oldDied.Format(time.StampMilli), newStarted.Format(time.StampMilli), evs)
	}
	if n := len(running("3")); n != 2 {
		t.Fatalf("after recreate %d of generation 3 run, want 2", n)
	}

	// A crash loop fails its gate; generation 3 keeps running.
	wd.WriteConfig(cfg("blue-green", 4, "print=crashing", "exit=3"))
	res, err = wd.Apply(ctx)
	mustFail(t, "a crash-looping worker", res, err, wrapped(`failed its gate`, `liveness window`))
	if got := running("3"); len(got) != 2 || len(containersOf(t, name)) != 2 {
		t.Fatalf("after the failed gate: generation 3 runs %v, containers %v; want the 2 of generation 3 alone", got, containersOf(t, name))
	}
	noRouteWritten(t, caddy, name)
}

// noRouteWritten fails the test when Caddy's config holds a route of the
// workload (the whole config: a Caddy that was never given a route has
// no http app to read routes from).
func noRouteWritten(t *testing.T, c *acctest.Caddy, workload string) {
	t.Helper()
	if cfg := c.AdminGet(t, "/config/"); strings.Contains(cfg, `"tinyforge-`+workload+`"`) {
		t.Fatalf("Caddy holds a route of the worker %s: %s", workload, cfg)
	}
}

// webValues are the attributes of tinyforge_workload.web in the state of
// wd, as terraform show -json reads them.
func webValues(t *testing.T, ctx context.Context, wd *acctest.Workdir) map[string]any {
	t.Helper()
	res, err := wd.Run(ctx, []string{"show", "-json", "-no-color"})
	mustSucceed(t, "show -json", res, err)
	var state struct {
		Values struct {
			RootModule struct {
				Resources []struct {
					Address string         `json:"address"`
					Values  map[string]any `json:"values"`
				} `json:"resources"`
			} `json:"root_module"`
		} `json:"values"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &state); err != nil {
		t.Fatalf("show -json: %v", err)
	}
	for _, r := range state.Values.RootModule.Resources {
		if r.Address == web {
			return r.Values
		}
	}
	t.Fatalf("%s is not in the state", web)
	return nil
}
