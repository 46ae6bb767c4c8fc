package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// TestAccBuildsOnTestHosts builds on the engines of two test hosts, each
// its own dockerd in a network namespace: host 0, reached over SSH, builds
// with BuildKit a repository its own sshd serves to a deploy key (the
// context streamed through the SSH connection), and a local directory
// (path) the same way; host 1 has BuildKit switched off, and builds with
// the classic builder, saying what that costs, for a Dockerfile and for a
// compose `build:` service.
func TestAccBuildsOnTestHosts(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	hs := acctest.StartHosts(t, 2, acctest.HostsOptions{SSH: true, BuildKitOff: []int{1}})
	t.Run("SSHRemote", func(t *testing.T) {
		t.Parallel()
		testSSHRemote(t, env, hs.Hosts[0])
	})
	t.Run("BranchesOverSSH", func(t *testing.T) {
		t.Parallel()
		testBranchesOverSSH(t, env, hs.Hosts[0])
	})
	t.Run("PathOverSSH", func(t *testing.T) {
		t.Parallel()
		testPathOverSSH(t, env, hs.Hosts[0])
	})
	t.Run("ClassicFallback", func(t *testing.T) {
		t.Parallel()
		testClassicFallback(t, env, hs.Hosts[1])
	})
	t.Run("ComposeClassicFallback", func(t *testing.T) {
		t.Parallel()
		testComposeClassicFallback(t, env, hs.Hosts[1])
	})
}

// testSSHRemote: an ssh:// remote with no known_hosts line is refused at
// plan naming the server's key fingerprint; a key the server refuses is
// refused at plan naming ssh_private_key_wo, never the key; the deploy key
// clones and deploys (the plan after it is empty), the scp-like spelling
// of the remote resolves the same commit, and a file:// remote is refused
// at plan on this remote engine.
func testSSHRemote(t *testing.T, env *testEnv, h *acctest.Host) {
	git := h.SSH.GitServer(t)
	repo := git.CreateRepo(t, "acme", acctest.UniqueName("ssh-app"))
	bin, err := os.ReadFile(env.images.Binary)
	if err != nil {
		t.Fatal(err)
	}
	sha := repo.CommitFiles(t, map[string]acctest.File{
		"Dockerfile": {Content: []byte("FROM scratch\nCOPY testapp /testapp\nENV VERSION=over-ssh\nENTRYPOINT [\"/testapp\"]\n")},
		"testapp":    {Content: bin, Executable: true},
	}, "app")
	name := env.workloadName("sshgit")
	wd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	keyEnv := "TF_VAR_key=" + h.SSH.ClientKey
	t.Cleanup(func() { wd.Destroy(context.Background(), keyEnv) })
	config := func(url, knownHosts string) string {
		return tfConfig(sshProvider(t, env, h, h.SSH.KnownHostsFile(t), "", "") + fmt.Sprintf(`
variable "key" {
  type      = string
  ephemeral = true
}
resource "tinyforge_workload" "web" {
  name = %q
  source {
    dockerfile {
      url                        = %q
      ssh_private_key_wo         = var.key
      ssh_private_key_wo_version = 1
      ssh_known_hosts            = %q
      port                       = 8080
      healthcheck                = "/healthz"
    }
  }
}
output "upstream" { value = tinyforge_workload.web.upstream }
`, name, url, knownHosts))
	}

	wd.WriteConfig(config(h.SSH.GitURL(repo), ""))
	res, err := wd.Plan(ctx, keyEnv)
	mustFailSaying(t, "a plan without the server's known_hosts line", res, err,
		"SSH host key of "+h.SSH.Addr+" is unknown", h.SSH.HostKeyFingerprint, "ssh_known_hosts")

	// Another key recorded for the server: refused as changed, naming both.
	other, err := ssh.ParsePrivateKey([]byte(acctest.NewSSHKeyPEM(t)))
	if err != nil {
		t.Fatal(err)
	}
	wd.WriteConfig(config(h.SSH.GitURL(repo), knownhosts.Line([]string{knownhosts.Normalize(h.SSH.Addr)}, other.PublicKey())))
	res, err = wd.Plan(ctx, keyEnv)
	mustFailSaying(t, "a plan with another key recorded for the server", res, err,
		"SSH host key of "+h.SSH.Addr+" has changed", h.SSH.HostKeyFingerprint, ssh.FingerprintSHA256(other.PublicKey()))

	wrongKey := acctest.NewSSHKeyPEM(t)
	wd.WriteConfig(config(h.SSH.GitURL(repo), h.SSH.KnownHostsLine()))
	res, err = wd.Plan(ctx, "TF_VAR_key="+wrongKey)
	mustFailSaying(t, "a plan with a key the server refuses", res, err, "ssh_private_key_wo", "refused the key")
	if strings.Contains(res.Stdout+res.Stderr, keyBody(wrongKey)) {
		t.Fatalf("the refusal quotes the key:\n%s", res.Stdout+res.Stderr)
	}

	start := time.Now()
	res, err = wd.Apply(ctx, keyEnv)
	mustSucceed(t, "apply with the deploy key", res, err)
	t.Logf("cloned over SSH and built on the SSH engine in %s", time.Since(start).Round(time.Millisecond))
	if plan, err := wd.Plan(ctx, keyEnv); err != nil || plan.HasChanges {
		t.Fatalf("the plan after apply is not empty (%v):\n%s", err, plan.Stdout)
	}
	if names := hostContainersOf(t, h, name); len(names) != 1 {
		t.Fatalf("the SSH engine runs %v, want the workload's container", names)
	}
	up, err := wd.Run(ctx, []string{"output", "-raw", "upstream"})
	if err != nil {
		t.Fatal(err)
	}
	if err := hostAnswers(h, up.Stdout, "/", "over-ssh"); err != nil {
		t.Fatal(err)
	}
	state, err := os.ReadFile(filepath.Join(wd.Dir, "terraform.tfstate"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(state), keyBody(h.SSH.ClientKey)) || !strings.Contains(string(state), sha) {
		t.Fatalf("the state holds the key, or not the commit %s", sha)
	}

	// The scp-like spelling names the same repository: the plan resolves
	// the same head (a new identity, so it would redeploy).
	wd.WriteConfig(config(h.SSH.GitSCPURL(repo), h.SSH.KnownHostsLine()))
	res, err = wd.Run(ctx, []string{"plan", "-input=false", "-no-color", "-out=scp.tfplan"}, keyEnv)
	mustSucceed(t, "plan with the scp-like url", res, err)
	planJSON, err := wd.Run(ctx, []string{"show", "-json", "scp.tfplan"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(planJSON.Stdout, `"commit_sha":"`+sha+`"`) {
		t.Fatalf("the plan with the scp-like url does not resolve commit %s:\n%.2000s", sha, planJSON.Stdout)
	}

	// A file:// remote is on this machine's disk, not the SSH engine's.
	wd.WriteConfig(tfConfig(sshProvider(t, env, h, h.SSH.KnownHostsFile(t), "", "") + fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name = %q
  source {
    dockerfile {
      url  = "file://%s"
      port = 8080
    }
  }
}
`, name, repo.Path())))
	res, err = wd.Plan(ctx)
	mustFailSaying(t, "a file:// remote on an SSH engine", res, err, "file:// needs a local Docker engine")
}

// testBranchesOverSSH: tinyforge_git_branches lists an SSH url's branches
// with the key of the provider's git_auth block for the host (an
// ephemeral variable), in both spellings of the url; with no known_hosts
// line for the server the plan is refused naming its key's fingerprint;
// the key is nowhere in the state.
func testBranchesOverSSH(t *testing.T, env *testEnv, h *acctest.Host) {
	git := h.SSH.GitServer(t)
	repo := git.CreateRepo(t, "acme", acctest.UniqueName("ssh-branches"))
	mainSHA := repo.Commit(t, map[string][]byte{"a": []byte("a")}, "main")
	login := repo.CommitTo(t, "feature/login", map[string]acctest.File{"l": {Content: []byte("l")}}, "login")
	host, _, _ := net.SplitHostPort(h.SSH.Addr)
	wd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	keyEnv := "TF_VAR_key=" + h.SSH.ClientKey
	config := func(knownHosts string) string {
		return tfConfig(env.provider(fmt.Sprintf(`  git_auth {
    base_url        = "ssh://%s"
    ssh_private_key = var.key
    ssh_known_hosts = %q
  }
`, host, knownHosts)) + fmt.Sprintf(`
variable "key" {
  type      = string
  sensitive = true
  ephemeral = true
}
data "tinyforge_git_branches" "ssh" {
  url = %q
}
data "tinyforge_git_branches" "scp" {
  url   = %q
  match = "feature/*"
}
output "names" { value = data.tinyforge_git_branches.ssh.names }
output "heads" { value = data.tinyforge_git_branches.ssh.heads }
output "features" { value = data.tinyforge_git_branches.scp.heads }
`, h.SSH.GitURL(repo), h.SSH.GitSCPURL(repo)))
	}

	wd.WriteConfig(config(""))
	res, err := wd.Plan(ctx, keyEnv)
	mustFailSaying(t, "a listing without the server's known_hosts line", res, err,
		"SSH host key of "+h.SSH.Addr+" is unknown", h.SSH.HostKeyFingerprint, "git_auth[0]")

	wd.WriteConfig(config(h.SSH.KnownHostsLine()))
	start := time.Now()
	res, err = wd.Apply(ctx, keyEnv)
	mustSucceed(t, "list the branches over SSH", res, err)
	t.Logf("listed the branches over SSH (two data sources) in %s", time.Since(start).Round(time.Millisecond))
	out, err := wd.Run(ctx, []string{"output", "-json"})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]struct{ Value any }
	if err := json.Unmarshal([]byte(out.Stdout), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"names":    []any{"feature/login", "main"},
		"heads":    map[string]any{"feature/login": login, "main": mainSHA},
		"features": map[string]any{"feature/login": login},
	}
	for name, w := range want {
		if !reflect.DeepEqual(got[name].Value, w) {
			t.Errorf("output %s = %v, want %v", name, got[name].Value, w)
		}
	}
	if plan, err := wd.Plan(ctx, keyEnv); err != nil || plan.HasChanges {
		t.Fatalf("the plan after apply is not empty (%v):\n%s", err, plan.Stdout)
	}
	state, err := os.ReadFile(filepath.Join(wd.Dir, "terraform.tfstate"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(state), keyBody(h.SSH.ClientKey)) || !strings.Contains(string(state), login) {
		t.Fatalf("the state holds the key, or not the head %s", login)
	}
}

// testClassicFallback: on an engine whose operator switched BuildKit off,
// a Dockerfile builds with the classic builder and the apply warns what
// will not work; a Dockerfile with RUN --mount fails saying it needs
// BuildKit, and the deployed version keeps running.
func testClassicFallback(t *testing.T, env *testEnv, h *acctest.Host) {
	app := newAppRepo(t, env)
	app.repo.CommitFiles(t, map[string]acctest.File{
		"Dockerfile": {Content: []byte("FROM scratch\nCOPY testapp /testapp\nENV VERSION=classic\nENTRYPOINT [\"/testapp\"]\n")},
		"testapp":    {Content: app.bin, Executable: true},
	}, "plain")
	name := env.workloadName("classic")
	wd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	t.Cleanup(func() { wd.Destroy(context.Background()) })
	wd.WriteConfig(tfConfig(tcpHostProvider(env, h) + fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name = %q
%s}
`, name, app.block(""))))
	res, err := wd.Apply(ctx)
	mustSucceed(t, "apply on an engine without BuildKit", res, err)
	mustWarnClassic(t, res)
	if names := hostContainersOf(t, h, name); len(names) != 1 {
		t.Fatalf("the engine runs %v, want the workload's container", names)
	}

	app.repo.CommitFiles(t, map[string]acctest.File{
		"Dockerfile": {Content: []byte("FROM scratch\nCOPY testapp /testapp\nRUN --mount=type=cache,target=/c [\"/testapp\", \"-version\"]\nENTRYPOINT [\"/testapp\"]\n")},
	}, "a cache mount")
	res, err = wd.Apply(ctx)
	mustFailSaying(t, "apply of RUN --mount on the classic builder", res, err, "--mount", "BuildKit")
	if names := hostContainersOf(t, h, name); len(names) != 1 {
		t.Fatalf("after the failed build the engine runs %v, want the deployed container alone", names)
	}
}

// testPathOverSSH: a directory on this machine (path) deploys to the SSH
// engine, its context streamed through the SSH connection, and the
// container there serves a file of the directory.
func testPathOverSSH(t *testing.T, env *testEnv, h *acctest.Host) {
	name := env.workloadName("sshpath")
	wd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	t.Cleanup(func() { wd.Destroy(context.Background()) })
	bin, err := os.ReadFile(env.images.Binary)
	if err != nil {
		t.Fatal(err)
	}
	stamp := acctest.UniqueName("from-the-directory")
	acctest.WriteFiles(t, filepath.Join(wd.Dir, "app"), map[string]acctest.File{
		"Dockerfile":       {Content: []byte("FROM scratch\nCOPY testapp /testapp\nCOPY site/ /site/\nENTRYPOINT [\"/testapp\"]\n")},
		"testapp":          {Content: bin, Executable: true},
		"site/version.txt": {Content: []byte(stamp)},
	})
	wd.WriteConfig(tfConfig(sshProvider(t, env, h, h.SSH.KnownHostsFile(t), "", "") + localDirWorkload(name, "")))
	start := time.Now()
	res, err := wd.Apply(ctx)
	mustSucceed(t, "apply of a directory to the SSH engine", res, err)
	t.Logf("built a directory on the SSH engine in %s", time.Since(start).Round(time.Millisecond))
	if names := hostContainersOf(t, h, name); len(names) != 1 {
		t.Fatalf("the SSH engine runs %v, want the workload's container", names)
	}
	up, err := wd.Run(ctx, []string{"output", "-raw", "upstream"})
	if err != nil {
		t.Fatal(err)
	}
	if err := hostAnswers(h, up.Stdout, "/file?path=/site/version.txt", stamp); err != nil {
		t.Fatalf("the workload on the SSH engine does not serve the directory's file: %v", err)
	}
	if plan, err := wd.Plan(ctx); err != nil || plan.HasChanges {
		t.Fatalf("the plan after apply is not empty (%v):\n%s", err, plan.Stdout)
	}
}

// testComposeClassicFallback: on an engine without BuildKit, a compose
// stack's `build:` service builds with the classic builder, and the apply
// warns, naming the service, what will not work.
func testComposeClassicFallback(t *testing.T, env *testEnv, h *acctest.Host) {
	app := newAppRepo(t, env)
	app.repo.CommitFiles(t, map[string]acctest.File{
		"compose.yaml": {Content: []byte("services:\n  app:\n    build: .\n    expose: [\"8080\"]\n")},
		"Dockerfile":   {Content: []byte("FROM scratch\nCOPY testapp /testapp\nENV VERSION=classic-stack\nENTRYPOINT [\"/testapp\"]\n")},
		"testapp":      {Content: app.bin, Executable: true},
	}, "stack")
	name := env.workloadName("classic-stack")
	wd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	t.Cleanup(func() { wd.Destroy(context.Background()) })
	wd.WriteConfig(tfConfig(tcpHostProvider(env, h) + composeAppWorkload(name, app)))
	res, err := wd.Apply(ctx)
	mustSucceed(t, "apply of a compose build on an engine without BuildKit", res, err)
	mustWarnClassic(t, res, "compose service app")
	up, err := wd.Run(ctx, []string{"output", "-raw", "upstream"})
	if err != nil {
		t.Fatal(err)
	}
	if err := hostAnswers(h, up.Stdout, "/", "classic-stack"); err != nil {
		t.Fatal(err)
	}
}

// tcpHostProvider is a provider block for the test host's engine over
// TCP, publishing on the host's address.
func tcpHostProvider(env *testEnv, h *acctest.Host) string {
	return fmt.Sprintf(`
provider "tinyforge" {
  docker_host     = %q
  network         = %q
  publish_address = %q
}
`, h.DockerHost, env.network, h.Addr)
}

// mustWarnClassic fails the test unless an apply warned that it built with
// the classic builder, what will not work there, and also every one of
// want.
func mustWarnClassic(t *testing.T, res acctest.Result, want ...string) {
	t.Helper()
	out := oneLine(res)
	for _, w := range append([]string{"Warning: Deploy warning", "no BuildKit", "classic builder", "RUN --mount"}, want...) {
		if !strings.Contains(out, w) {
			t.Fatalf("the apply does not warn %q:\n%s", w, res.Stdout)
		}
	}
}

// mustFailSaying fails the test unless a run failed with output holding
// every one of want (terraform's line wrapping folded away).
func mustFailSaying(t *testing.T, what string, res acctest.Result, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s succeeded, want it to fail:\n%s", what, res.Stdout)
	}
	for _, w := range want {
		if !strings.Contains(oneLine(res), w) {
			t.Fatalf("%s failed, but its output lacks %q:\n%s", what, w, res.Stdout+res.Stderr)
		}
	}
}

// oneLine is a run's output with its line breaks folded, as terraform
// wraps long messages.
func oneLine(res acctest.Result) string {
	return strings.Join(strings.Fields(res.Stdout+res.Stderr), " ")
}

// keyBody is the middle line of a PEM key: what an output quoting it would
// hold.
func keyBody(key string) string {
	lines := strings.Split(strings.TrimSpace(key), "\n")
	return lines[len(lines)/2]
}
