package provider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// kitDockerfile is a multi-stage Dockerfile of BuildKit's features: a
// cache mount whose step writes how many entries the cache held (then adds
// one, named by the stamp), a secret mount whose step writes the secret's
// sha256, the test app serving both, and a stage after the target that
// fails if it is ever built.
const kitDockerfile = `FROM scratch AS base
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ENV PATH=/bin

FROM base AS build
COPY stamp /stamp
RUN --mount=type=cache,target=/var/cache/deps sh -c 'ls /var/cache/deps | wc -l > /entries; cp /stamp /var/cache/deps/$(cat /stamp)'
RUN --mount=type=secret,id=canary sh -c 'sha256sum /run/secrets/canary | cut -d" " -f1 > /canary.sha'

FROM scratch AS app
COPY testapp /testapp
COPY --from=build /entries /canary.sha /
COPY site/ /site/
ENTRYPOINT ["/testapp"]

FROM app AS never
COPY --from=base /bin/busybox /bin/busybox
RUN ["/bin/busybox", "false"]
`

// TestAccBuildKitDockerfile runs the provider binary under TF_LOG=trace on
// two workloads of one repository, each built with BuildKit: the target
// stage and none after it, .dockerignore honoured, a cache mount that keeps
// one build's entries for the workload's next build (counted, not timed)
// and goes with the workload's destroy while the other workload's stays,
// and a write-only build secret read by its step and found nowhere else:
// not in the image's history or configuration, the state, the plan's JSON
// or the log. The build's output reaches the log step by step.
func TestAccBuildKitDockerfile(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	app := newAppRepo(t, env)
	busybox := acctest.Busybox(t)
	app.repo.CommitFiles(t, map[string]acctest.File{
		"Dockerfile":          {Content: []byte(kitDockerfile)},
		"busybox":             {Content: busybox, Executable: true},
		"testapp":             {Content: app.bin, Executable: true},
		"stamp":               {Content: []byte("a")},
		"site/index.html":     {Content: []byte("<h1>kit</h1>")},
		"site/drafts/x.html":  {Content: []byte("not for the image")},
		".dockerignore":       {Content: []byte("site/drafts\n")},
		"docs/not-built.txt":  {Content: []byte("never copied")},
		"never/unused-config": {Content: []byte("x")},
	}, "BuildKit features")
	canary := "canary-" + acctest.UniqueName("secret")
	sum := sha256.Sum256([]byte(canary))
	canarySHA := hex.EncodeToString(sum[:])
	a, b := env.workloadName("kit-a"), env.workloadName("kit-b")

	wd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	logPath := wd.CaptureLog("TRACE")
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	secretEnv := "TF_VAR_canary=" + canary
	t.Cleanup(func() { wd.Destroy(context.Background(), secretEnv) })
	config := func(names ...string) string {
		hcl := `terraform {
  required_providers {
    tinyforge = { source = "tinyforge/tinyforge" }
  }
}
# Ephemeral, as a write-only value's source should be: a plan file
# records the values of the other variables, sensitive or not.
variable "canary" {
  type      = string
  ephemeral = true
}
` + env.provider("")
		for _, name := range names {
			hcl += fmt.Sprintf(`
resource "tinyforge_workload" %[1]q {
  name = %[1]q
  source {
    dockerfile {
      base_url                 = %[2]q
      repo_owner               = %[3]q
      repo_name                = %[4]q
      access_token             = %[5]q
      port                     = 8080
      healthcheck              = "/healthz"
      target                   = "app"
      build_secrets_wo         = { canary = var.canary }
      build_secrets_wo_version = 1
    }
  }
}
output %[1]q { value = tinyforge_workload.%[1]s.upstream }
`, name, app.git.URL, app.repo.Owner, app.repo.Name, app.git.Token)
		}
		return hcl
	}
	apply := func(names ...string) {
		t.Helper()
		wd.WriteConfig(config(names...))
		start := time.Now()
		if res, err := wd.Apply(ctx, secretEnv); err != nil {
			t.Fatalf("apply: %v\n%s", err, res.Stdout)
		}
		t.Logf("apply of %v: %s", names, time.Since(start).Round(time.Millisecond))
		if plan, err := wd.Plan(ctx, secretEnv); err != nil || plan.HasChanges {
			t.Fatalf("the plan after apply is not empty (%v):\n%s", err, plan.Stdout)
		}
	}
	get := func(name, path string) (int, string) {
		t.Helper()
		up, err := wd.Run(ctx, []string{"output", "-raw", name})
		if err != nil {
			t.Fatal(err)
		}
		status, body, err := httpGet("http://" + up.Stdout + "/file?path=" + path)
		if err != nil {
			t.Fatalf("GET %s of %s: %v", path, name, err)
		}
		return status, body
	}
	entries := func(name string) string {
		t.Helper()
		status, body := get(name, "/entries")
		if status != 200 {
			t.Fatalf("GET /entries of %s: %d", name, status)
		}
		return body
	}

	apply(a, b)
	for _, name := range []string{a, b} {
		if n := entries(name); n != "0" {
			t.Errorf("%s: the first build found %s entries in its cache mount, want 0", name, n)
		}
		if status, body := get(name, "/canary.sha"); status != 200 || body != canarySHA {
			t.Errorf("%s: /canary.sha = %d %q, want the secret's sha256: the step did not read it", name, status, body)
		}
		if status, _ := get(name, "/site/index.html"); status != 200 {
			t.Errorf("%s: the site is not in the image (%d)", name, status)
		}
		if status, _ := get(name, "/site/drafts/x.html"); status != 404 {
			t.Errorf("%s: .dockerignore's site/drafts reached the image (%d)", name, status)
		}
	}

	// A new commit: each workload's build finds its first build's entry.
	app.repo.CommitFiles(t, map[string]acctest.File{"stamp": {Content: []byte("b")}}, "stamp b")
	if _, err := wd.Run(ctx, []string{"plan", "-input=false", "-no-color", "-out=tfplan"}, secretEnv); err != nil {
		t.Fatal(err)
	}
	planJSON, err := wd.Run(ctx, []string{"show", "-json", "tfplan"})
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid([]byte(planJSON.Stdout)) || !strings.Contains(planJSON.Stdout, `"build_secrets_wo_version":1`) {
		t.Errorf("terraform show -json of the plan is no plan of the workloads:\n%.500s", planJSON.Stdout)
	}
	if strings.Contains(planJSON.Stdout, canary) {
		t.Errorf("the plan's JSON carries the secret")
	}
	apply(a, b)
	for _, name := range []string{a, b} {
		if n := entries(name); n != "1" {
			t.Errorf("%s: the second build found %s entries in its cache mount, want the first build's 1", name, n)
		}
	}
	for _, img := range builtImagesOf(t, a) {
		for what, text := range map[string]string{
			"history": acctest.Docker(t, "history", "--no-trunc", img),
			"config":  acctest.Docker(t, "image", "inspect", img),
		} {
			if strings.Contains(text, canary) {
				t.Errorf("the secret is in the %s of image %s", what, img)
			}
		}
	}

	// a goes, with its cache; b's cache stays.
	apply(b)
	app.repo.CommitFiles(t, map[string]acctest.File{"stamp": {Content: []byte("c")}}, "stamp c")
	apply(a, b)
	if n := entries(a); n != "0" {
		t.Errorf("%s deployed again after its destroy found %s entries in its cache mount, want 0: destroy left its cache", a, n)
	}
	if n := entries(b); n != "2" {
		t.Errorf("%s found %s entries, want 2: another workload's destroy took its cache", b, n)
	}
	// While both run: not in the state, nor in their containers' labels.
	liveState, err := os.ReadFile(filepath.Join(wd.Dir, "terraform.tfstate"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(liveState), `"build_secrets_wo_version": 1`) || strings.Contains(string(liveState), canary) {
		t.Errorf("the state of the deployed workloads lacks build_secrets_wo_version or carries the secret")
	}
	for _, name := range []string{a, b} {
		for _, c := range containersOf(t, name) {
			if strings.Contains(acctest.Docker(t, "container", "inspect", c), canary) {
				t.Errorf("the secret is in container %s's configuration or labels", c)
			}
		}
	}

	if res, err := wd.Destroy(ctx, secretEnv); err != nil {
		t.Fatalf("destroy: %v\n%s", err, res.Stdout)
	}
	for _, name := range []string{a, b} {
		if imgs := builtImagesOf(t, name); len(imgs) > 0 {
			t.Errorf("destroy left images of %s: %v", name, imgs)
		}
	}
	state, err := os.ReadFile(filepath.Join(wd.Dir, "terraform.tfstate"))
	if err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for what, text := range map[string]string{"state after destroy": string(state), "TF_LOG=trace output": string(log)} {
		if strings.Contains(text, canary) {
			t.Errorf("the %s carries the secret", what)
		}
	}
	// The build's output reaches the log at info, step by step.
	for _, step := range []string{"build: #1 [internal] load build definition", "] RUN --mount=type=cache,target=/var/cache/deps",
		"] RUN --mount=type=secret,id=canary", "[app 3/3] COPY site/ /site/", "image built"} {
		if !strings.Contains(string(log), step) {
			t.Errorf("the provider's log lacks the build line %q", step)
		}
	}
	if strings.Contains(string(log), "[never ") {
		t.Errorf("a stage after the target was built")
	}
}

// TestAccBuildKitComposeCacheMount deploys a compose stack whose service
// builds with BuildKit: the second deploy's build finds what the first
// build left in its cache mount (counted, not timed); the stage after the
// build's target is not built.
func TestAccBuildKitComposeCacheMount(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	app := newAppRepo(t, env)
	busybox := acctest.Busybox(t)
	dockerfile := "FROM scratch AS app\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nENV PATH=/bin\n" +
		"COPY testapp /testapp\nCOPY stamp /stamp\n" +
		"RUN --mount=type=cache,target=/var/cache/deps sh -c 'ls /var/cache/deps | wc -l > /entries; cp /stamp /var/cache/deps/$(cat /stamp)'\n" +
		"ENTRYPOINT [\"/testapp\"]\n" +
		"FROM app AS never\nRUN exit 1\n"
	app.repo.CommitFiles(t, map[string]acctest.File{
		"compose.yaml": {Content: []byte("services:\n  app:\n    build:\n      context: .\n      target: app\n    expose: [\"8080\"]\n")},
		"Dockerfile":   {Content: []byte(dockerfile)},
		"busybox":      {Content: busybox, Executable: true},
		"testapp":      {Content: app.bin, Executable: true},
		"stamp":        {Content: []byte("a")},
	}, "stack")
	name := env.workloadName("kit-stack")
	t.Cleanup(func() {
		if ids := acctest.Docker(t, "ps", "-aq", "--filter", "label=com.docker.compose.project="+name); ids != "" {
			acctest.DockerE(append([]string{"rm", "-f"}, strings.Fields(ids)...)...)
		}
		acctest.DockerE("network", "rm", name+"_default")
	})
	wd := acctest.NewWorkdir(t, acctest.ProviderBinary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t.Cleanup(func() { wd.Destroy(context.Background()) })
	wd.WriteConfig(tfConfig(env.provider("") + composeAppWorkload(name, app)))
	entries := func() string {
		t.Helper()
		up, err := wd.Run(ctx, []string{"output", "-raw", "upstream"})
		if err != nil {
			t.Fatal(err)
		}
		status, body, err := httpGet("http://" + up.Stdout + "/file?path=/entries")
		if err != nil || status != 200 {
			t.Fatalf("GET /entries: %d %v", status, err)
		}
		return body
	}
	res, err := wd.Apply(ctx)
	mustSucceed(t, "apply of the stack", res, err)
	if n := entries(); n != "0" {
		t.Fatalf("the first build found %s entries in its cache mount, want 0", n)
	}
	app.repo.CommitFiles(t, map[string]acctest.File{"stamp": {Content: []byte("b")}}, "stamp b")
	res, err = wd.Apply(ctx)
	mustSucceed(t, "apply of the new commit", res, err)
	if n := entries(); n != "1" {
		t.Fatalf("the second deploy's build found %s entries in its cache mount, want the first build's 1", n)
	}
	if plan, err := wd.Plan(ctx); err != nil || plan.HasChanges {
		t.Fatalf("the plan after apply is not empty (%v):\n%s", err, plan.Stdout)
	}
}
