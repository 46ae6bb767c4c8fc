package provider

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// swarmFixture is a 3-node swarm (1 manager, 2 workers) of test hosts, a
// registry every node reaches holding the test app's health-checked
// images, an attachable overlay network and a Caddy container on it.
type swarmFixture struct {
	sw       *acctest.Swarm
	network  string
	caddy    *acctest.SwarmCaddy
	registry *acctest.Registry
	// refs are registry references (by tag) of the test images: v1, v2,
	// failhealth with a HEALTHCHECK; plain1, plain2 without one.
	refs map[string]string
}

func startSwarmFixture(t *testing.T, env *testEnv) *swarmFixture {
	t.Helper()
	start := time.Now()
	hs := acctest.StartHosts(t, 3, acctest.HostsOptions{})
	sw := hs.Swarm(t)
	m := sw.Manager
	reg := hs.StartRegistry(t)
	local := map[string]string{
		"v1":         acctest.HealthCheckedImage(t, env.images.V1),
		"v2":         acctest.HealthCheckedImage(t, env.images.V2),
		"failhealth": acctest.HealthCheckedImage(t, env.images.FailHealth),
		"plain1":     env.images.V1,
		"plain2":     env.images.V2,
	}
	f := &swarmFixture{sw: sw, network: acctest.UniqueName("ov"), registry: reg, refs: map[string]string{}}
	for _, img := range local {
		m.LoadImages(t, img)
	}
	for name, img := range local {
		f.refs[name] = reg.PushFrom(t, m, img, "swarmapp:"+name)
	}
	// From now on the registry asks for a login: the provider's pulls,
	// pushes and digest look-ups send it, and so must the nodes' pulls,
	// which get it with the service (with-registry-auth).
	reg.RequireLogin(swarmRegistryUser, swarmRegistryPassword)
	m.Docker(t, "network", "create", "--driver", "overlay", "--attachable", f.network)
	f.caddy = sw.StartSwarmCaddy(t, f.network)
	t.Logf("swarm fixture ready in %s (3 nodes, registry %s, Caddy at %s)", time.Since(start).Round(time.Millisecond), reg.Addr, f.caddy.HTTPURL)
	return f
}

// The swarm registry's login.
const swarmRegistryUser, swarmRegistryPassword = "deployer", "s3cret-swarm-pw"

func (f *swarmFixture) provider() string {
	return fmt.Sprintf(`
provider "tinyforge" {
  docker_host    = %q
  network        = %q
  swarm          = true
  swarm_registry = "%s/built"
  registry_auth {
    address  = %q
    username = %q
    password = %q
  }
  proxy {
    caddy { admin_url = %q }
  }
}
`, f.sw.Manager.DockerHost, f.network, f.registry.Addr, f.registry.Addr, swarmRegistryUser, swarmRegistryPassword, f.caddy.AdminURL)
}

func swarmWorkload(name, domain, strategy, ref string, replicas int) string {
	return swarmWorkloadOf(name, domain, strategy, replicas, fmt.Sprintf(`
  env = { GREETING = "hello" }
  volume {
    source = "%s-data"
    target = "/data"
  }
  source {
    image {
      ref  = %q
      port = 8080
    }
  }`, name, ref))
}

// swarmWorkloadOf is a workload resource "web" with body (its source, env,
// volumes, limits) and the outputs the test reads.
func swarmWorkloadOf(name, domain, strategy string, replicas int, body string) string {
	return fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name            = %q
  deploy_strategy = %q
  domains         = [%q]
  replicas        = %d
  health_timeout  = 30
%s
}

output "replicas_running" { value = tinyforge_workload.web.replicas_running }
output "status" { value = tinyforge_workload.web.status }
output "generation" { value = tinyforge_workload.web.generation }
`, name, strategy, domain, replicas, body)
}

// get asks the swarm's Caddy for domain once.
func (f *swarmFixture) get(domain string) (int, string, error) {
	req, _ := http.NewRequest(http.MethodGet, f.caddy.HTTPURL+"/", nil)
	req.Host = domain
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b)), nil
}

// serves waits (up to 20 s: Caddy reads tasks.<name> every second) until
// the domain answers want through Caddy.
func (f *swarmFixture) serves(t *testing.T, domain, want string) {
	t.Helper()
	var last string
	acctest.Eventually(t, 20*time.Second, 200*time.Millisecond, "Caddy does not serve "+domain+" with "+want, func() bool {
		status, body, err := f.get(domain)
		last = fmt.Sprintf("%d %q %v", status, body, err)
		return err == nil && status == 200 && body == want
	})
	_ = last
}

// taskNodes are the distinct nodes the service's running tasks run on.
func (f *swarmFixture) taskNodes(t *testing.T, service string) map[string]int {
	t.Helper()
	m := f.sw.Manager
	nodes := map[string]int{}
	ids, err := m.DockerE("service", "ps", "--quiet", "--filter", "desired-state=running", service)
	if err != nil || ids == "" {
		return nodes
	}
	out, err := m.DockerE(append([]string{"inspect", "--format", "{{.NodeID}} {{.Status.State}}"}, strings.Fields(ids)...)...)
	if err != nil {
		return nodes
	}
	for _, line := range strings.Split(out, "\n") {
		if fs := strings.Fields(line); len(fs) == 2 && fs[1] == "running" {
			nodes[fs[0]]++
		}
	}
	return nodes
}

func output(t *testing.T, ctx context.Context, wd *acctest.Workdir, name string) string {
	t.Helper()
	res, err := wd.Run(ctx, []string{"output", "-raw", name})
	mustSucceed(t, "terraform output "+name, res, err)
	return strings.TrimSpace(res.Stdout)
}

func emptyPlan(t *testing.T, ctx context.Context, wd *acctest.Workdir, after string) {
	t.Helper()
	plan, err := wd.Plan(ctx)
	if err != nil || plan.HasChanges {
		t.Fatalf("the plan after %s is not empty (%v):\n%s", after, err, plan.Stdout)
	}
}

// TestAccSwarmService runs its subtests side by side on one 3-node swarm
// (startSwarmFixture): Service, then UpdateThatKeepsTheImage
// (workload_swarm_update_test.go) and Release
// (workload_swarm_release_test.go). Service's worker crash comes after the
// other subtests are done with the swarm. One alone:
// -run 'TestAccSwarmService/UpdateThatKeepsTheImage'.
func TestAccSwarmService(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	began := time.Now()
	env := newTestEnv(t)
	f := startSwarmFixture(t, env)
	t.Cleanup(func() { t.Logf("TestAccSwarmService took %s", time.Since(began).Round(time.Millisecond)) })
	var others sync.WaitGroup
	t.Run("Service", func(t *testing.T) {
		t.Parallel()
		f.service(t, env, &others)
	})
	t.Run("UpdateThatKeepsTheImage", func(t *testing.T) {
		others.Add(1)
		t.Parallel()
		defer others.Done()
		f.updateThatKeepsTheImage(t, env)
	})
	t.Run("Release", func(t *testing.T) {
		others.Add(1)
		t.Parallel()
		defer others.Done()
		f.release(t, env)
	})
}

// service deploys a workload as a Swarm service on the 3-node swarm,
// routed by a Caddy on the overlay network through tasks.<name>: 3
// replicas on 3 nodes; a redeploy under load (Swarm's start-first update
// gated on the image's health check) fails no request; a new version
// whose health check fails is rolled back by Swarm, the apply fails with
// the task's error and the old version serves on; a plain Swarm update
// (stop-first, no health check) under the same load is measured for
// comparison; once the others are done with the swarm, a worker that
// crashes is followed by Caddy without an apply and the next refresh shows
// 3 replicas again; destroy leaves no service, task container or route.
func (f *swarmFixture) service(t *testing.T, env *testEnv, others *sync.WaitGroup) {
	m := f.sw.Manager
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	name := env.workloadName("swarm")
	domain := name + ".test"
	cfg := func(strategy, ref string) string {
		return tfConfig(f.provider() + swarmWorkload(name, domain, strategy, ref, 3))
	}
	wd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	t.Cleanup(func() { wd.Destroy(context.Background()) })
	load := func() *acctest.Run {
		return (&acctest.Load{URL: f.caddy.HTTPURL + "/", Host: domain, Clients: 2, Interval: 10 * time.Millisecond, Timeout: 15 * time.Second}).Start(ctx)
	}

	// 1. Three replicas, one per node, routed through tasks.<name>.
	wd.WriteConfig(cfg("blue-green", f.refs["v1"]))
	step := time.Now()
	res, err := wd.Apply(ctx)
	mustSucceed(t, "apply v1", res, err)
	t.Logf("create (3 replicas): %s", time.Since(step).Round(time.Millisecond))
	if strings.Contains(res.Stdout+res.Stderr, "HEALTHCHECK") {
		t.Fatalf("the apply of a health-checked image warns:\n%s", res.Stdout)
	}
	if nodes := f.taskNodes(t, name); len(nodes) != 3 {
		t.Fatalf("the service's running tasks are on nodes %v, want one on each of the 3", nodes)
	}
	if spec := m.Docker(t, "service", "inspect", "--format", "{{.Spec.EndpointSpec.Mode}} {{.Spec.TaskTemplate.ContainerSpec.Image}} {{.Spec.UpdateConfig.Order}} {{.Spec.UpdateConfig.FailureAction}}", name); !regexp.MustCompile(`^dnsrr ` + regexp.QuoteMeta(f.refs["v1"]) + `@sha256:[0-9a-f]{64} start-first rollback$`).MatchString(spec) {
		t.Fatalf("service spec %q: want dnsrr, the image by its tag and digest (%s@sha256:...), start-first, rollback", spec, f.refs["v1"])
	}
	f.serves(t, domain, "v1")
	if got := output(t, ctx, wd, "replicas_running"); got != "3" {
		t.Fatalf("replicas_running = %s, want 3", got)
	}
	emptyPlan(t, ctx, wd, "the create")
	if mounts := m.Docker(t, "service", "inspect", "--format", "{{range .Spec.TaskTemplate.ContainerSpec.Mounts}}{{.Type}} {{.Source}} {{.Target}}{{end}}", name); mounts != "volume "+name+"-data /data" {
		t.Fatalf("the service's mounts are %q, want the named volume %s-data at /data", mounts, name)
	}

	// 1b. Import: a new state adopts the service by name, and its plan is
	// empty. (That state is dropped, not destroyed: wd owns the service.)
	iwd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	iwd.WriteConfig(cfg("blue-green", f.refs["v1"]))
	res, err = iwd.Run(ctx, []string{"import", "-no-color", "-input=false", "tinyforge_workload.web", name})
	mustSucceed(t, "import the service", res, err)
	emptyPlan(t, ctx, iwd, "the import")

	// 2. A redeploy under load: 0 failed requests.
	run := load()
	wd.WriteConfig(cfg("blue-green", f.refs["v2"]))
	step = time.Now()
	res, err = wd.Apply(ctx)
	mustSucceed(t, "apply v2", res, err)
	t.Logf("gated redeploy (3 replicas, start-first, health-checked): %s", time.Since(step).Round(time.Millisecond))
	f.serves(t, domain, "v2")
	time.Sleep(2 * time.Second) // old tasks' records leave Caddy's view
	stats := run.Stop()
	t.Logf("gated Swarm update through Caddy: %d requests, %d failed, answers %v, p99 %s, max %s",
		stats.Total, stats.Failed, stats.Bodies, stats.Latency.P99, stats.Latency.Max)
	if stats.Failed != 0 || stats.Bodies["v2"] == 0 {
		t.Fatalf("%d of %d requests failed during the gated redeploy: %v", stats.Failed, stats.Total, stats.FirstFailures)
	}
	emptyPlan(t, ctx, wd, "the redeploy")

	// 2b. The route removed behind Terraform's back: the plan shows it, the
	// apply writes it again.
	req, _ := http.NewRequest(http.MethodDelete, f.caddy.AdminURL+"/id/tinyforge-"+name, nil)
	dresp, err := http.DefaultClient.Do(req)
	if err != nil || dresp.StatusCode != http.StatusOK {
		t.Fatalf("delete the route in Caddy: %v %v", dresp, err)
	}
	dresp.Body.Close()
	if plan, err := wd.Plan(ctx); err != nil || !plan.HasChanges || !strings.Contains(plan.Stdout, "routed_to") {
		t.Fatalf("the plan after the route was removed does not show it (%v):\n%s", err, plan.Stdout)
	}
	res, err = wd.Apply(ctx)
	mustSucceed(t, "apply after the route was removed", res, err)
	f.serves(t, domain, "v2")
	emptyPlan(t, ctx, wd, "the route was written again")

	// 3. A version whose health check fails: Swarm rolls back, the apply
	// fails with the task's error, v2 serves on.
	run = load()
	wd.WriteConfig(cfg("blue-green", f.refs["failhealth"]))
	step = time.Now()
	res, err = wd.Apply(ctx)
	if err == nil {
		t.Fatalf("the apply of a version that fails its health check succeeded:\n%s", res.Stdout)
	}
	out := res.Stdout + res.Stderr
	t.Logf("rolled-back apply failed after %s: %s", time.Since(step).Round(time.Millisecond), lastLine(out, "rolled"))
	if flat := strings.Join(strings.Fields(out), " "); !strings.Contains(flat, "rolled the update of service "+name+" back") || !regexp.MustCompile(`task \w+ on node \w+: .*(unhealthy|exit)`).MatchString(flat) {
		t.Fatalf("the failed apply does not say Swarm rolled back with the task's error:\n%s", out)
	}
	stats = run.Stop()
	t.Logf("through Caddy during the rolled-back update: %d requests, %d failed, answers %v", stats.Total, stats.Failed, stats.Bodies)
	if stats.Failed != 0 || stats.Bodies["v1"] != 0 {
		t.Fatalf("during the rolled-back update %d of %d requests failed, answers %v: %v", stats.Failed, stats.Total, stats.Bodies, stats.FirstFailures)
	}
	f.serves(t, domain, "v2")
	if st := output(t, ctx, wd, "status"); st != "running" {
		t.Logf("status in the state after the failed apply: %s", st)
	}
	res, err = wd.Run(ctx, []string{"apply", "-refresh-only", "-auto-approve", "-no-color"})
	mustSucceed(t, "refresh after the rollback", res, err)
	if st := output(t, ctx, wd, "status"); st != "rolled_back" {
		t.Fatalf("status after the rollback = %q, want rolled_back", st)
	}
	wd.WriteConfig(cfg("blue-green", f.refs["v2"]))
	res, err = wd.Apply(ctx)
	mustSucceed(t, "apply v2 again after the rollback", res, err)
	if st := output(t, ctx, wd, "status"); st != "running" {
		t.Fatalf("status after re-applying v2 = %q, want running", st)
	}
	emptyPlan(t, ctx, wd, "the apply after the rollback")

	// 4. The same under a plain Swarm update: stop-first, no health check
	// (deploy_strategy recreate, images without HEALTHCHECK).
	plain := env.workloadName("plain")
	plainDomain := plain + ".test"
	pwd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	t.Cleanup(func() { pwd.Destroy(context.Background()) })
	pcfg := func(ref string) string {
		return tfConfig(f.provider() + swarmWorkload(plain, plainDomain, "recreate", ref, 3))
	}
	pwd.WriteConfig(pcfg(f.refs["plain1"]))
	res, err = pwd.Apply(ctx)
	mustSucceed(t, "apply the plain service", res, err)
	if flat := strings.Join(strings.Fields(res.Stdout+res.Stderr), " "); !strings.Contains(flat, "declares no HEALTHCHECK: Swarm counts each new task of workload "+strconv.Quote(plain)+" ready as soon as it runs") {
		t.Fatalf("the apply of an image without a HEALTHCHECK does not warn that Swarm cannot gate it:\n%s", res.Stdout)
	}
	f.serves(t, plainDomain, "v1")
	prun := (&acctest.Load{URL: f.caddy.HTTPURL + "/", Host: plainDomain, Clients: 2, Interval: 10 * time.Millisecond, Timeout: 15 * time.Second}).Start(ctx)
	pwd.WriteConfig(pcfg(f.refs["plain2"]))
	step = time.Now()
	res, err = pwd.Apply(ctx)
	mustSucceed(t, "plain update", res, err)
	f.serves(t, plainDomain, "v2")
	time.Sleep(2 * time.Second)
	pstats := prun.Stop()
	t.Logf("PLAIN Swarm update (stop-first, no health check) through Caddy, the same load: %d requests, %d failed (%.2f%%), answers %v, max %s, took %s; first failures %v",
		pstats.Total, pstats.Failed, 100*float64(pstats.Failed)/float64(max(pstats.Total, 1)), pstats.Bodies, pstats.Latency.Max, time.Since(step).Round(time.Millisecond), pstats.FirstFailures)
	res, err = pwd.Destroy(ctx)
	mustSucceed(t, "destroy the plain service", res, err)

	// 4b. A dockerfile source: built on the manager, pushed to the swarm's
	// registry (which asks for the login), run by digest on two nodes; a
	// new commit is a gated redeploy.
	f.builtOnSwarm(t, ctx, env)

	// 4c. Swarm is a choice: without swarm = true, the manager is an
	// engine like any other and a workload is a container on it.
	f.containerOnManager(t, ctx, env)

	// 5. A worker crashes: Caddy follows without an apply; Swarm brings the
	// replicas back to 3.
	others.Wait()
	run = load()
	time.Sleep(time.Second)
	// The worker with the most tasks (start-first updates place the new
	// task beside the old one, so the spread may have moved); the manager
	// stays, with the Caddy.
	nodeID := func(h *acctest.Host) string { return h.Docker(t, "info", "--format", "{{.Swarm.NodeID}}") }
	victim, survivor := f.sw.Workers[0], f.sw.Workers[1]
	before := f.taskNodes(t, name)
	if before[nodeID(survivor)] > before[nodeID(victim)] {
		victim, survivor = survivor, victim
	}
	victimID, survivorID, managerID := nodeID(victim), nodeID(survivor), nodeID(m)
	if before[victimID] == 0 {
		t.Fatalf("no worker runs a task of the service: %v", before)
	}
	crashed := time.Now()
	victim.Crash(t)
	var down time.Duration
	acctest.Eventually(t, 3*time.Minute, 250*time.Millisecond, "the manager never saw the crashed worker down", func() bool {
		st, err := m.DockerE("node", "inspect", "--format", "{{.Status.State}}", victimID)
		if err == nil && st == "down" && down == 0 {
			down = time.Since(crashed)
		}
		return down > 0
	})
	acctest.Eventually(t, 3*time.Minute, 250*time.Millisecond, "Swarm did not bring the service back to 3 running tasks on the live nodes", func() bool {
		nodes := f.taskNodes(t, name)
		return nodes[victimID] == 0 && nodes[managerID]+nodes[survivorID] == 3
	})
	back := time.Since(crashed)
	t.Logf("the manager saw the worker down %s after the crash; 3 tasks ran on the live nodes %s after it", down.Round(time.Millisecond), back.Round(time.Millisecond))
	time.Sleep(5 * time.Second)
	stats = run.Stop()
	var firstBad, lastBad time.Time
	slow := 0
	for _, s := range stats.Samples() {
		if !s.OK || s.Latency > time.Second {
			if firstBad.IsZero() {
				firstBad = s.Start
			}
			lastBad = s.Start.Add(s.Latency)
			slow++
		}
	}
	window, firstAt := time.Duration(0), time.Duration(0)
	if !firstBad.IsZero() {
		window, firstAt = lastBad.Sub(firstBad), firstBad.Sub(crashed)
	}
	t.Logf("worker crash: %d requests through Caddy, %d failed, %d failed or slower than 1 s over a window of %s (first at +%s after the crash), max latency %s; Swarm ran 3 tasks again %s after the crash; first failures %v",
		stats.Total, stats.Failed, slow, window.Round(time.Millisecond), firstAt.Round(time.Millisecond), stats.Latency.Max, back.Round(time.Millisecond), stats.FirstFailures)
	// Recovered: the last requests all succeeded, without an apply.
	samples := stats.Samples()
	for _, s := range samples[max(0, len(samples)-50):] {
		if !s.OK {
			t.Fatalf("traffic through Caddy did not recover after the crash: a failure among the last 50 requests (%d failed of %d)", stats.Failed, stats.Total)
		}
	}
	f.serves(t, domain, "v2")
	res, err = wd.Run(ctx, []string{"apply", "-refresh-only", "-auto-approve", "-no-color"})
	mustSucceed(t, "refresh after the crash", res, err)
	if got := output(t, ctx, wd, "replicas_running"); got != "3" {
		t.Fatalf("replicas_running after Swarm rescheduled = %s, want 3", got)
	}
	emptyPlan(t, ctx, wd, "the crash")

	// 6. Destroy: no service, no task container on the live nodes, no route.
	res, err = wd.Destroy(ctx)
	mustSucceed(t, "destroy", res, err)
	if out := m.Docker(t, "service", "ls", "--quiet", "--filter", "label=tinyforge.workload="+name); out != "" {
		t.Fatalf("destroy left service %s", out)
	}
	for _, h := range []*acctest.Host{m, survivor} {
		acctest.Eventually(t, 30*time.Second, 250*time.Millisecond, "destroy left task containers on "+h.Name, func() bool {
			out, err := h.DockerE("ps", "-aq", "--filter", "label=com.docker.swarm.service.name="+name)
			return err == nil && out == ""
		})
	}
	// Caddy answers a host no route matches with an empty 200.
	if status, body, err := f.get(domain); err != nil || body != "" {
		t.Fatalf("after destroy Caddy still routes %s: %d %q %v", domain, status, body, err)
	}
	resp, err := http.Get(f.caddy.AdminURL + "/id/tinyforge-" + name)
	if err != nil {
		t.Fatalf("ask Caddy for the route: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("after destroy the route tinyforge-%s is still in Caddy's config: %s", name, resp.Status)
	}
}

// builtOnSwarm deploys a dockerfile source on the swarm: the manager's
// engine builds it, the provider pushes it as <swarm_registry>/<name>:<tag>
// with the registry's login and the service runs it by digest on 2 nodes,
// gated on the image's HEALTHCHECK; a new commit redeploys, destroy removes
// the service.
func (f *swarmFixture) builtOnSwarm(t *testing.T, ctx context.Context, env *testEnv) {
	t.Helper()
	read := func(path string) []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	app, probe := read(env.images.Binary), read(acctest.HealthcheckBinary(t))
	git := acctest.StartGitServer(t)
	repo := git.CreateRepo(t, "acme", acctest.UniqueName("swarmapp"))
	commit := func(version string) string {
		return repo.CommitFiles(t, map[string]acctest.File{
			"Dockerfile": {Content: []byte("FROM scratch\n" + acctest.UniqueBuildLabel(t) + "\nCOPY testapp /testapp\nCOPY healthcheck /healthcheck\n" +
				"ENV VERSION=" + version + "\n" +
				"HEALTHCHECK --interval=1s --timeout=2s --retries=2 CMD [\"/healthcheck\", \"http://127.0.0.1:8080/healthz\"]\n" +
				"ENTRYPOINT [\"/testapp\"]\n")},
			"testapp":     {Content: app, Executable: true},
			"healthcheck": {Content: probe, Executable: true},
		}, "version "+version)
	}
	name := env.workloadName("built")
	domain := name + ".test"
	wd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	t.Cleanup(func() { wd.Destroy(context.Background()) })
	wd.WriteConfig(tfConfig(f.provider() + swarmWorkloadOf(name, domain, "blue-green", 2, fmt.Sprintf(`
  env = { GREETING = "hello" }
  source {
    dockerfile {
      base_url     = %q
      repo_owner   = %q
      repo_name    = %q
      access_token = %q
      port         = 8080
    }
  }`, git.URL, repo.Owner, repo.Name, git.Token))))
	pinned := regexp.MustCompile(`^` + regexp.QuoteMeta(f.registry.Addr+"/built/"+name) + `:[\w.-]+@sha256:[0-9a-f]{64}$`)
	image := func() string {
		return f.sw.Manager.Docker(t, "service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", name)
	}
	for i, version := range []string{"b1", "b2"} {
		sha := commit(version)
		step := time.Now()
		res, err := wd.Apply(ctx)
		mustSucceed(t, "apply the dockerfile source at "+version, res, err)
		t.Logf("dockerfile source on Swarm, %s (commit %s): built, pushed and rolled out in %s", version, sha[:12], time.Since(step).Round(time.Millisecond))
		f.serves(t, domain, version)
		img := image()
		if !pinned.MatchString(img) {
			t.Fatalf("the service runs %q, want the pushed image by its tag and digest, %s:<tag>@sha256:...", img, f.registry.Addr+"/built/"+name)
		}
		if nodes := f.taskNodes(t, name); len(nodes) != 2 {
			t.Fatalf("after apply %d the running tasks are on nodes %v, want one on each of 2", i+1, nodes)
		}
		emptyPlan(t, ctx, wd, "the apply of "+version)
	}
	// builds are the manager's images of the workload, by ID, with their
	// names (a task's pull adds the registry's name, without a tag).
	builds := func() map[string][]string {
		out := map[string][]string{}
		rows := f.sw.Manager.Docker(t, "images", "--no-trunc", "--filter", "label=tinyforge.workload="+name, "--format", "{{.ID}} {{.Repository}}:{{.Tag}}")
		for _, row := range strings.Split(rows, "\n") {
			if id, ref, ok := strings.Cut(row, " "); ok {
				out[id] = append(out[id], ref)
			}
		}
		return out
	}
	// tagged reports whether refs hold a tag (not a bare digest) under prefix.
	tagged := func(refs []string, prefix string) bool {
		return slices.ContainsFunc(refs, func(r string) bool { return strings.HasPrefix(r, prefix) && !strings.HasSuffix(r, ":<none>") })
	}
	// The manager keeps the two builds (the running one and the one before,
	// for a rollback) under the source's own tags; the registry's tags are
	// gone once pushed.
	got := builds()
	kept := len(got) == 2
	for _, refs := range got {
		kept = kept && tagged(refs, "tinyforge/"+name+":") && !tagged(refs, f.registry.Addr+"/")
	}
	if !kept {
		t.Fatalf("the manager holds the builds %v, want two (b1 and b2), each tagged tinyforge/%s:..., none by a registry tag", got, name)
	}
	res, err := wd.Destroy(ctx)
	mustSucceed(t, "destroy the dockerfile source", res, err)
	if out := f.sw.Manager.Docker(t, "service", "ls", "--quiet", "--filter", "name="+name); out != "" {
		t.Fatalf("destroy left service %s", out)
	}
	if flat := strings.Join(strings.Fields(res.Stdout+res.Stderr), " "); strings.Contains(flat, "Teardown warning") {
		t.Fatalf("destroy warned:\n%s", res.Stdout+res.Stderr)
	}
	if got := builds(); len(got) != 0 {
		t.Fatalf("destroy left the builds %v on the manager", got)
	}
}

// containerOnManager deploys a workload through a provider without swarm =
// true on the manager's engine: it runs as a container there, and no
// service is created.
func (f *swarmFixture) containerOnManager(t *testing.T, ctx context.Context, env *testEnv) {
	t.Helper()
	m := f.sw.Manager
	name := env.workloadName("onmgr")
	wd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	t.Cleanup(func() { wd.Destroy(context.Background()) })
	wd.WriteConfig(tfConfig(fmt.Sprintf(`
provider "tinyforge" {
  docker_host     = %q
  network         = %q
  publish_address = %q
}

resource "tinyforge_workload" "web" {
  name = %q
  source {
    image {
      ref  = %q
      port = 8080
    }
  }
}
`, m.DockerHost, acctest.UniqueName("tf-net"), m.Addr, name, env.images.V1)))
	res, err := wd.Apply(ctx)
	mustSucceed(t, "apply without swarm = true on the manager", res, err)
	if ids := m.Docker(t, "ps", "--quiet", "--filter", "label=tinyforge.workload="+name); ids == "" {
		t.Fatalf("without swarm = true no container of %s runs on the manager", name)
	}
	if svc := m.Docker(t, "service", "ls", "--quiet", "--filter", "label=tinyforge.workload="+name); svc != "" {
		t.Fatalf("without swarm = true the workload became service %s", svc)
	}
	emptyPlan(t, ctx, wd, "the container's apply")
	res, err = wd.Destroy(ctx)
	mustSucceed(t, "destroy the container on the manager", res, err)
	if ids := m.Docker(t, "ps", "-aq", "--filter", "label=tinyforge.workload="+name); ids != "" {
		t.Fatalf("destroy left containers %s on the manager", ids)
	}
}
