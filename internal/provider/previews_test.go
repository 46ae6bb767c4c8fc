package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// previewsConfig is examples/previews/main.tf on the test's Git server,
// Caddy and network: a workload per open pull request, and production on
// main; plus the pull requests with forks, for the test to read.
func previewsConfig(env *testEnv, caddy *acctest.Caddy, app *appRepo, prefix string) string {
	return env.provider(caddyBlock(caddy)+fmt.Sprintf(`  git_auth {
    base_url = %[1]q
    token    = %[2]q
  }
`, app.git.URL, app.git.Token)) + fmt.Sprintf(`
data "tinyforge_pull_requests" "open" {
  git_provider = "github"
  base_url     = %[1]q
  repo_owner   = %[2]q
  repo_name    = %[3]q
}

data "tinyforge_pull_requests" "with_forks" {
  git_provider  = "github"
  base_url      = %[1]q
  repo_owner    = %[2]q
  repo_name     = %[3]q
  include_forks = true
}

resource "tinyforge_workload" "preview" {
  for_each = { for pr in data.tinyforge_pull_requests.open.pull_requests : tostring(pr.number) => pr }

  name          = "%[4]s-pr-${each.key}"
  domains       = ["pr-${each.key}.%[4]s.test"]
  drain_timeout = 1
  source {
    dockerfile {
      provider             = "github"
      base_url             = %[1]q
      repo_owner           = %[2]q
      repo_name            = %[3]q
      branch               = each.value.head_branch
      ref                  = each.value.head_sha
      port                 = 8080
      healthcheck          = "/healthz"
      report_commit_status = true
    }
  }
}

resource "tinyforge_workload" "production" {
  name          = "%[4]s-prod"
  domains       = ["%[4]s.test"]
  drain_timeout = 1
  source {
    dockerfile {
      provider    = "github"
      base_url    = %[1]q
      repo_owner  = %[2]q
      repo_name   = %[3]q
      branch      = "main"
      port        = 8080
      healthcheck = "/healthz"
    }
  }
}
`, app.git.URL, app.repo.Owner, app.repo.Name, prefix)
}

// pushVersion commits the test app answering version to branch.
func (a *appRepo) pushVersion(t *testing.T, branch, version string) string {
	t.Helper()
	return a.repo.CommitTo(t, branch, map[string]acctest.File{
		"Dockerfile": {Content: dockerfileOf(t, version)},
		"testapp":    {Content: a.bin, Executable: true},
	}, "version "+version)
}

// TestAccPreviewsFollowThePullRequests is the preview workflow end to end,
// with the real terraform CLI (for_each instances are beyond
// terraform-plugin-testing's state checks), the real Git server, Caddy and
// engine, and the GitHub stand-in: three open pull requests make three
// previews answering on their domains beside production on main, and
// GitHub sees a deployment per preview with its statuses and URL; a plan
// with nothing new makes one API call per data source and the same engine
// and proxy calls with three previews as with two; a push to one pull
// request redeploys it alone; closing one destroys it alone (route,
// containers, images) and marks its deployment inactive. A fork's pull
// request is left out unless asked for.
func TestAccPreviewsFollowThePullRequests(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	env := newTestEnv(t)
	caddy := acctest.StartCaddy(t)
	app := newAppRepo(t, env)
	prefix := acctest.UniqueName("pv")
	project := app.repo.Owner + "/" + app.repo.Name
	branches := map[string]string{"1": "add-login", "2": "fix-typo", "3": "dark-mode"}
	names, heads := map[string]string{}, map[string]string{}
	for n := range branches {
		names[n] = prefix + "-pr-" + n
		env.cleanUp(names[n])
	}
	prod := prefix + "-prod"
	env.cleanUp(prod)
	app.pushVersion(t, "main", "prod")
	for _, n := range []string{"1", "2", "3"} {
		heads[n] = app.pushVersion(t, branches[n], "v"+n)
		app.git.GitHub.OpenPullRequest(project, acctest.PullRequest{Number: int64(n[0] - '0'), Title: branches[n], Author: "dev", HeadBranch: branches[n]})
	}
	fork := app.git.CreateRepo(t, "outsider", app.repo.Name)
	forkHead := fork.CommitTo(t, "mine", map[string]acctest.File{"x": {Content: []byte("someone else's code")}}, "fork")
	app.git.GitHub.OpenPullRequest(project, acctest.PullRequest{Number: 4, Title: "from a fork", Author: "outsider", HeadBranch: "mine", Fork: "outsider/" + app.repo.Name})

	wd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	t.Cleanup(func() { wd.Destroy(context.Background()) })
	wd.WriteConfig(tfConfig(previewsConfig(env, caddy, app, prefix)))
	preview := func(n string) string { return `tinyforge_workload.preview["` + n + `"]` }
	domain := func(n string) string { return "pr-" + n + "." + prefix + ".test" }
	serves := func(host, want string) {
		t.Helper()
		if err := through(caddy, host, want)(nil); err != nil {
			t.Error(err)
		}
	}
	success := func(n, sha string) string { return sha[:7] + ":in_progress,success@http://" + domain(n) }
	expectDeployments := func(n string, want ...string) {
		t.Helper()
		if got := deploymentsOf(app.git.GitHub, project, names[n]); !slices.Equal(got, want) {
			t.Errorf("deployments of preview %s: %q, want %q", n, got, want)
		}
	}

	// 1. Three pull requests: three previews, and production.
	expectPlan(t, ctx, wd, map[string]string{preview("1"): "create", preview("2"): "create", preview("3"): "create",
		"tinyforge_workload.production": "create"})
	step := time.Now()
	res, err := wd.Apply(ctx)
	mustSucceed(t, "apply three previews", res, err)
	t.Logf("three previews and production created in %s", time.Since(step).Round(time.Millisecond))
	serves(domain("1"), "v1")
	serves(domain("2"), "v2")
	serves(domain("3"), "v3")
	serves(prefix+".test", "prod")
	for _, n := range []string{"1", "2", "3"} {
		expectDeployments(n, success(n, heads[n]))
	}
	statuses := app.git.GitHub.Statuses()
	for _, st := range statuses {
		n := strings.TrimPrefix(st.Context, "tinyforge/"+prefix+"-pr-")
		if st.TargetURL != "http://"+domain(n) {
			t.Errorf("commit status %+v does not link to its preview", st)
		}
	}
	if len(statuses) != 6 {
		t.Errorf("%d commit statuses, want pending and success of each preview, none of production: %+v", len(statuses), statuses)
	}
	state := readState(t, wd)
	if got := pullNumbers(state, "data.tinyforge_pull_requests.open"); got != "1,2,3" {
		t.Errorf("open pull requests %s, want 1,2,3: the fork's is left out", got)
	}
	if got := pullNumbers(state, "data.tinyforge_pull_requests.with_forks"); got != "1,2,3,4(fork "+forkHead[:7]+")" {
		t.Errorf("with forks: %s, want the fork's too", got)
	}
	if got := state[preview("2")]["source"]; !strings.Contains(fmt.Sprint(got), "preview_url:http://"+domain("2")) {
		t.Errorf("preview 2's source %v: want preview_url http://%s", got, domain("2"))
	}
	ids := containerIDs(state, preview("1"), preview("2"), preview("3"), "tinyforge_workload.production")

	// A plan with nothing new: no change, one call per data source, and as
	// many engine and proxy calls as a plan with fewer previews makes.
	threeCalls := idlePlan(t, ctx, wd, app.git, project)

	// 2. A push to pull request 2 redeploys it alone.
	moved := app.pushVersion(t, branches["2"], "v2b")
	expectPlan(t, ctx, wd, map[string]string{preview("2"): "update"})
	res, err = wd.Apply(ctx)
	mustSucceed(t, "apply the push", res, err)
	serves(domain("2"), "v2b")
	serves(domain("1"), "v1")
	serves(domain("3"), "v3")
	now := containerIDs(readState(t, wd), preview("1"), preview("2"), preview("3"), "tinyforge_workload.production")
	for addr, id := range ids {
		if moved := addr == preview("2"); (now[addr] != id) != moved {
			t.Errorf("%s: container %s, was %s (only preview 2 moves)", addr, now[addr], id)
		}
	}
	expectDeployments("2", success("2", heads["2"])+",inactive(host)", success("2", moved))
	expectDeployments("1", success("1", heads["1"]))

	// 3. Closing pull request 1 destroys its preview alone.
	app.git.GitHub.ClosePullRequest(project, 1, true)
	expectPlan(t, ctx, wd, map[string]string{preview("1"): "delete"})
	res, err = wd.Apply(ctx)
	mustSucceed(t, "apply the close", res, err)
	if left := containersOf(t, names["1"]); len(left) > 0 {
		t.Errorf("the closed preview's containers are left: %v", left)
	}
	if imgs := builtImagesOf(t, names["1"]); len(imgs) > 0 {
		t.Errorf("the closed preview's images are left: %v", imgs)
	}
	if err := noRoute(t, caddy, names["1"]); err != nil {
		t.Error(err)
	}
	expectDeployments("1", success("1", heads["1"])+",inactive")
	serves(domain("2"), "v2b")
	serves(domain("3"), "v3")
	serves(prefix+".test", "prod")
	twoCalls := idlePlan(t, ctx, wd, app.git, project)
	if !maps.Equal(threeCalls, twoCalls) {
		t.Errorf("engine and proxy calls of a plan grow with the previews: three %v, two %v", threeCalls, twoCalls)
	}

	// Destroy: nothing left, every deployment inactive.
	res, err = wd.Destroy(ctx)
	mustSucceed(t, "destroy", res, err)
	if err := noContainersLeft(t, names["2"], names["3"], prod)(nil); err != nil {
		t.Error(err)
	}
	for _, name := range []string{names["2"], names["3"], prod} {
		if imgs := builtImagesOf(t, name); len(imgs) > 0 {
			t.Errorf("destroy left the images of %s: %v", name, imgs)
		}
	}
	expectDeployments("3", success("3", heads["3"])+",inactive")
	t.Logf("wall time %s", time.Since(began).Round(time.Second))
}

// deploymentsOf lists the GitHub deployments of workload's preview
// environment, each as its commit's first 7 characters and its statuses
// (state, @environment_url, (host) when GitHub set it itself).
func deploymentsOf(api *acctest.HostAPI, project, workload string) []string {
	var out []string
	for _, d := range api.Deployments(project) {
		if d.Environment != "preview/"+workload {
			continue
		}
		var states []string
		for _, s := range d.Statuses {
			st := s.State
			if s.EnvironmentURL != "" {
				st += "@" + s.EnvironmentURL
			}
			if s.ByHost {
				st += "(host)"
			}
			states = append(states, st)
		}
		out = append(out, d.SHA[:7]+":"+strings.Join(states, ","))
	}
	return out
}

// expectPlan plans and checks that exactly the resources in want change,
// each by its action ("create", "update", "delete").
func expectPlan(t *testing.T, ctx context.Context, wd *acctest.Workdir, want map[string]string) {
	t.Helper()
	res, err := wd.Run(ctx, []string{"plan", "-input=false", "-no-color", "-out=tfplan"})
	mustSucceed(t, "plan", res, err)
	res, err = wd.Run(ctx, []string{"show", "-json", "tfplan"})
	mustSucceed(t, "show the plan", res, err)
	var plan struct {
		ResourceChanges []struct {
			Address string `json:"address"`
			Change  struct {
				Actions []string `json:"actions"`
			} `json:"change"`
		} `json:"resource_changes"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &plan); err != nil {
		t.Fatalf("read the plan: %v", err)
	}
	got := map[string]string{}
	for _, rc := range plan.ResourceChanges {
		if a := strings.Join(rc.Change.Actions, ","); a != "no-op" && a != "read" {
			got[rc.Address] = a
		}
	}
	if !maps.Equal(got, want) {
		t.Fatalf("the plan changes %v, want %v", got, want)
	}
}

// idlePlan runs a plan with nothing new and checks it: empty, one listing
// of the pull requests per data source (one page each), one reference
// listing (production's branch; the previews are pinned). It returns the
// engine and proxy calls the plan made, by kind.
func idlePlan(t *testing.T, ctx context.Context, wd *acctest.Workdir, srv *acctest.GitServer, project string) map[string]int {
	t.Helper()
	pulls := srv.GitHub.CallsTo("GET /api/v3/repos/" + project + "/pulls")
	listings := srv.RefListings()
	callLog := filepath.Join(t.TempDir(), "calls")
	plan, err := wd.Plan(ctx, CallLogEnv+"="+callLog)
	if err != nil || plan.HasChanges {
		t.Fatalf("a plan with nothing new is not empty (%v):\n%s", err, plan.Stdout)
	}
	if n := srv.GitHub.CallsTo("GET /api/v3/repos/"+project+"/pulls") - pulls; n != 2 {
		t.Errorf("the plan listed the pull requests %d times, want 2 (one call per data source)", n)
	}
	if n := srv.RefListings() - listings; n != 1 {
		t.Errorf("the plan listed the references %d times, want 1 (production's branch)", n)
	}
	raw, err := os.ReadFile(callLog)
	if err != nil {
		t.Fatalf("the call log: %v", err)
	}
	calls := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		calls[line]++
	}
	t.Logf("engine and proxy calls of a plan with nothing new: %v", calls)
	return calls
}

// readState reads the working directory's state: each resource instance's
// attributes by address.
func readState(t *testing.T, wd *acctest.Workdir) map[string]map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(wd.Dir, "terraform.tfstate"))
	if err != nil {
		t.Fatalf("read the state: %v", err)
	}
	var st struct {
		Resources []struct {
			Mode, Type, Name string
			Instances        []struct {
				IndexKey   any            `json:"index_key"`
				Attributes map[string]any `json:"attributes"`
			}
		}
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf("read the state: %v", err)
	}
	out := map[string]map[string]any{}
	for _, r := range st.Resources {
		addr := r.Type + "." + r.Name
		if r.Mode == "data" {
			addr = "data." + addr
		}
		for _, in := range r.Instances {
			key := addr
			if k, ok := in.IndexKey.(string); ok {
				key = fmt.Sprintf("%s[%q]", addr, k)
			}
			out[key] = in.Attributes
		}
	}
	return out
}

// pullNumbers is a pull requests data source's list as "1,2,4(fork abc1234)".
func pullNumbers(state map[string]map[string]any, addr string) string {
	list, _ := state[addr]["pull_requests"].([]any)
	var out []string
	for _, e := range list {
		pr, _ := e.(map[string]any)
		s := fmt.Sprint(pr["number"])
		if fork, _ := pr["from_fork"].(bool); fork {
			s += fmt.Sprintf("(fork %.7s)", pr["head_sha"])
		}
		out = append(out, s)
	}
	return strings.Join(out, ",")
}

// containerIDs are the live container IDs of workloads in the state.
func containerIDs(state map[string]map[string]any, addrs ...string) map[string]string {
	out := map[string]string{}
	for _, a := range addrs {
		out[a], _ = state[a]["container_id"].(string)
	}
	return out
}
