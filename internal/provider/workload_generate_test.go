package provider

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// generatedConfig is a state that adopts a deployed workload with an import
// block and `terraform plan -generate-config-out`, as a user moving a
// workload to a new state does.
type generatedConfig struct {
	t        *testing.T
	wd       *acctest.Workdir
	provider string // the provider block
	name     string
}

// generatedFile is the file terraform writes the generated configuration to.
const generatedFile = "generated.tf"

// generate writes the import block and runs the plan that generates the
// workload's configuration; it returns the generated file. The plan must
// succeed, or, when wantErr is not nil, fail with it: terraform writes the
// configuration even when the plan with it fails (a Git source's token,
// which cannot be generated, is missing); its output must hold each of
// wantOutput.
func (g *generatedConfig) generate(ctx context.Context, wantErr *regexp.Regexp, wantOutput ...string) string {
	g.t.Helper()
	g.wd.WriteConfig(tfConfig(g.provider + fmt.Sprintf(`
import {
  to = tinyforge_workload.web
  id = %q
}
`, g.name)))
	res, err := g.wd.Run(ctx, []string{"plan", "-input=false", "-no-color", "-generate-config-out=" + generatedFile})
	g.t.Logf("the plan that generated the configuration:\n%s%s", res.Stdout, res.Stderr)
	if wantErr == nil {
		mustSucceed(g.t, "plan -generate-config-out", res, err)
	} else {
		mustFail(g.t, "plan -generate-config-out", res, err, wantErr)
	}
	for _, w := range wantOutput {
		if !strings.Contains(res.Stdout+res.Stderr, w) {
			g.t.Errorf("the plan that generated the configuration does not say %q", w)
		}
	}
	b, err := os.ReadFile(filepath.Join(g.wd.Dir, generatedFile))
	if err != nil {
		g.t.Fatalf("terraform wrote no configuration: %v\n%s", err, res.Stdout)
	}
	g.t.Logf("-generate-config-out wrote:\n%s", b)
	return string(b)
}

// fill replaces the line that sets attr to null (sensitive) in the
// generated file with attr = value, as the user filling in what could not
// be generated.
func (g *generatedConfig) fill(attr, value string) { g.replaceNull(attr, " # sensitive", value) }

// set replaces the line that sets attr to null (not sensitive) with attr =
// value, as the user writing what the generated file leaves out.
func (g *generatedConfig) set(attr, value string) { g.replaceNull(attr, "", value) }

// replaceNull replaces the line "attr = null<suffix>" of the generated file
// with attr = value.
func (g *generatedConfig) replaceNull(attr, suffix, value string) {
	g.t.Helper()
	path := filepath.Join(g.wd.Dir, generatedFile)
	b, err := os.ReadFile(path)
	if err != nil {
		g.t.Fatal(err)
	}
	line := regexp.MustCompile(`(?m)^(\s*)` + attr + `\s*= null` + regexp.QuoteMeta(suffix) + `$`)
	if !line.Match(b) {
		g.t.Fatalf("the generated configuration does not set %s = null%s:\n%s", attr, suffix, b)
	}
	filled := line.ReplaceAllString(string(b), "${1}"+attr+" = "+strings.ReplaceAll(value, "$", "$$"))
	if err := os.WriteFile(path, []byte(filled), 0o644); err != nil {
		g.t.Fatal(err)
	}
}

// stateAttr is an attribute of the workload in the workdir's state.
func (g *generatedConfig) stateAttr(ctx context.Context, attr string) string {
	g.t.Helper()
	res, err := g.wd.Run(ctx, []string{"state", "show", "-no-color", "tinyforge_workload.web"})
	mustSucceed(g.t, "state show", res, err)
	m := regexp.MustCompile(`(?m)^\s+` + attr + `\s+= (.*)$`).FindStringSubmatch(res.Stdout)
	if m == nil {
		g.t.Fatalf("the state shows no %s:\n%s", attr, res.Stdout)
	}
	return m[1]
}

// importsAlone plans the import with the filled-in configuration, which
// must import and change nothing, applies it, and then wants an empty plan
// (terraform plan -detailed-exitcode exits 0).
func (g *generatedConfig) importsAlone(ctx context.Context) {
	g.t.Helper()
	res, err := g.wd.Run(ctx, []string{"plan", "-input=false", "-no-color"})
	mustSucceed(g.t, "plan with the generated configuration", res, err)
	if !strings.Contains(res.Stdout, "Plan: 1 to import, 0 to add, 0 to change, 0 to destroy.") {
		g.t.Fatalf("the plan with the generated configuration does more than import:\n%s", res.Stdout)
	}
	res, err = g.wd.Apply(ctx)
	mustSucceed(g.t, "apply the import", res, err)
	res, err = g.wd.Plan(ctx)
	if err != nil || res.HasChanges {
		g.t.Fatalf("the plan after the import is not empty (%v):\n%s", err, res.Stdout)
	}
}

// computedOnly are the attributes of tinyforge_workload that only the
// provider sets: a generated configuration must not hold them.
var computedOnly = []string{"id", "container_id", "container_name", "image_id", "generation", "upstream",
	"effective_strategy", "commit_sha", "status", "stray_containers", "owner", "services", "routed_to"}

// holdsNoComputed fails the test when the generated configuration sets a
// computed-only attribute.
func holdsNoComputed(t *testing.T, generated string) {
	t.Helper()
	for _, attr := range computedOnly {
		if regexp.MustCompile(`(?m)^\s*` + attr + `\s*=`).MatchString(generated) {
			t.Errorf("the generated configuration sets the computed attribute %s:\n%s", attr, generated)
		}
	}
}

// TestAccGeneratedConfigImage: an image workload with every optional
// attribute set is imported into a new state with a generated
// configuration; once its env is written back, the import changes nothing
// and the plan after it is empty. Env values are not generated (they are
// sensitive): left as generated, the plan redeploys without them, and
// warns which variables it drops before the apply.
func TestAccGeneratedConfigImage(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	caddy := acctest.StartCaddy(t)
	binary := acctest.ProviderBinary(t)
	name := env.workloadName("gen-image")
	mount := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	provider := env.provider(caddyBlock(caddy))

	deployer := acctest.NewWorkdir(t, binary)
	deployer.WriteConfig(tfConfig(provider + fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name            = %q
  deploy_strategy = "blue-green"
  domains         = [%q, %q]
  env             = { GREETING = "hello", API_KEY = "s3cret" }
  health_timeout  = 20
  drain_timeout   = 1
  volume {
    source    = %q
    target    = "/mnt/ro"
    read_only = true
  }
  source {
    image {
      ref         = %q
      port        = 8080
      healthcheck = "/healthz"
      pull        = "never"
    }
  }
}
`, name, name+".test", "www."+name+".test", mount, env.images.V1)))
	res, err := deployer.Apply(ctx)
	mustSucceed(t, "deploy", res, err)
	before := liveIDs(t, name)

	importer := &generatedConfig{t: t, wd: acctest.NewWorkdir(t, binary), provider: provider, name: name}
	t.Cleanup(func() { importer.wd.Destroy(context.Background()) })
	// Left as generated, env is null: the plan redeploys without it, and
	// says so before the apply.
	generated := importer.generate(ctx, nil, "Plan: 1 to import, 0 to add, 1 to change, 0 to destroy.",
		"Warning: env is not set: the apply redeploys without API_KEY, GREETING", "-generate-config-out")
	holdsNoComputed(t, generated)
	// terraform aligns each block's "=" to its longest name: match any run
	// of spaces, so a new attribute does not break the check.
	for _, want := range []string{`deploy_strategy = "blue-green"`, `drain_timeout = 1`, `health_timeout = 20`, `pull = "never"`, `read_only = true`} {
		name, value, _ := strings.Cut(want, " = ")
		if !regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(name) + ` +` + `= ` + regexp.QuoteMeta(value) + `$`).MatchString(generated) {
			t.Errorf("the generated configuration lacks %s", want)
		}
	}
	importer.fill("env", `{ GREETING = "hello", API_KEY = "s3cret" }`)
	importer.importsAlone(ctx)
	if after := liveIDs(t, name); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Fatalf("the import replaced the containers: %v -> %v", before, after)
	}
	if err := through(caddy, "www."+name+".test", "v1")(nil); err != nil {
		t.Fatal(err)
	}
}

// TestAccGeneratedConfigDockerfile: a dockerfile workload imported with a
// generated configuration: with its token written back (write-only: the
// state holds none) and its env, the import changes nothing and the plan
// after it is empty.
func TestAccGeneratedConfigDockerfile(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	binary := acctest.ProviderBinary(t)
	app := newAppRepo(t, env)
	name := env.workloadName("gen-git")
	app.commit(t, "A")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	provider := env.provider("")

	deployer := acctest.NewWorkdir(t, binary)
	deployer.WriteConfig(tfConfig(provider + fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name = %q
  env  = { GREETING = "hello" }
%s}
`, name, app.block(`      build_args = { FLAVOUR = "plain" }`))))
	res, err := deployer.Apply(ctx)
	mustSucceed(t, "deploy", res, err)
	before := liveIDs(t, name)

	importer := &generatedConfig{t: t, wd: acctest.NewWorkdir(t, binary), provider: provider, name: name}
	t.Cleanup(func() { importer.wd.Destroy(context.Background()) })
	// The token is not generated: the plan cannot resolve the branch, and
	// fails naming the attribute to fill in; terraform writes the file all
	// the same.
	generated := importer.generate(ctx, wrapped("Error: Git token not set", "generated.tf", "write it into source.dockerfile.access_token_wo"),
		"Warning: env is not set: the apply redeploys without GREETING")
	holdsNoComputed(t, generated)
	if strings.Contains(generated, app.git.Token) {
		t.Fatalf("the generated configuration holds the token:\n%s", generated)
	}
	importer.fill("env", `{ GREETING = "hello" }`)
	importer.fill("access_token_wo", fmt.Sprintf("%q", app.git.Token))
	importer.importsAlone(ctx)
	if after := liveIDs(t, name); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Fatalf("the import replaced the containers: %v -> %v", before, after)
	}

	// terraform import into a configuration that sets
	// access_token_wo_version: the imported state has no version, so the
	// plan shows it; the first apply records it and deploys nothing.
	started := startTimes(t, before)
	res, err = importer.wd.Run(ctx, []string{"state", "rm", "-no-color", "tinyforge_workload.web"})
	mustSucceed(t, "state rm", res, err)
	importer.wd.WriteConfig(tfConfig(provider)) // without the import block; generated.tf stays
	importer.set("access_token_wo_version", "1")
	res, err = importer.wd.Run(ctx, []string{"import", "-input=false", "-no-color", "tinyforge_workload.web", name})
	mustSucceed(t, "terraform import", res, err)
	generation := importer.stateAttr(ctx, "generation")
	res, err = importer.wd.Plan(ctx)
	mustSucceed(t, "plan after the import", res, err)
	changed := regexp.MustCompile(`(?m)^\s+[-+~] \w+\s+=.*$`).FindAllString(res.Stdout, -1)
	if !res.HasChanges || len(changed) != 1 || strings.TrimSpace(changed[0]) != "+ access_token_wo_version = 1" ||
		!strings.Contains(res.Stdout, "Plan: 0 to add, 1 to change, 0 to destroy.") {
		t.Fatalf("the plan after the import does more than record access_token_wo_version (changes %q):\n%s", changed, res.Stdout)
	}
	res, err = importer.wd.Apply(ctx)
	mustSucceed(t, "the first apply after the import", res, err)
	if got := importer.stateAttr(ctx, "generation"); got != generation {
		t.Errorf("the first apply after the import deployed: generation %s -> %s", generation, got)
	}
	if after := startTimes(t, liveIDs(t, name)); !maps.Equal(after, started) {
		t.Errorf("the first apply after the import touched the containers: %v -> %v", started, after)
	}
	if res, err := importer.wd.Plan(ctx); err != nil || res.HasChanges {
		t.Fatalf("the plan after it is not empty (%v):\n%s", err, res.Stdout)
	}
}

// startTimes maps each container to the time it last started, which any
// restart or replacement changes.
func startTimes(t *testing.T, ids []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, id := range ids {
		out[id] = acctest.Docker(t, "inspect", "--format", "{{.State.StartedAt}}", id)
	}
	return out
}

// TestAccGeneratedConfigStatic: a static site (built by a command, served
// as a single-page app) imported with a generated configuration: with its
// token written back, the import changes nothing and the plan after it is
// empty.
func TestAccGeneratedConfigStatic(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	caddy := acctest.StartCaddy(t)
	binary := acctest.ProviderBinary(t)
	site := newSiteRepo(t)
	server, build, _ := staticImages(t)
	name := env.workloadName("gen-static")
	domain := name + ".test"
	site.commit(t, map[string]string{"src/index.html": "<h1>generated</h1>"}, "one")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	provider := env.provider(caddyBlock(caddy))

	deployer := acctest.NewWorkdir(t, binary)
	deployer.WriteConfig(tfConfig(provider + site.workload(name, domain, `  deploy_strategy = "blue-green"`, server+fmt.Sprintf(`
      build_image       = %q
      build_command     = "mkdir -p dist && cp src/index.html dist/"
      publish_directory = "dist"
      spa               = true`, build))))
	res, err := deployer.Apply(ctx)
	mustSucceed(t, "deploy", res, err)
	before := liveIDs(t, name)

	importer := &generatedConfig{t: t, wd: acctest.NewWorkdir(t, binary), provider: provider, name: name}
	t.Cleanup(func() { importer.wd.Destroy(context.Background()) })
	generated := importer.generate(ctx, wrapped("Error: Git token not set", "generated.tf", "write it into source.static.access_token_wo"))
	holdsNoComputed(t, generated)
	importer.fill("access_token_wo", fmt.Sprintf("%q", site.git.Token))
	importer.importsAlone(ctx)
	if after := liveIDs(t, name); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Fatalf("the import replaced the containers: %v -> %v", before, after)
	}
	if err := serves(caddy, domain, "/some/route", 200, "generated", "")(nil); err != nil {
		t.Fatal(err)
	}
}

// TestAccGeneratedConfigCompose: a compose stack imported with a generated
// configuration: with its token written back, the import changes nothing
// and the plan after it is empty.
func TestAccGeneratedConfigCompose(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	caddy := acctest.StartCaddy(t)
	binary := acctest.ProviderBinary(t)
	site := newSiteRepo(t)
	name := env.workloadName("gen-stack")
	domain := name + ".test"
	removeStack(t, name)
	site.repo.CommitFiles(t, stackFiles(t, "one", "one"), "one")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	provider := env.provider(caddyBlock(caddy))

	deployer := acctest.NewWorkdir(t, binary)
	deployer.WriteConfig(tfConfig(provider + stackWorkload(name, domain, "", site)))
	res, err := deployer.Apply(ctx)
	mustSucceed(t, "deploy", res, err)
	before := stackOf(t, name)

	importer := &generatedConfig{t: t, wd: acctest.NewWorkdir(t, binary), provider: provider, name: name}
	t.Cleanup(func() { importer.wd.Destroy(context.Background()) })
	generated := importer.generate(ctx, wrapped("Error: Git token not set", "generated.tf", "write it into source.compose.access_token_wo"))
	holdsNoComputed(t, generated)
	importer.fill("access_token_wo", fmt.Sprintf("%q", site.git.Token))
	importer.importsAlone(ctx)
	if after := stackOf(t, name); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("the import replaced containers of the stack: %v -> %v", before, after)
	}
	if err := through(caddy, domain, "web-one")(nil); err != nil {
		t.Fatal(err)
	}
}
