package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// updateThatKeepsTheImage redeploys a 3-replica service with changes that
// keep its image, each of which Swarm rolls out task by task: an env-only
// change under load (the apply returns once every task runs the new env,
// read from the tasks, and Swarm calls the update completed), a
// limits-only change (every task runs the new limits), and an env-only
// change whose health check fails (Swarm rolls back, the apply fails with
// the task's error and its last log lines, the old tasks serve on with no
// failed request, the state keeps the generation that serves and the next
// plan offers the same deploy again).
func (f *swarmFixture) updateThatKeepsTheImage(t *testing.T, env *testEnv) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	name := env.workloadName("keep")
	domain := name + ".test"
	cfg := func(body string) string {
		return tfConfig(f.provider() + swarmWorkloadOf(name, domain, "blue-green", 3, fmt.Sprintf(`
  source {
    image {
      ref  = %q
      port = 8080
    }
  }%s`, f.refs["v2"], body)))
	}
	wd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	t.Cleanup(func() { wd.Destroy(context.Background()) })
	// The load asks each task for its GREETING: the answers tell old tasks
	// from new.
	load := func() *acctest.Run {
		return (&acctest.Load{URL: f.caddy.HTTPURL + "/env/GREETING", Host: domain, Clients: 2, Interval: 10 * time.Millisecond, Timeout: 15 * time.Second}).Start(ctx)
	}

	wd.WriteConfig(cfg(`
  env = { GREETING = "one" }`))
	res, err := wd.Apply(ctx)
	mustSucceed(t, "apply GREETING=one", res, err)
	f.serves(t, domain, "v2")

	// 1. Env only: the same image, a new environment.
	gen := output(t, ctx, wd, "generation")
	run := load()
	wd.WriteConfig(cfg(`
  env = { GREETING = "two" }`))
	step := time.Now()
	res, err = wd.Apply(ctx)
	returned := time.Now()
	mustSucceed(t, "apply GREETING=two", res, err)
	u := f.updateStatus(t, name)
	tasks := f.runningTasks(t, name)
	t.Logf("env-only update: the apply took %s; Swarm's update %s (%s to %s), completed %s before the apply returned",
		returned.Sub(step).Round(time.Millisecond), u.took(), u.StartedAt.Format(time.StampMilli), u.CompletedAt.Format(time.StampMilli),
		returned.Sub(u.CompletedAt).Round(time.Millisecond))
	next := mustAtoi(t, gen) + 1
	if u.State != "completed" || u.CompletedAt.After(returned) || !tasks.all(3, "GREETING=two", next) {
		t.Fatalf("EARLY RETURN: the env-only apply returned at %s before Swarm was done: update %q completed at %s; running tasks %v (want 3 running with GREETING=two, generation %d)",
			returned.Format(time.StampMilli), u.State, u.CompletedAt.Format(time.StampMilli), tasks, next)
	}
	time.Sleep(2 * time.Second) // old tasks' records leave Caddy's view
	stats := run.Stop()
	t.Logf("env-only update through Caddy: %d requests, %d failed, answers %v", stats.Total, stats.Failed, stats.Bodies)
	if stats.Failed != 0 || stats.Bodies["two"] == 0 {
		t.Fatalf("%d of %d requests failed during the env-only update (answers %v): %v", stats.Failed, stats.Total, stats.Bodies, stats.FirstFailures)
	}
	if got := output(t, ctx, wd, "generation"); got != strconv.Itoa(next) {
		t.Fatalf("generation after the env-only update = %s, want %d", got, next)
	}
	emptyPlan(t, ctx, wd, "the env-only update")

	// 2. Limits only.
	wd.WriteConfig(cfg(`
  env    = { GREETING = "two" }
  memory = 64
  cpus   = 0.5`))
	step = time.Now()
	res, err = wd.Apply(ctx)
	returned = time.Now()
	mustSucceed(t, "apply memory = 64, cpus = 0.5", res, err)
	u, tasks = f.updateStatus(t, name), f.runningTasks(t, name)
	t.Logf("limits-only update: the apply took %s; Swarm's update %s", returned.Sub(step).Round(time.Millisecond), u.took())
	next++
	if u.State != "completed" || u.CompletedAt.After(returned) || !tasks.all(3, "GREETING=two", next) || !tasks.limits(64<<20, 5e8) {
		t.Fatalf("EARLY RETURN: the limits-only apply returned before Swarm was done: update %q completed at %s (apply returned at %s); running tasks %v (want 3 with 64 MiB and 0.5 CPUs)",
			u.State, u.CompletedAt.Format(time.StampMilli), returned.Format(time.StampMilli), tasks)
	}
	emptyPlan(t, ctx, wd, "the limits-only update")

	// 3. Env only, and the new tasks fail their health check: Swarm rolls
	// back, the apply fails, the old tasks serve on.
	served := strconv.Itoa(next)
	const failing = "three-7f3a9c" // an env value: no output may show it
	run = load()
	wd.WriteConfig(cfg(fmt.Sprintf(`
  env    = { GREETING = "%s", HEALTH = "fail" }
  memory = 64
  cpus   = 0.5`, failing)))
	step = time.Now()
	res, err = wd.Apply(ctx)
	if err == nil {
		t.Fatalf("the env-only apply whose health check fails succeeded:\n%s", res.Stdout)
	}
	out := strings.Join(strings.Fields(res.Stdout+res.Stderr), " ")
	u = f.updateStatus(t, name)
	t.Logf("env-only update that fails its health check: the apply failed after %s, Swarm's update %q took %s:\n%s",
		time.Since(step).Round(time.Millisecond), u.State, u.took(), res.Stderr)
	if !strings.Contains(out, "rolled the update of service "+name+" back") || !regexp.MustCompile(`task \w+ on node \w+: .*(unhealthy|exit)`).MatchString(out) ||
		!strings.Contains(out, "its last log lines:") || !strings.Contains(out, "health check failing on purpose") {
		t.Fatalf("the failed apply does not say Swarm rolled back with the task's error and its log lines:\n%s", res.Stdout+res.Stderr)
	}
	if strings.Contains(out, failing) {
		t.Fatalf("the failed apply shows an env value:\n%s", res.Stdout+res.Stderr)
	}
	stats = run.Stop()
	t.Logf("through Caddy during the rolled-back env-only update: %d requests, %d failed, answers %v", stats.Total, stats.Failed, stats.Bodies)
	if stats.Failed != 0 || stats.Bodies[failing] != 0 || stats.Bodies["two"] == 0 {
		t.Fatalf("during the rolled-back update %d of %d requests failed, answers %v (want only two): %v", stats.Failed, stats.Total, stats.Bodies, stats.FirstFailures)
	}
	if tasks = f.runningTasks(t, name); !tasks.all(3, "GREETING=two", next) {
		t.Fatalf("after the rollback the running tasks are %v, want 3 of generation %s with GREETING=two", tasks, served)
	}
	// The state keeps what serves (the resource's; a root output shows
	// the planned value until the next refresh); a refresh agrees and
	// says rolled_back.
	if got := stateGeneration(t, ctx, wd); got != served {
		t.Fatalf("generation in the state after the failed apply = %s, want %s (what serves)", got, served)
	}
	res, err = wd.Run(ctx, []string{"apply", "-refresh-only", "-auto-approve", "-no-color"})
	mustSucceed(t, "refresh after the rollback", res, err)
	if st, got := output(t, ctx, wd, "status"), stateGeneration(t, ctx, wd); st != "rolled_back" || got != served {
		t.Fatalf("after a refresh: status %s, generation %s; want rolled_back and %s", st, got, served)
	}
	// The next plan offers the same deploy again: a rising generation.
	plan, err := wd.Plan(ctx)
	if err != nil || !plan.HasChanges {
		t.Fatalf("the plan after the rollback offers no deploy (%v):\n%s", err, plan.Stdout)
	}
	m := regexp.MustCompile(`generation\s+=\s+(\d+)\s+->\s+(\d+)`).FindStringSubmatch(plan.Stdout)
	if m == nil || m[1] != served || m[2] != strconv.Itoa(next+1) {
		t.Fatalf("the plan after the rollback does not offer generation %s -> %d:\n%s", served, next+1, plan.Stdout)
	}

	res, err = wd.Destroy(ctx)
	mustSucceed(t, "destroy after the rollback", res, err)
	if out := f.sw.Manager.Docker(t, "service", "ls", "--quiet", "--filter", "label=tinyforge.workload="+name); out != "" {
		t.Fatalf("destroy left service %s", out)
	}
}

// stateGeneration is the generation of tinyforge_workload.web in wd's
// state.
func stateGeneration(t *testing.T, ctx context.Context, wd *acctest.Workdir) string {
	t.Helper()
	res, err := wd.Run(ctx, []string{"show", "-json", "-no-color"})
	mustSucceed(t, "terraform show -json", res, err)
	var state struct {
		Values struct {
			RootModule struct {
				Resources []struct {
					Address string
					Values  struct{ Generation json.Number }
				}
			} `json:"root_module"`
		}
	}
	if err := json.Unmarshal([]byte(res.Stdout), &state); err != nil {
		t.Fatalf("terraform show -json: %v", err)
	}
	for _, r := range state.Values.RootModule.Resources {
		if r.Address == "tinyforge_workload.web" {
			return r.Values.Generation.String()
		}
	}
	t.Fatalf("no tinyforge_workload.web in the state:\n%s", res.Stdout)
	return ""
}

// swarmUpdate is a service's UpdateStatus as the manager reports it.
type swarmUpdate struct {
	State                  string
	StartedAt, CompletedAt time.Time
}

// took is Swarm's own time for the update, "-" while it runs.
func (u swarmUpdate) took() string {
	if u.CompletedAt.IsZero() {
		return "-"
	}
	return u.CompletedAt.Sub(u.StartedAt).Round(time.Millisecond).String()
}

func (f *swarmFixture) updateStatus(t *testing.T, service string) swarmUpdate {
	t.Helper()
	var u swarmUpdate
	raw := f.sw.Manager.Docker(t, "service", "inspect", "--format", "{{json .UpdateStatus}}", service)
	if err := json.Unmarshal([]byte(raw), &u); err != nil {
		t.Fatalf("UpdateStatus of %s: %v (%s)", service, err, raw)
	}
	return u
}

// swarmTask is one task of a service, as the manager lists it.
type swarmTask struct {
	State      string
	Env        []string
	Generation string
	Memory     int64
	NanoCPUs   int64
}

type swarmTasks []swarmTask

// runningTasks are the service's tasks meant to run, read from the
// manager.
func (f *swarmFixture) runningTasks(t *testing.T, service string) swarmTasks {
	t.Helper()
	m := f.sw.Manager
	ids := m.Docker(t, "service", "ps", "--quiet", "--no-trunc", "--filter", "desired-state=running", service)
	if ids == "" {
		return nil
	}
	raw := m.Docker(t, append([]string{"inspect", "--type", "task", "--format",
		`{"State":{{json .Status.State}},"Env":{{json .Spec.ContainerSpec.Env}},"Generation":{{json (index .Spec.ContainerSpec.Labels "tinyforge.task.generation")}},` +
			`"Memory":{{if .Spec.Resources.Limits}}{{.Spec.Resources.Limits.MemoryBytes}}{{else}}0{{end}},"NanoCPUs":{{if .Spec.Resources.Limits}}{{.Spec.Resources.Limits.NanoCPUs}}{{else}}0{{end}}}`},
		strings.Fields(ids)...)...)
	var out swarmTasks
	for _, line := range strings.Split(raw, "\n") {
		var task swarmTask
		if err := json.Unmarshal([]byte(line), &task); err != nil {
			t.Fatalf("task %q: %v", line, err)
		}
		out = append(out, task)
	}
	return out
}

// all reports whether n tasks run, each with env and generation gen.
func (ts swarmTasks) all(n int, env string, gen int) bool {
	if len(ts) != n {
		return false
	}
	for _, task := range ts {
		if task.State != "running" || !slices.Contains(task.Env, env) || task.Generation != strconv.Itoa(gen) {
			return false
		}
	}
	return true
}

// limits reports whether every task has these limits.
func (ts swarmTasks) limits(memory, nanoCPUs int64) bool {
	for _, task := range ts {
		if task.Memory != memory || task.NanoCPUs != nanoCPUs {
			return false
		}
	}
	return len(ts) > 0
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return n
}
