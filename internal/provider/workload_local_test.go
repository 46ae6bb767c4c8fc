package provider

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// dirRevision is a local directory's revision in a plan or the state.
var dirRevision = regexp.MustCompile(`sha256:[0-9a-f]{64}`)

// TestAccLocalDirectory deploys a directory next to the configuration
// (path = "${path.module}/app") with the provider binary: the plan shows
// the directory's hash as commit_sha; a change of a file .dockerignore
// leaves out plans nothing, a change of an included file or of a file's
// mode plans a redeploy, which serves the new content; a context_path that
// is a symlink out of the directory is refused at plan.
func TestAccLocalDirectory(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	name := env.workloadName("local")
	wd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t.Cleanup(func() { wd.Destroy(context.Background()) })
	app := filepath.Join(wd.Dir, "app")
	bin, err := os.ReadFile(env.images.Binary)
	if err != nil {
		t.Fatal(err)
	}
	write := func(rel, content string, mode os.FileMode) {
		t.Helper()
		acctest.WriteFiles(t, app, map[string]acctest.File{rel: {Content: []byte(content), Executable: mode&0o111 != 0}})
	}
	write("Dockerfile", "FROM scratch\nCOPY testapp /testapp\nCOPY site/ /site/\nENTRYPOINT [\"/testapp\"]\n", 0o644)
	write("testapp", string(bin), 0o755)
	write("site/version.txt", "1", 0o644)
	write("notes/todo.txt", "not built", 0o644)
	write(".dockerignore", "notes\n", 0o644)
	if err := os.Symlink("../../../../../../tmp", filepath.Join(app, "escape")); err != nil {
		t.Fatal(err)
	}
	config := func(extra string) string { return tfConfig(env.provider("") + localDirWorkload(name, extra)) }
	output := func(key string) string {
		t.Helper()
		res, err := wd.Run(ctx, []string{"output", "-raw", key})
		if err != nil {
			t.Fatal(err)
		}
		return res.Stdout
	}
	version := func() string {
		t.Helper()
		status, body, err := httpGet("http://" + output("upstream") + "/file?path=/site/version.txt")
		if err != nil || status != 200 {
			t.Fatalf("GET version.txt: %d %v", status, err)
		}
		return body
	}
	planChanges := func(what string) (bool, string) {
		t.Helper()
		res, err := wd.Plan(ctx)
		if err != nil {
			t.Fatalf("plan after %s: %v\n%s", what, err, res.Stdout)
		}
		return res.HasChanges, res.Stdout
	}

	wd.WriteConfig(config(""))
	res, err := wd.Apply(ctx)
	mustSucceed(t, "apply of the directory", res, err)
	first := output("revision")
	if !dirRevision.MatchString(first) || version() != "1" {
		t.Fatalf("commit_sha %q, version %q: want the directory's sha256 and 1", first, version())
	}
	if changed, out := planChanges("the apply"); changed {
		t.Fatalf("the plan after apply is not empty:\n%s", out)
	}

	write("notes/todo.txt", "still not built", 0o644)
	if changed, out := planChanges("a change of an ignored file"); changed {
		t.Fatalf("a change of a file .dockerignore leaves out plans a change:\n%s", out)
	}

	write("site/extra.txt", "x", 0o644)
	if changed, out := planChanges("a new included file"); !changed || !strings.Contains(out, first) {
		t.Fatalf("a new file of the context plans no redeploy from %s:\n%s", first, out)
	}
	if err := os.Remove(filepath.Join(app, "site/extra.txt")); err != nil {
		t.Fatal(err)
	}
	write("site/version.txt", "1", 0o755)
	if changed, _ := planChanges("a mode change"); !changed {
		t.Fatal("making an included file executable plans no change")
	}

	write("site/version.txt", "2", 0o644)
	if changed, out := planChanges("a change of an included file"); !changed || len(dirRevision.FindAllString(out, -1)) < 2 {
		t.Fatalf("the plan does not show the directory's new revision:\n%s", out)
	}
	res, err = wd.Apply(ctx)
	mustSucceed(t, "apply of the changed directory", res, err)
	if second := output("revision"); second == first || !dirRevision.MatchString(second) || version() != "2" {
		t.Fatalf("after the change: commit_sha %s (was %s), version %q; want a new revision serving 2", second, first, version())
	}

	wd.WriteConfig(config(`      context_path = "escape"`))
	res, err = wd.Plan(ctx)
	mustFailSaying(t, "a context_path that leads out of the directory", res, err, `context_path "escape"`, "leads out of")

	// Destroy from the configuration that deployed: nothing of the
	// workload is left, its images neither. (From the refused one, the
	// destroy's own plan stops at the same error, as any plan does:
	// `terraform destroy -refresh=false` skips it.)
	wd.WriteConfig(config(""))
	res, err = wd.Destroy(ctx)
	mustSucceed(t, "destroy", res, err)
	if left := acctest.Docker(t, "image", "ls", "--quiet", "--filter", "reference=tinyforge/"+name); left != "" {
		t.Errorf("images of the workload are left after its destroy: %s", left)
	}
	if left := acctest.Docker(t, "container", "ls", "--all", "--quiet", "--filter", "label=tinyforge.workload="+name); left != "" {
		t.Errorf("containers of the workload are left after its destroy: %s", left)
	}
}

// TestAccFileRemote deploys a repository on this machine's disk (url =
// file://...) to the local engine: the plan shows the branch head, the
// deploy builds it, and a push shows in the next plan. Then the same
// repository by its https url with a token, ref pinning the first commit;
// then by its url with no token, once the server serves it anonymously.
func TestAccFileRemote(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	app := newAppRepo(t, env)
	first := app.commit(t, "file-A")
	name := env.workloadName("file")
	wd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t.Cleanup(func() { wd.Destroy(context.Background()) })
	wd.WriteConfig(tfConfig(env.provider("") + fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name = %q
  source {
    dockerfile {
      url         = "file://%s"
      port        = 8080
      healthcheck = "/healthz"
    }
  }
}
output "upstream" { value = tinyforge_workload.web.upstream }
`, name, app.repo.Path())))
	res, err := wd.Apply(ctx)
	mustSucceed(t, "apply of a file:// remote", res, err)
	if !strings.Contains(res.Stdout, first) {
		t.Fatalf("the apply does not show commit %s:\n%s", first, res.Stdout)
	}
	up, err := wd.Run(ctx, []string{"output", "-raw", "upstream"})
	if err != nil {
		t.Fatal(err)
	}
	if status, body, err := httpGet("http://" + up.Stdout + "/"); err != nil || status != 200 || body != "file-A" {
		t.Fatalf("the workload answered %d %q %v, want file-A", status, body, err)
	}
	if plan, err := wd.Plan(ctx); err != nil || plan.HasChanges {
		t.Fatalf("the plan after apply is not empty (%v):\n%s", err, plan.Stdout)
	}
	second := app.commit(t, "file-B")
	if plan, err := wd.Plan(ctx); err != nil || !plan.HasChanges || !strings.Contains(plan.Stdout, second) {
		t.Fatalf("a push to the repository does not show in the plan (%v):\n%s", err, plan.Stdout)
	}

	// The same repository by its https url, with a token, pinned to the
	// first commit: the deploy clones over https and builds that commit.
	wd.WriteConfig(tfConfig(env.provider("") + fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name = %q
  source {
    dockerfile {
      url          = "%s/%s/%s.git"
      access_token = %q
      ref          = %q
      port         = 8080
      healthcheck  = "/healthz"
    }
  }
}
output "upstream" { value = tinyforge_workload.web.upstream }
`, name, app.git.URL, app.repo.Owner, app.repo.Name, app.git.Token, first)))
	res, err = wd.Apply(ctx)
	mustSucceed(t, "apply of an https url pinned to a commit", res, err)
	if up, err = wd.Run(ctx, []string{"output", "-raw", "upstream"}); err != nil {
		t.Fatal(err)
	}
	if status, body, err := httpGet("http://" + up.Stdout + "/"); err != nil || status != 200 || body != "file-A" {
		t.Fatalf("the https url pinned to %s answered %d %q %v, want file-A", first, status, body, err)
	}
	if plan, err := wd.Plan(ctx); err != nil || plan.HasChanges {
		t.Fatalf("the plan after the pinned apply is not empty (%v):\n%s", err, plan.Stdout)
	}

	// The same url with no token, as a public repository is cloned: while
	// the server wants a token the plan says so; once it serves the
	// repository anonymously the plan resolves the branch's head and the
	// deploy builds it.
	wd.WriteConfig(tfConfig(env.provider("") + fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name = %q
  source {
    dockerfile {
      url         = %q
      port        = 8080
      healthcheck = "/healthz"
    }
  }
}
output "upstream" { value = tinyforge_workload.web.upstream }
`, name, app.repo.CloneURL)))
	res, err = wd.Plan(ctx)
	mustFailSaying(t, "a plan of a private repository without a token", res, err, "authentication required", "set a token")
	app.git.AllowAnonymous(true)
	if plan, err := wd.Plan(ctx); err != nil || !plan.HasChanges || !strings.Contains(plan.Stdout, second) {
		t.Fatalf("the plan of the url without a token does not resolve the head %s (%v):\n%s", second, err, plan.Stdout)
	}
	res, err = wd.Apply(ctx)
	mustSucceed(t, "apply of an https url without a token", res, err)
	if up, err = wd.Run(ctx, []string{"output", "-raw", "upstream"}); err != nil {
		t.Fatal(err)
	}
	if status, body, err := httpGet("http://" + up.Stdout + "/"); err != nil || status != 200 || body != "file-B" {
		t.Fatalf("the url without a token answered %d %q %v, want file-B", status, body, err)
	}
	if plan, err := wd.Plan(ctx); err != nil || plan.HasChanges {
		t.Fatalf("the plan after the anonymous apply is not empty (%v):\n%s", err, plan.Stdout)
	}
}

// TestAccBranchGoneKeepsTheDeployedRevision: a running workload's branch
// is deleted (merged, say) while the configuration still names it: the
// plan keeps the deployed revision with a warning and changes nothing, so
// terraform destroy works; a configuration that names a branch that does
// not exist is still refused at plan, at branch.
func TestAccBranchGoneKeepsTheDeployedRevision(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	app := newAppRepo(t, env)
	app.commit(t, "main")
	feature := app.repo.CommitTo(t, "feature", map[string]acctest.File{
		"Dockerfile": {Content: dockerfileOf(t, "feature")},
		"testapp":    {Content: app.bin, Executable: true},
	}, "feature")
	name := env.workloadName("gone")
	wd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t.Cleanup(func() { wd.Destroy(context.Background()) })
	config := func(branch string) string {
		return tfConfig(env.provider("") + fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name = %q
  source {
    dockerfile {
      url         = "file://%s"
      branch      = %q
      port        = 8080
      healthcheck = "/healthz"
    }
  }
}
`, name, app.repo.Path(), branch))
	}
	wd.WriteConfig(config("feature"))
	res, err := wd.Apply(ctx)
	mustSucceed(t, "apply of branch feature", res, err)
	if !strings.Contains(res.Stdout, feature) {
		t.Fatalf("the apply does not show commit %s:\n%s", feature, res.Stdout)
	}

	if out, err := exec.Command("git", "--git-dir", app.repo.Path(), "update-ref", "-d", "refs/heads/feature").CombinedOutput(); err != nil {
		t.Fatalf("delete branch feature: %v %s", err, out)
	}
	plan, err := wd.Plan(ctx)
	if err != nil || plan.HasChanges || !strings.Contains(plan.Stdout, "no longer exists") || !strings.Contains(plan.Stdout, feature) {
		t.Fatalf("the plan after the branch went: %v, changes %v; want no change and a warning naming %s:\n%s", err, plan.HasChanges, feature, plan.Stdout)
	}

	wd.WriteConfig(config("nope"))
	res, err = wd.Plan(ctx)
	mustFailSaying(t, "a plan naming a branch that does not exist", res, err, `branch = "nope"`)

	wd.WriteConfig(config("feature"))
	res, err = wd.Destroy(ctx)
	mustSucceed(t, "destroy with the branch gone", res, err)
	if left := acctest.Docker(t, "container", "ls", "--all", "--quiet", "--filter", "label=tinyforge.workload="+name); left != "" {
		t.Errorf("containers of the workload are left after its destroy: %s", left)
	}
}

// localDirWorkload is a dockerfile workload "web" named name, built from
// the directory app beside the configuration, with extra lines in its
// dockerfile block; its upstream and revision are outputs.
func localDirWorkload(name, extra string) string {
	return fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name = %q
  source {
    dockerfile {
      path        = "${path.module}/app"
      port        = 8080
      healthcheck = "/healthz"
%s
    }
  }
}
output "upstream" { value = tinyforge_workload.web.upstream }
output "revision" { value = tinyforge_workload.web.commit_sha }
`, name, extra)
}
