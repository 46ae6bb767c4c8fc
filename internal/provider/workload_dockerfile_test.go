package provider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/gitbuild"
)

// appRepo is a Git repository of the test app, built by a Dockerfile.
type appRepo struct {
	git  *acctest.GitServer
	repo *acctest.GitRepo
	bin  []byte
}

func newAppRepo(t *testing.T, env *testEnv) *appRepo {
	t.Helper()
	bin, err := os.ReadFile(env.images.Binary)
	if err != nil {
		t.Fatal(err)
	}
	git := acctest.StartGitServer(t)
	return &appRepo{git: git, repo: git.CreateRepo(t, "acme", acctest.UniqueName("app")), bin: bin}
}

// dockerfileOf builds the test app answering version. Its first layer is
// its own (acctest.BuildLabel): the provider removes a workload's images
// while other tests build theirs.
func dockerfileOf(t *testing.T, version string) []byte {
	return []byte("FROM scratch\n" + acctest.UniqueBuildLabel(t) + "\nCOPY testapp /testapp\nENV VERSION=" + version + "\nENTRYPOINT [\"/testapp\"]\n")
}

// commit pushes the app at dir (repository root when "") answering version.
func (a *appRepo) commit(t *testing.T, version string) string {
	t.Helper()
	return a.repo.CommitFiles(t, map[string]acctest.File{
		"Dockerfile":    {Content: dockerfileOf(t, version)},
		"testapp":       {Content: a.bin, Executable: true},
		".dockerignore": {Content: []byte("notes/\n")},
		"notes/todo":    {Content: []byte("not for the image")},
	}, "version "+version)
}

// block is a dockerfile source block for the repository, serving on 8080;
// extra goes inside.
func (a *appRepo) block(extra string) string {
	return a.workerBlock("      port         = 8080\n      healthcheck  = \"/healthz\"\n" + extra)
}

// workerBlock is a dockerfile source block for the repository without a
// port (a worker); extra goes inside.
func (a *appRepo) workerBlock(extra string) string {
	return fmt.Sprintf(`  source {
    dockerfile {
      base_url     = %q
      repo_owner   = %q
      repo_name    = %q
      access_token = %q
%s
    }
  }
`, a.git.URL, a.repo.Owner, a.repo.Name, a.git.Token, extra)
}

// builtImagesOf lists the images the provider built for a workload.
func builtImagesOf(t *testing.T, workload string) []string {
	out := acctest.Docker(t, "images", "--filter", "label=tinyforge.workload="+workload, "--format", "{{.Repository}}:{{.Tag}}")
	return strings.Fields(out)
}

// TestAccDockerfileDeploysThePlannedCommit: the plan shows the commit a push
// brings, the apply builds and serves exactly it (blue-green through Caddy
// drops no request), the Git host hears how each deploy went, a failed build
// and an escaping symlink leave the previous version serving, the
// workload's repository is cached between deploys, and destroy leaves no
// container, no built image and no cached repository.
func TestAccDockerfileDeploysThePlannedCommit(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	caddy := acctest.StartCaddy(t)
	app := newAppRepo(t, env)
	name := env.workloadName("git")
	domain := name + ".test"
	shaA := app.commit(t, "A")
	cfg := func(strategy, extra string) string {
		return env.provider(caddyBlock(caddy)) + fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name            = %q
  deploy_strategy = %q
  domains         = [%q]
  drain_timeout   = 1
%s}
`, name, strategy, domain, app.block(`      report_commit_status = true`+"\n"+extra))
	}
	statusesOf := func(sha string) []string {
		var out []string
		for _, s := range app.git.Statuses() {
			if s.SHA == sha {
				if s.Context != "tinyforge/"+name {
					t.Errorf("status context %q, want tinyforge/%s", s.Context, name)
				}
				out = append(out, s.State)
			}
		}
		return out
	}
	expectStatuses := func(sha string, want ...string) resource.TestCheckFunc {
		return func(*terraform.State) error {
			if got := statusesOf(sha); strings.Join(got, ",") != strings.Join(want, ",") {
				return fmt.Errorf("statuses of %s: %v, want %v", sha[:7], got, want)
			}
			return nil
		}
	}
	load := newLoadDuring(t, caddy, domain)
	var shaB, shaC, shaD string
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy: func(s *terraform.State) error {
			if err := noContainersLeft(t, name)(s); err != nil {
				return err
			}
			if imgs := builtImagesOf(t, name); len(imgs) > 0 {
				return fmt.Errorf("destroy left built images: %v", imgs)
			}
			if _, err := os.Stat(filepath.Join(gitbuild.CacheRoot, name)); !os.IsNotExist(err) {
				return fmt.Errorf("destroy left the workload's cached repository in %s (%v)", gitbuild.CacheRoot, err)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{ // "" is recreate for a dockerfile source, routed or not
				Config: cfg("", ""),
				ConfigPlanChecks: emptyPlanAfterApply(
					plancheck.ExpectKnownValue(web, tfjsonpath.New("commit_sha"), knownvalue.StringExact(shaA)),
					plancheck.ExpectKnownValue(web, tfjsonpath.New("effective_strategy"), knownvalue.StringExact("recreate")),
				),
				Check: resource.ComposeTestCheckFunc(
					through(caddy, domain, "A"),
					// .dockerignore kept notes/ out of the build context
					answersStatus(web, "/file?path=/notes/todo", 404),
					expectStatuses(shaA, "pending", "success"),
				),
			},
			{
				ResourceName:                         web,
				ImportState:                          true,
				ImportStateId:                        name,
				ImportStateVerify:                    true,
				ImportStateVerifyIdentifierAttribute: "name",
				// The token is a secret: no label records it.
				ImportStateVerifyIgnore: []string{"source.dockerfile.access_token"},
			},
			{ // a push shows in the plan; blue-green serves B without dropping a request
				PreConfig: func() {
					shaB = app.commit(t, "B")
					load.start()
				},
				Config: cfg("blue-green", ""),
				ConfigPlanChecks: emptyPlanAfterApply(
					plancheck.ExpectKnownValue(web, tfjsonpath.New("commit_sha"), isCommit(&shaB)),
					plancheck.ExpectKnownValue(web, tfjsonpath.New("generation"), knownvalue.Int64Exact(2)),
				),
				Check: resource.ComposeTestCheckFunc(
					func(*terraform.State) error {
						stats := load.stop()
						t.Logf("A -> B blue-green: %d requests, %d failed, answers %v", stats.Total, stats.Failed, stats.Bodies)
						if stats.Failed != 0 {
							return fmt.Errorf("%d requests failed: %v", stats.Failed, stats.FirstFailures)
						}
						return nil
					},
					through(caddy, domain, "B"),
					func(s *terraform.State) error { return expectStatuses(shaB, "pending", "success")(s) },
					func(*terraform.State) error {
						if imgs := builtImagesOf(t, name); len(imgs) != 2 {
							return fmt.Errorf("want the images of A and B kept, got %v", imgs)
						}
						return nil
					},
					cachedRepository(name, app.git.Token),
				),
			},
			{ // a Dockerfile that fails to build: the apply fails with its output, B serves on
				PreConfig: func() {
					shaC = app.repo.CommitFiles(t, map[string]acctest.File{
						"Dockerfile": {Content: []byte("FROM scratch\n" + acctest.UniqueBuildLabel(t) + "\nCOPY does-not-exist /x\n")},
					}, "broken")
				},
				Config:      cfg("blue-green", ""),
				ExpectError: wrapped("does-not-exist"),
			},
			{ // B serves on, alone, the state still says B, and the Git host heard of C's failure
				RefreshState: true,
				Check: resource.ComposeTestCheckFunc(
					through(caddy, domain, "B"),
					onlyContainer(t, name),
					stateCommit(&shaB),
					func(s *terraform.State) error { return expectStatuses(shaC, "pending", "failure")(s) },
				),
				ExpectNonEmptyPlan: true, // C is still waiting to be deployed
				RefreshPlanChecks: resource.RefreshPlanChecks{PostRefresh: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(web, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(web, tfjsonpath.New("commit_sha"), isCommit(&shaC)),
					plancheck.ExpectKnownValue(web, tfjsonpath.New("generation"), knownvalue.Int64Exact(3)),
				}},
			},
			{ // a context that is a symlink out of the clone is refused, B serves on
				PreConfig: func() {
					shaD = app.repo.CommitFiles(t, map[string]acctest.File{
						"Dockerfile": {Content: dockerfileOf(t, "D")},
						"escape":     {SymlinkTo: "../../../../../../../../tmp"},
					}, "escape")
				},
				Config:      cfg("blue-green", `      context_path = "escape"`),
				ExpectError: wrapped("context_path", "escape"),
			},
			{ // B serves on, alone, and the state still says B
				RefreshState: true,
				Check: resource.ComposeTestCheckFunc(
					through(caddy, domain, "B"),
					onlyContainer(t, name),
					stateCommit(&shaB),
				),
				ExpectNonEmptyPlan: true, // D is still waiting to be deployed
				RefreshPlanChecks: resource.RefreshPlanChecks{PostRefresh: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(web, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(web, tfjsonpath.New("commit_sha"), isCommit(&shaD)),
				}},
			},
		},
	})
}

// cachedRepository checks that the workload's cached repository is kept
// between deploys, with no token in any file of it.
func cachedRepository(name, token string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		dir := filepath.Join(gitbuild.CacheRoot, name)
		found := false
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			found = found || d.Name() == "config"
			b, err := os.ReadFile(p)
			if strings.Contains(string(b), token) {
				return fmt.Errorf("the cached repository's %s holds the token", p)
			}
			return err
		})
		if err == nil && !found {
			err = fmt.Errorf("no cached repository in %s", dir)
		}
		return err
	}
}

// isCommit matches the commit *sha holds when the check runs (the test
// pushes it in a PreConfig).
func isCommit(sha *string) knownvalue.Check {
	return knownvalue.StringFunc(func(v string) error {
		if v != *sha {
			return fmt.Errorf("commit %s, want %s", v, *sha)
		}
		return nil
	})
}

// stateCommit checks that the state records the commit *sha holds.
func stateCommit(sha *string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		if v, err := stateAttr(s, web, "commit_sha"); err != nil || v != *sha {
			return fmt.Errorf("the state's commit_sha is %q (%v), want %s", v, err, *sha)
		}
		return nil
	}
}

// TestAccDockerfileMonorepo builds an app from a subfolder, with its
// Dockerfile in another subfolder of the context.
func TestAccDockerfileMonorepo(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	app := newAppRepo(t, env)
	name := env.workloadName("mono")
	app.repo.CommitFiles(t, map[string]acctest.File{
		"Dockerfile":                          {Content: []byte("FROM scratch\n" + acctest.UniqueBuildLabel(t) + "\nCOPY nothing /nothing\n")}, // not this one
		"services/api/deploy/Dockerfile":      {Content: dockerfileOf(t, "api")},
		"services/api/testapp":                {Content: app.bin, Executable: true},
		"services/web/deploy/Dockerfile":      {Content: dockerfileOf(t, "web")},
		"services/web/testapp":                {Content: app.bin, Executable: true},
		"services/api/deploy/.keep-directory": {Content: []byte{}},
	}, "monorepo")
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy:             noContainersLeft(t, name),
		Steps: []resource.TestStep{{
			Config: env.provider("") + fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name = %q
%s}
`, name, app.block(`      context_path    = "services/api"
      dockerfile_path = "deploy/Dockerfile"`)),
			ConfigPlanChecks: emptyPlanAfterApply(),
			Check:            answers(web, "/", "api"),
		}},
	})
}

// TestAccDockerfileTokens runs the real provider binary under TF_LOG=trace:
// a wrong token fails the plan with a clear error that carries no token, a
// write-only token deploys and is found neither in the state file nor in the
// log.
func TestAccDockerfileTokens(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	app := newAppRepo(t, env)
	app.commit(t, "A")
	name := env.workloadName("token")
	wd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	logPath := wd.CaptureLog("TRACE")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	t.Cleanup(func() { wd.Destroy(context.Background(), "TF_VAR_token="+app.git.Token) })
	config := func(tokenAttrs string) string {
		return `terraform {
  required_providers {
    tinyforge = { source = "tinyforge/tinyforge" }
  }
}
` + env.provider("") + fmt.Sprintf(`
# The token comes from a sensitive variable, as in real use: terraform
# itself quotes the configuration line an error points at, literal and all.
variable "token" {
  type      = string
  sensitive = true
}

resource "tinyforge_workload" "web" {
  name = %q
  source {
    dockerfile {
      base_url    = %q
      repo_owner  = %q
      repo_name   = %q
      port        = 8080
      healthcheck = "/healthz"
%s
    }
  }
}
output "upstream" { value = tinyforge_workload.web.upstream }
`, name, app.git.URL, app.repo.Owner, app.repo.Name, tokenAttrs)
	}
	const wrongToken = "wrong-token-9d1c2b7e5a"
	wd.WriteConfig(config("      access_token = var.token"))
	res, err := wd.Apply(ctx, "TF_VAR_token="+wrongToken)
	if err == nil {
		t.Fatal("an apply with a wrong token succeeded")
	}
	out := res.Stdout + res.Stderr
	if !strings.Contains(strings.Join(strings.Fields(out), " "), "authentication failed for "+app.repo.CloneURL) {
		t.Fatalf("the error does not say that authentication failed:\n%s", out)
	}
	if strings.Contains(out, wrongToken) {
		t.Fatalf("the error carries the token:\n%s", out)
	}

	wd.WriteConfig(config("      access_token_wo         = var.token\n      access_token_wo_version = 1"))
	if res, err := wd.Apply(ctx, "TF_VAR_token="+app.git.Token); err != nil {
		t.Fatalf("apply with a write-only token: %v\n%s", err, res.Stdout)
	}
	if up, err := wd.Run(ctx, []string{"output", "-raw", "upstream"}); err != nil {
		t.Fatal(err)
	} else if status, body, err := httpGet("http://" + up.Stdout + "/"); err != nil || status != 200 || body != "A" {
		t.Fatalf("the workload answered %d %q %v", status, body, err)
	}
	if plan, err := wd.Plan(ctx, "TF_VAR_token="+app.git.Token); err != nil || plan.HasChanges {
		t.Fatalf("the plan after apply is not empty (%v):\n%s", err, plan.Stdout)
	}
	state, err := os.ReadFile(filepath.Join(wd.Dir, "terraform.tfstate"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(state), app.git.Token) {
		t.Fatal("the state file holds the write-only token")
	}
	if !strings.Contains(string(state), `"access_token_wo": null`) {
		t.Fatalf("the state does not show access_token_wo as null:\n%s", state)
	}
	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{wrongToken, app.git.Token} {
		if strings.Contains(string(log), secret) {
			for _, line := range strings.Split(string(log), "\n") {
				if strings.Contains(line, secret) {
					t.Errorf("TF_LOG=trace output carries a token: %.300s", line)
					break
				}
			}
		}
	}
	// The deploy's progress reaches TF_LOG at info as it goes: clone, the
	// build output line by line, the gate.
	// With TF_LOG set, the framework's own logs stay on too (the provider
	// quiets them only when no logging is asked for).
	for _, step := range []string{"deploy starting", "[INFO]  provider.terraform-provider-tinyforge: cloning",
		"build: #1 [internal] load build definition", "gate: probing", "gate passed", "deploy done",
		"Calling provider defined Resource ModifyPlan"} {
		if !strings.Contains(string(log), step) {
			t.Errorf("the provider's log lacks the progress line %q", step)
		}
	}
	t.Logf("TF_LOG=trace wrote %d bytes, no token in them", len(log))
}

// TestAccDockerfileAppliesThePlannedCommit saves a plan, pushes again, and
// applies the saved plan: the apply builds the planned commit, not the new
// head. When the planned commit is force-pushed away, the apply fails
// clearly and the running version serves on.
func TestAccDockerfileAppliesThePlannedCommit(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	app := newAppRepo(t, env)
	shaA := app.commit(t, "A")
	name := env.workloadName("saved")
	wd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	t.Cleanup(func() { wd.Destroy(context.Background()) })
	wd.WriteConfig(`terraform {
  required_providers {
    tinyforge = { source = "tinyforge/tinyforge" }
  }
}
` + env.provider("") + fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name = %q
%s}
output "upstream" { value = tinyforge_workload.web.upstream }
output "commit"   { value = tinyforge_workload.web.commit_sha }
`, name, app.block("")))
	output := func(name string) string {
		res, err := wd.Run(ctx, []string{"output", "-raw", name})
		if err != nil {
			t.Fatalf("terraform output %s: %v", name, err)
		}
		return res.Stdout
	}
	serving := func() string {
		_, body, err := httpGet("http://" + output("upstream") + "/")
		if err != nil {
			t.Fatal(err)
		}
		return body
	}
	if _, err := wd.Apply(ctx); err != nil {
		t.Fatalf("apply A: %v", err)
	}
	plan := func(file, mustShow string) {
		res, err := wd.Run(ctx, []string{"plan", "-input=false", "-no-color", "-out=" + file})
		if err != nil {
			t.Fatalf("plan: %v", err)
		}
		if !strings.Contains(res.Stdout, mustShow) {
			t.Fatalf("the plan does not show commit %s:\n%s", mustShow, res.Stdout)
		}
	}

	shaB := app.commit(t, "B")
	plan("b.tfplan", shaB)
	shaC := app.commit(t, "C") // pushed between plan and apply
	if res, err := wd.Run(ctx, []string{"apply", "-input=false", "-no-color", "b.tfplan"}); err != nil {
		t.Fatalf("apply the saved plan: %v\n%s", err, res.Stdout)
	}
	if got := serving(); got != "B" || output("commit") != shaB {
		t.Fatalf("the saved plan of %s deployed %q (commit %s); C %s was pushed after the plan", shaB[:7], got, output("commit"), shaC[:7])
	}

	plan("c.tfplan", shaC)
	app.repo.ForcePush(t, "main", shaA) // C is gone from the branch
	res, err := wd.Run(ctx, []string{"apply", "-input=false", "-no-color", "c.tfplan"})
	if err == nil {
		t.Fatal("applying a plan whose commit was force-pushed away succeeded")
	}
	if msg := strings.Join(strings.Fields(res.Stdout+res.Stderr), " "); !strings.Contains(msg, "commit "+shaC+" is no longer on branch main") {
		t.Fatalf("the error does not say the planned commit is gone:\n%s", clip(msg))
	}
	if got := serving(); got != "B" {
		t.Fatalf("after the failed apply the workload answers %q, want B serving on", got)
	}
}

// TestAccDockerfileWorker: a worker (no port) built from a Dockerfile
// deploys for real: the built image runs once its liveness gate passed,
// publishes nothing and gets no route though the provider has a proxy; a
// push rebuilds and replaces it; plans after the applies are empty, and
// destroy leaves no container and no built image.
func TestAccDockerfileWorker(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	caddy := acctest.StartCaddy(t)
	app := newAppRepo(t, env)
	name := env.workloadName("git-worker")
	wd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	logFile := wd.CaptureLog("INFO")
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	t.Cleanup(func() { wd.Destroy(context.Background()) })
	wd.WriteConfig(tfConfig(env.provider(caddyBlock(caddy)) + fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name           = %q
  command        = ["task", "env=VERSION", "sleep=1h"]
  stop_timeout   = 1
  health_timeout = 20
%s}
`, name, app.workerBlock(""))))
	// deployed checks that the worker built from sha runs alone, the
	// gates passed of deploys so far, by the liveness window.
	deployed := func(version, sha string, deploys int) {
		t.Helper()
		ids := strings.Fields(acctest.Docker(t, "ps", "--filter", "label=tinyforge.workload="+name, "--filter", "status=running", "--format", "{{.ID}}"))
		if all := containersOf(t, name); len(ids) != 1 || len(all) != 1 {
			t.Fatalf("version %s: running %v, all %v; want one running container alone", version, ids, all)
		}
		if logs := acctest.Docker(t, "logs", ids[0]); !strings.Contains(logs, "VERSION="+version) {
			t.Fatalf("the running worker is not the build of version %s; its output: %q", version, logs)
		}
		if ports := acctest.Docker(t, "ps", "--filter", "label=tinyforge.workload="+name, "--format", "{{.Ports}}"); strings.Contains(ports, "->") {
			t.Fatalf("a worker publishes ports: %q", ports)
		}
		noRouteWritten(t, caddy, name)
		if vals := webValues(t, ctx, wd); vals["commit_sha"] != sha || vals["upstream"] != "" || vals["routed_to"] != nil {
			t.Fatalf("the state: commit_sha %v, upstream %q, routed_to %v; want %s, \"\", null", vals["commit_sha"], vals["upstream"], vals["routed_to"], sha)
		}
		logged, err := os.ReadFile(logFile)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(logged), "gate: liveness window"); n != deploys {
			t.Fatalf("%d liveness gates logged after %d deploys", n, deploys)
		}
		plan, err := wd.Plan(ctx)
		if err != nil || plan.HasChanges {
			t.Fatalf("the plan after version %s is not empty (%v):\n%s", version, err, plan.Stdout)
		}
	}

	shaA := app.commit(t, "A")
	res, err := wd.Apply(ctx)
	mustSucceed(t, "create the worker from a Dockerfile", res, err)
	deployed("A", shaA, 1)

	shaB := app.commit(t, "B")
	res, err = wd.Apply(ctx)
	mustSucceed(t, "rebuild the worker after a push", res, err)
	deployed("B", shaB, 2)

	res, err = wd.Destroy(ctx)
	mustSucceed(t, "destroy", res, err)
	if left, imgs := containersOf(t, name), builtImagesOf(t, name); len(left) > 0 || len(imgs) > 0 {
		t.Fatalf("destroy left containers %v and built images %v", left, imgs)
	}
}
