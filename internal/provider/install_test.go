package provider

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// makeInstall runs `make install` of the repository with HOME set to home,
// as a user would in their own home, with args (FORCE=1); the Go caches and
// settings stay the caller's, so that it builds what is not built yet, not
// everything again. It returns make's output.
func makeInstall(t *testing.T, ctx context.Context, root, home string, args ...string) (string, error) {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	for _, name := range []string{"GOENV", "GOCACHE", "GOPATH", "GOMODCACHE"} {
		out, err := exec.Command("go", "env", name).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", name, err)
		}
		env = append(env, name+"="+strings.TrimSpace(string(out)))
	}
	cmd := exec.CommandContext(ctx, "make", append([]string{"--no-print-directory", "-C", root, "install"}, args...)...)
	cmd.Env = append(env, "HOME="+home)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	t.Logf("make install %s took %s (%v):\n%s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond), err, out.String())
	return out.String(), err
}

// TestAccInstallFromLocalMirror: `make install` puts the provider into a
// home's implied local mirror directory, from which a plain configuration
// (tinyforge/tinyforge with a version constraint, no CLI configuration, no
// dev_overrides) initialises, applies a workload and destroys it. The lock
// file records the version and an h1: hash, which a second install of the
// same source keeps valid. The binary tells its version, and TF_LOG shows
// it.
func TestAccInstallFromLocalMirror(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	name := env.workloadName("installed")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	root, err := acctest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	version := strings.TrimSpace(string(raw))
	minor := regexp.MustCompile(`^\d+\.\d+`).FindString(version)
	if minor == "" || strings.Contains(version, "-") {
		// A pre-release matches no ~> constraint: only an exact version.
		t.Fatalf("VERSION %q is not a release version that `~> x.y` matches", version)
	}
	home := t.TempDir()

	if _, err := makeInstall(t, ctx, root, home); err != nil {
		t.Fatalf("make install: %v", err)
	}
	platform := runtime.GOOS + "_" + runtime.GOARCH
	binary := filepath.Join(home, ".terraform.d", "plugins", "registry.terraform.io", "tinyforge", "tinyforge", version, platform,
		"terraform-provider-tinyforge_v"+version)
	out, err := exec.Command(binary, "-version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "terraform-provider-tinyforge "+version {
		t.Fatalf("%s -version: %q %v, want terraform-provider-tinyforge %s", binary, out, err, version)
	}

	wd := acctest.NewUserWorkdir(t, home)
	t.Cleanup(func() { wd.Destroy(context.Background()) })
	constraint := "~> " + minor
	wd.WriteConfig(fmt.Sprintf(`terraform {
  required_providers {
    tinyforge = {
      source  = "tinyforge/tinyforge"
      version = %q
    }
  }
}
`, constraint) + env.provider("") + imageWorkload(name, env.images.V1, ""))

	res, err := wd.Run(ctx, []string{"init", "-input=false", "-no-color"})
	mustSucceed(t, "terraform init", res, err)
	if !strings.Contains(res.Stdout, "Installed tinyforge/tinyforge v"+version) {
		t.Fatalf("terraform init did not install tinyforge/tinyforge v%s:\n%s", version, res.Stdout)
	}
	lock, err := os.ReadFile(filepath.Join(wd.Dir, ".terraform.lock.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("terraform init:\n%s\n.terraform.lock.hcl:\n%s", res.Stdout, lock)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`provider "registry.terraform.io/tinyforge/tinyforge" \{`),
		regexp.MustCompile(`version\s+= "` + regexp.QuoteMeta(version) + `"`),
		regexp.MustCompile(`constraints\s+= "` + regexp.QuoteMeta(constraint) + `"`),
		regexp.MustCompile(`"h1:[A-Za-z0-9+/=]{44}"`),
	} {
		if !want.Match(lock) {
			t.Errorf("the lock file lacks %s", want)
		}
	}

	log := wd.CaptureLog("INFO")
	res, err = wd.Apply(ctx)
	mustSucceed(t, "terraform apply", res, err)
	up := strings.TrimSpace(acctest.Docker(t, "ps", "--filter", "label=tinyforge.workload="+name, "--format", "{{.Ports}}"))
	if m := regexp.MustCompile(`127\.0\.0\.1:(\d+)->8080`).FindStringSubmatch(up); m == nil {
		t.Fatalf("the workload is not published: %q", up)
	} else if status, body, err := httpGet("http://127.0.0.1:" + m[1] + "/"); err != nil || status != 200 || body != "v1" {
		t.Fatalf("the installed provider's workload answers %d %q %v, want 200 v1", status, body, err)
	}
	logged, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logged), "tinyforge provider "+version) {
		t.Errorf("TF_LOG=INFO does not show the provider's version %s", version)
	}

	// The same source installs the same binary: the lock file still holds.
	if _, err := makeInstall(t, ctx, root, home); err != nil {
		t.Fatalf("make install of the same source again: %v", err)
	}
	res, err = wd.Run(ctx, []string{"init", "-input=false", "-no-color"})
	mustSucceed(t, "terraform init after a second make install", res, err)
	res, err = wd.Plan(ctx)
	if err != nil || res.HasChanges {
		t.Fatalf("plan after a second make install: want no changes (%v):\n%s", err, res.Stdout)
	}
	// Another build under the installed version (here: the installed one
	// changed) would break that lock file: make install refuses it, and
	// FORCE=1 replaces it.
	f, err := os.OpenFile(binary, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("another build"))
	f.Close()
	if out, err := makeInstall(t, ctx, root, home); err == nil || !strings.Contains(out, "is installed already, from another build") {
		t.Fatalf("make install over another build of %s: want a refusal, got %v:\n%s", version, err, out)
	}
	if _, err := makeInstall(t, ctx, root, home, "FORCE=1"); err != nil {
		t.Fatalf("make install FORCE=1: %v", err)
	}
	res, err = wd.Plan(ctx)
	if err != nil || res.HasChanges {
		t.Fatalf("plan after make install FORCE=1 put this build back: want no changes (%v):\n%s", err, res.Stdout)
	}

	res, err = wd.Destroy(ctx)
	mustSucceed(t, "terraform destroy", res, err)
	if names := containersOf(t, name); len(names) > 0 {
		t.Fatalf("destroy left %v", names)
	}
}
