package provider

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// stackCompose is the test stack, in deploy/compose.yaml so that its
// relative paths resolve from that folder as the docker compose CLI
// resolves them: web builds from the repository's web folder (`..`), reads
// web.env beside the compose file and mounts the repository's conf folder,
// and waits for db to be healthy; db builds too (the test app and a health
// check command, FROM scratch) and keeps a named volume.
func stackCompose(webVersion, dbVersion string, webEnv ...string) string {
	extra := ""
	for _, e := range webEnv {
		extra += "      " + e + "\n"
	}
	return fmt.Sprintf(`services:
  web:
    build: ../web
    env_file: web.env
    environment:
      VERSION: web-%s
      GREETING: ${GREETING:-hello}
%s    volumes:
      - ../conf:/conf:ro
    ports:
      - "8080"
    depends_on:
      db:
        condition: service_healthy
  db:
    build: ../db
    environment:
      VERSION: db-%s
    healthcheck:
      test: ["CMD", "/healthcheck", "http://127.0.0.1:8080/healthz"]
      interval: 1s
      timeout: 10s
      retries: 3
      start_period: 60s
    volumes:
      - data:/data
volumes:
  data: {}
`, webVersion, extra, dbVersion)
}

// webHealthchecked is stack (a stackCompose) with a compose healthcheck
// on web: the stack's Up waits for it, and that wait is web's gate.
func webHealthchecked(stack string) string {
	return strings.Replace(stack, "  web:\n", `  web:
    healthcheck:
      test: ["CMD", "/healthcheck", "http://127.0.0.1:8080/healthz"]
      interval: 1s
      timeout: 10s
      retries: 3
`, 1)
}

// stackFile is where the test stack's compose file sits in its repository.
const stackFile = "deploy/compose.yaml"

// stackFiles are the test stack's repository: stackCompose at stackFile,
// web.env beside it, the conf folder web mounts, and the web and db build
// folders (the test app and a health check command, for webHealthchecked
// and db), each with a unique build label (acctest.UniqueBuildLabel).
func stackFiles(t *testing.T, webVersion, dbVersion string) map[string]acctest.File {
	t.Helper()
	app, err := os.ReadFile(acctest.TestImages(t).Binary)
	if err != nil {
		t.Fatal(err)
	}
	check, err := os.ReadFile(acctest.HealthcheckBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]acctest.File{
		stackFile:        {Content: []byte(stackCompose(webVersion, dbVersion))},
		"deploy/web.env": {Content: []byte("FROM_ENV_FILE=from-web-env\n")},
		"conf/motd":      {Content: []byte("mounted from the checkout\n")},
		"web/Dockerfile": {Content: []byte("FROM scratch\n" + acctest.UniqueBuildLabel(t) +
			"\nCOPY testapp /testapp\nCOPY healthcheck /healthcheck\nENTRYPOINT [\"/testapp\"]\n")},
		"web/testapp":     {Content: app, Executable: true},
		"web/healthcheck": {Content: check, Executable: true},
		"db/Dockerfile": {Content: []byte("FROM scratch\n" + acctest.UniqueBuildLabel(t) +
			"\nCOPY testapp /testapp\nCOPY healthcheck /healthcheck\nENTRYPOINT [\"/testapp\"]\n")},
		"db/testapp":     {Content: app, Executable: true},
		"db/healthcheck": {Content: check, Executable: true},
	}
}

// stackWorkload is the test stack of site's repository as a routed
// workload, by strategy.
func stackWorkload(name, domain, strategy string, site *siteRepo) string {
	return fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name            = %q
  deploy_strategy = %q
  domains         = [%q]
  health_timeout  = 30
  drain_timeout   = 2
  source {
    compose {
      base_url     = %q
      repo_owner   = %q
      repo_name    = %q
      access_token = %q
      files        = [%q]
      service      = "web"
      port         = 8080
      healthcheck  = "/healthz"
    }
  }
}
`, name, strategy, domain, site.git.URL, site.repo.Owner, site.repo.Name, site.git.Token, stackFile)
}

// throughPath checks that Caddy answers GET path on domain with want, once
// Caddy has settled on its last config.
func throughPath(c *acctest.Caddy, domain, path, want string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		return settled(func() error {
			status, body, err := c.GetE(domain, path)
			if err != nil || status != 200 || strings.TrimSpace(body) != want {
				return fmt.Errorf("GET %s%s through Caddy: %d %q %v, want 200 %q", domain, path, status, clip(body), err, want)
			}
			return nil
		})
	}
}

// stackOf lists the stack's containers by service name: service -> ID.
func stackOf(t *testing.T, project string) map[string]string {
	t.Helper()
	out := acctest.Docker(t, "ps", "-a", "--filter", "label=com.docker.compose.project="+project,
		"--format", `{{.Label "com.docker.compose.service"}} {{.ID}}`)
	ids := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			ids[f[0]] = f[1]
		}
	}
	return ids
}

// TestAccComposeStack deploys a 2-service compose stack from Git behind
// Caddy: web builds from the repository and waits for db to be healthy;
// its compose file sits in a subfolder and its relative paths (a ".."
// build context, env_file, a bind mount) resolve from there. Import reads
// it back with an empty plan; a commit changing only db recreates only db;
// db stopped by hand shows in the plan and comes back without a new
// generation, web untouched. Under load through Caddy: a commit changing
// web updates it start-first with no failed request, one web container
// left; a web that fails its gate (the healthcheck path, then a compose
// healthcheck) fails the apply with its log lines, no request failed and
// the old web serves on alone; a commit changing db and web is measured
// (db restarts in place). A build context that climbs out of the checkout
// and a broken compose file fail the plan; blue-green and replicas are
// refused at plan;
// destroy leaves the named volume alone and nothing else.
func TestAccComposeStack(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	caddy := acctest.StartCaddy(t)
	site := newSiteRepo(t)
	name := env.workloadName("stack")
	domain := name + ".test"
	volume := name + "_data"
	removeStack(t, name)
	push := func(files map[string]acctest.File, msg string) string { return site.repo.CommitFiles(t, files, msg) }
	push(stackFiles(t, "one", "one"), "one")
	cfg := func(strategy string) string {
		return env.provider(caddyBlock(caddy)) + stackWorkload(name, domain, strategy, site)
	}
	running := func(svc string) statecheck.StateCheck {
		return statecheck.ExpectKnownValue(web, tfjsonpath.New("services").AtMapKey(svc), knownvalue.ObjectExact(map[string]knownvalue.Check{
			"state": knownvalue.StringExact("running"), "running": knownvalue.Int64Exact(1), "desired": knownvalue.Int64Exact(1),
		}))
	}
	var before map[string]string
	load := newLoadDuring(t, caddy, domain)
	var pushed time.Time
	// keptServing checks what a deploy of a web that failed its gate
	// left: no request failed under load, web-two answered them all, and
	// the old web container runs alone.
	keptServing := func(what string) {
		stats := load.stop()
		t.Logf("compose redeploy of %s, under load: %d requests, %d failed, answers %v", what, stats.Total, stats.Failed, stats.Bodies)
		if stats.Failed != 0 || stats.Total == 0 || len(stats.Bodies) != 1 {
			t.Fatalf("during the deploy of %s %d of %d requests failed, answers %v: want none failed, web-two alone",
				what, stats.Failed, stats.Total, stats.Bodies)
		}
		if now := stackOf(t, name); now["web"] != before["web"] || len(webContainers(t, name)) != 1 {
			t.Fatalf("after the deploy of %s the stack runs %v (web containers %v), want web %s alone", what, now, webContainers(t, name), before["web"])
		}
		if err := through(caddy, domain, "web-two")(nil); err != nil {
			t.Fatal(err)
		}
	}
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy: func(*terraform.State) error {
			if left := stackOf(t, name); len(left) > 0 {
				return fmt.Errorf("destroy left containers of the stack: %v", left)
			}
			if out, _ := acctest.DockerE("network", "ls", "-q", "--filter", "name=^"+name+"_default$"); out != "" {
				return fmt.Errorf("destroy left the stack's network")
			}
			if _, err := acctest.DockerE("volume", "inspect", volume); err != nil {
				return fmt.Errorf("destroy removed the named volume %s (it is data): %v", volume, err)
			}
			if out, _ := acctest.DockerE("volume", "ls", "-q", "--filter", "label=tinyforge.workload="+name); out != "" {
				return fmt.Errorf("destroy left the stack's records: %s", out)
			}
			if imgs, _ := acctest.DockerE("images", "-q", "--filter", "label=com.docker.compose.project="+name); imgs != "" {
				return fmt.Errorf("destroy left images the stack built: %s", imgs)
			}
			return noRoute(t, caddy, name)
		},
		Steps: []resource.TestStep{
			{
				Config: cfg(""),
				ConfigPlanChecks: emptyPlanAfterApply(
					plancheck.ExpectKnownValue(web, tfjsonpath.New("effective_strategy"), knownvalue.StringExact("start-first")),
				),
				ConfigStateChecks: []statecheck.StateCheck{running("web"), running("db"),
					statecheck.ExpectKnownValue(web, tfjsonpath.New("generation"), knownvalue.Int64Exact(1))},
				Check: resource.ComposeTestCheckFunc(
					through(caddy, domain, "web-one"),
					throughPath(caddy, domain, "/env/FROM_ENV_FILE", "from-web-env"),
					throughPath(caddy, domain, "/file?path=/conf/motd", "mounted from the checkout"),
					func(*terraform.State) error {
						if before = stackOf(t, name); len(before) != 2 {
							return fmt.Errorf("the stack's containers: %v", before)
						}
						return nil
					},
				),
			},
			{
				ResourceName:                         web,
				ImportState:                          true,
				ImportStateId:                        name,
				ImportStateVerify:                    true,
				ImportStateVerifyIdentifierAttribute: "name",
				ImportStateVerifyIgnore:              []string{"source.compose.access_token"},
			},
			{ // a commit that changes only db: the plan shows it, only db is recreated
				PreConfig: func() {
					push(map[string]acctest.File{stackFile: {Content: []byte(stackCompose("one", "two"))}}, "db two")
				},
				Config: cfg(""),
				ConfigPlanChecks: emptyPlanAfterApply(
					plancheck.ExpectKnownValue(web, tfjsonpath.New("generation"), knownvalue.Int64Exact(2)),
				),
				Check: func(*terraform.State) error {
					now := stackOf(t, name)
					if now["web"] != before["web"] || now["db"] == before["db"] {
						return fmt.Errorf("containers %v -> %v: want db recreated, web untouched", before, now)
					}
					before = now
					if out := acctest.Docker(t, "exec", now["db"], "/healthcheck", "http://127.0.0.1:8080/env/VERSION"); !strings.Contains(out, "200") {
						return fmt.Errorf("db's env: %s", out)
					}
					return through(caddy, domain, "web-one")(nil)
				},
			},
			{ // db stopped by hand: the plan shows it; the apply starts it again, web untouched
				PreConfig: func() { acctest.Docker(t, "stop", before["db"]) },
				Config:    cfg(""),
				ConfigPlanChecks: emptyPlanAfterApply(
					plancheck.ExpectResourceAction(web, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(web, tfjsonpath.New("generation"), knownvalue.Int64Exact(2)),
					plancheck.ExpectKnownValue(web, tfjsonpath.New("services").AtMapKey("db").AtMapKey("state"), knownvalue.StringExact("running")),
				),
				ConfigStateChecks: []statecheck.StateCheck{running("web"), running("db")},
				Check: func(*terraform.State) error {
					if now := stackOf(t, name); now["web"] != before["web"] {
						return fmt.Errorf("web was touched: %v -> %v", before, now)
					}
					return through(caddy, domain, "web-one")(nil)
				},
			},
			{ // a commit that changes web, under load through Caddy: start-first, no request fails
				PreConfig: func() {
					push(map[string]acctest.File{stackFile: {Content: []byte(stackCompose("two", "two"))}}, "web two")
					load.start()
					pushed = time.Now()
				},
				Config:            cfg(""),
				ConfigPlanChecks:  emptyPlanAfterApply(),
				ConfigStateChecks: []statecheck.StateCheck{running("web"), running("db")},
				Check: func(*terraform.State) error {
					stats := measured(t, load, pushed, "web")
					if stats.Failed != 0 || stats.Total == 0 {
						return fmt.Errorf("%d of %d requests failed during the web-only redeploy: %v", stats.Failed, stats.Total, stats.FirstFailures)
					}
					// The new web has the service's env_file and bind mount.
					if err := resource.ComposeTestCheckFunc(
						through(caddy, domain, "web-two"),
						throughPath(caddy, domain, "/env/FROM_ENV_FILE", "from-web-env"),
						throughPath(caddy, domain, "/file?path=/conf/motd", "mounted from the checkout"),
					)(nil); err != nil {
						return err
					}
					return oneWebBeside(t, name, before, "web two")
				},
			},
			{ // a web that fails its gate, under load: the apply fails with its log lines, the old web serves on
				PreConfig: func() {
					before = stackOf(t, name)
					push(map[string]acctest.File{stackFile: {Content: []byte(stackCompose("bad", "two", "HEALTH: fail"))}}, "web fails")
					load.start()
				},
				Config:      cfg(""),
				ExpectError: wrapped("failed its gate", "HTTP 500", "last log lines of", "testapp serves GET /"),
			},
			{ // ... and nothing that served was touched; then a web that fails its compose healthcheck, under load:
				// the stack's Up fails on it, the new web goes, the old web serves on
				PreConfig: func() {
					keptServing("a web that fails its gate")
					push(map[string]acctest.File{stackFile: {Content: []byte(webHealthchecked(stackCompose("bad", "two", "HEALTH: fail")))}},
						"web fails its compose healthcheck")
					load.start()
				},
				Config:      cfg(""),
				ExpectError: wrapped("failed its gate", "is unhealthy", "last log lines of", "testapp serves GET /"),
			},
			{ // ... and nothing that served was touched; then a commit that changes db and web (web gated by its compose
				// healthcheck), under load: measured
				PreConfig: func() {
					keptServing("a web that fails its compose healthcheck")
					push(map[string]acctest.File{stackFile: {Content: []byte(webHealthchecked(stackCompose("three", "three")))}}, "db and web three")
					load.start()
					pushed = time.Now()
				},
				Config:            cfg(""),
				ConfigPlanChecks:  emptyPlanAfterApply(),
				ConfigStateChecks: []statecheck.StateCheck{running("web"), running("db")},
				Check: func(*terraform.State) error {
					measured(t, load, pushed, "db and web")
					now := stackOf(t, name)
					if now["db"] == before["db"] {
						return fmt.Errorf("db's environment changed, yet db was not recreated")
					}
					if health := acctest.Docker(t, "inspect", "--format", "{{.State.Health.Status}}", now["web"]); health != "healthy" {
						return fmt.Errorf("the new web's compose healthcheck: %s, want healthy", health)
					}
					return through(caddy, domain, "web-three")(nil)
				},
			},
			{ // a build context that climbs out of the checkout is refused at plan, naming the service
				PreConfig: func() {
					push(map[string]acctest.File{stackFile: {Content: []byte(strings.Replace(stackCompose("three", "three"),
						"build: ../web", "build: ../../web", 1))}}, "web climbs out")
				},
				Config:      cfg(""),
				PlanOnly:    true,
				ExpectError: wrapped("service web: build context", "is outside the checkout"),
			},
			{ // a broken compose file fails the plan, naming the file
				PreConfig: func() {
					push(map[string]acctest.File{stackFile: {Content: []byte("services:\n  web:\n    imagez: x\n")}}, "broken")
				},
				Config:      cfg(""),
				PlanOnly:    true,
				ExpectError: wrapped(stackFile),
			},
			{ // blue-green is refused at plan
				PreConfig: func() {
					push(map[string]acctest.File{stackFile: {Content: []byte(webHealthchecked(stackCompose("three", "three")))}}, "fixed")
				},
				Config:      cfg("blue-green"),
				PlanOnly:    true,
				ExpectError: wrapped(`deploy_strategy "blue-green" cannot be used with a compose source`, "start-first"),
			},
			{ // replicas is the compose file's: refused at plan, at the attribute
				Config:      strings.Replace(cfg(""), "  domains ", "  replicas        = 2\n  domains ", 1),
				PlanOnly:    true,
				ExpectError: wrapped("replicas = 2", "replicas does not apply to a compose source", "deploy.replicas", "(got 2)"),
			},
		},
	})
}

// measured ends the load of a redeploy of what (pushed when), logs what
// it saw and returns it.
func measured(t *testing.T, load *loadDuring, pushed time.Time, what string) acctest.Stats {
	took := time.Since(pushed)
	stats := load.stop()
	t.Logf("compose redeploy of %s under load: live in %s; %d requests, %d failed, longest unavailable window %s, answers %v",
		what, took.Round(time.Millisecond), stats.Total, stats.Failed, unavailable(stats).Round(time.Millisecond), stats.Bodies)
	return stats
}

// removeStack removes what a failed test left of the stack project (its
// containers carry the stack label, not tinyforge.workload), when the
// test ends.
func removeStack(t *testing.T, project string) {
	t.Cleanup(func() {
		if ids := acctest.Docker(t, "ps", "-aq", "--filter", "label=com.docker.compose.project="+project); ids != "" {
			acctest.DockerE(append([]string{"rm", "-f"}, strings.Fields(ids)...)...)
		}
		acctest.DockerE("network", "rm", project+"_default")
		acctest.DockerE("volume", "rm", "-f", project+"_data")
	})
}

// unavailable is the longest span of a load run from a failed request to
// the next one that succeeded.
func unavailable(stats acctest.Stats) time.Duration {
	longest := time.Duration(0)
	var from time.Time
	for _, s := range stats.Samples() {
		if !s.OK && from.IsZero() {
			from = s.Start
		}
		if s.OK && !from.IsZero() {
			longest = max(longest, s.Start.Sub(from))
			from = time.Time{}
		}
	}
	return longest
}

// webContainers are the IDs of the stack's web containers, as `docker
// compose ps` finds them: by compose's project and service labels.
func webContainers(t *testing.T, project string) []string {
	t.Helper()
	return strings.Fields(acctest.Docker(t, "ps", "-aq", "--no-trunc", "--filter", "label=com.docker.compose.project="+project,
		"--filter", "label=com.docker.compose.service=web"))
}

// oneWebBeside checks what a start-first update of web left: one web
// container, not the one before, created by compose within the project
// (its project, service and container-number labels, the service name as
// its network alias), db untouched.
func oneWebBeside(t *testing.T, project string, before map[string]string, what string) error {
	ids := webContainers(t, project)
	if len(ids) != 1 {
		return fmt.Errorf("after %s the stack has web containers %v, want one", what, ids)
	}
	now := stackOf(t, project)
	if strings.HasPrefix(ids[0], before["web"]) || now["db"] != before["db"] {
		return fmt.Errorf("containers %v -> %v after %s: want a new web, db untouched", before, now, what)
	}
	got := acctest.Docker(t, "inspect", "--format",
		`{{index .Config.Labels "com.docker.compose.container-number"}} {{range .NetworkSettings.Networks}}{{join .Aliases ","}}{{end}}`, ids[0])
	number, aliases, _ := strings.Cut(got, " ")
	if number == "1" || !slices.Contains(strings.Split(aliases, ","), "web") {
		return fmt.Errorf("the new web container: number %s, aliases %s; want a number after 1 and the alias web", number, aliases)
	}
	return nil
}

// composeAppWorkload is a compose workload "web" named name from app's
// repository, routed to its service app on 8080; its upstream is an
// output.
func composeAppWorkload(name string, app *appRepo) string {
	return fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name           = %q
  health_timeout = 60
  source {
    compose {
      base_url     = %q
      repo_owner   = %q
      repo_name    = %q
      access_token = %q
      service      = "app"
      port         = 8080
      healthcheck  = "/healthz"
    }
  }
}
output "upstream" { value = tinyforge_workload.web.upstream }
`, name, app.git.URL, app.repo.Owner, app.repo.Name, app.git.Token)
}
