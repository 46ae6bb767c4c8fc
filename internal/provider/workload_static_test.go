package provider

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
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

// siteRepo is a Git repository of a static site on a real Git server.
type siteRepo struct {
	git  *acctest.GitServer
	repo *acctest.GitRepo
}

func newSiteRepo(t *testing.T) *siteRepo {
	t.Helper()
	git := acctest.StartGitServer(t)
	return &siteRepo{git: git, repo: git.CreateRepo(t, "acme", acctest.UniqueName("site"))}
}

// commit pushes files (path -> content) and returns the commit.
func (s *siteRepo) commit(t *testing.T, files map[string]string, msg string) string {
	t.Helper()
	changes := map[string]acctest.File{}
	for p, c := range files {
		changes[p] = acctest.File{Content: []byte(c)}
	}
	return s.repo.CommitFiles(t, changes, msg)
}

// workload is a routed static workload of the repository; attrs go inside
// the static block, body inside the resource.
func (s *siteRepo) workload(name, domain, body, attrs string) string {
	return fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name           = %q
  domains        = [%q]
  drain_timeout  = 1
  health_timeout = 30
%s
  source {
    static {
      base_url     = %q
      repo_owner   = %q
      repo_name    = %q
      access_token = %q
%s
    }
  }
}
`, name, domain, body, s.git.URL, s.repo.Owner, s.repo.Name, s.git.Token, attrs)
}

// fullSHA is a full commit SHA.
var fullSHA = regexp.MustCompile(`^[0-9a-f]{40}$`)

// getThrough sends GET path for domain through Caddy: status, body, header.
func getThrough(c *acctest.Caddy, domain, path, header string) (int, string, string, error) {
	req, err := http.NewRequest(http.MethodGet, c.HTTPURL+path, nil)
	if err != nil {
		return 0, "", "", err
	}
	req.Host = domain
	client := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b)), resp.Header.Get(header), err
}

// serves checks the site's answer through Caddy, once Caddy has settled on
// its last config: the status, the body (contains), and the Cache-Control
// header ("" = not checked).
func serves(c *acctest.Caddy, domain, path string, status int, body, cacheControl string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		return settled(func() error {
			got, b, cc, err := getThrough(c, domain, path, "Cache-Control")
			if err != nil || got != status || !strings.Contains(b, body) || (cacheControl != "" && cc != cacheControl) {
				return fmt.Errorf("GET %s%s through Caddy: %d %q (Cache-Control %q) %v; want %d, a body with %q, Cache-Control %q",
					domain, path, got, clip(b), cc, err, status, body, cacheControl)
			}
			return nil
		})
	}
}

// staticImages are the test's server, build and Deno images (nothing can be
// pulled here), as static block attributes.
func staticImages(t *testing.T) (server, build, deno string) {
	imgs := acctest.StaticImages(t)
	return fmt.Sprintf("      server_image = %q", imgs.Server), imgs.Build, imgs.Deno
}

// noBuiltImagesLeft is a CheckDestroy part: destroy removed the images the
// provider built for the workload.
func noBuiltImagesLeft(t *testing.T, workload string) func(*terraform.State) error {
	return func(*terraform.State) error {
		if imgs := builtImagesOf(t, workload); len(imgs) > 0 {
			return fmt.Errorf("destroy left the images %v of %s", imgs, workload)
		}
		return nil
	}
}

// TestAccStaticPlainSite serves the files of a folder: index files, a 404
// page with status 404, cache headers, never the repository's .git; import
// reads every attribute back; a new commit redeploys blue-green through
// Caddy without failing a request, and destroy leaves no container or
// image.
func TestAccStaticPlainSite(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	caddy := acctest.StartCaddy(t)
	site := newSiteRepo(t)
	server, _, _ := staticImages(t)
	name := env.workloadName("static")
	domain := name + ".test"
	pages := func(version string) map[string]string {
		return map[string]string{
			"public/index.html":      "<h1>home " + version + "</h1>",
			"public/docs/index.html": "<h1>docs " + version + "</h1>",
			"public/404.html":        "<h1>nothing here</h1>",
			"public/app.3f9a1c2b.js": "console.log('" + version + "')",
			"public/plain.txt":       "plain",
			"README.md":              "not published",
		}
	}
	site.commit(t, pages("one"), "one")
	cfg := func(strategy string) string {
		return env.provider(caddyBlock(caddy)) + site.workload(name, domain, fmt.Sprintf("  deploy_strategy = %q", strategy),
			server+"\n      publish_directory = \"public\"")
	}
	load := newLoadDuring(t, caddy, domain)
	var pushed time.Time
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy: resource.ComposeTestCheckFunc(noContainersLeft(t, name), noBuiltImagesLeft(t, name),
			func(*terraform.State) error { return noRoute(t, caddy, name) }),
		Steps: []resource.TestStep{
			{
				Config: cfg(""),
				ConfigPlanChecks: emptyPlanAfterApply(
					plancheck.ExpectKnownValue(web, tfjsonpath.New("effective_strategy"), knownvalue.StringExact("recreate")),
				),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(web, tfjsonpath.New("commit_sha"), knownvalue.StringRegexp(fullSHA)),
				},
				Check: resource.ComposeTestCheckFunc(
					serves(caddy, domain, "/", 200, "home one", "no-cache"),
					serves(caddy, domain, "/docs/", 200, "docs one", "no-cache"),
					serves(caddy, domain, "/missing", 404, "nothing here", ""),
					serves(caddy, domain, "/app.3f9a1c2b.js", 200, "one", "public, max-age=31536000, immutable"),
					serves(caddy, domain, "/.git/config", 404, "nothing here", ""),
					serves(caddy, domain, "/.tinyforge/Dockerfile", 404, "", ""),
					serves(caddy, domain, "/README.md", 404, "", ""),
				),
			},
			{
				ResourceName:                         web,
				ImportState:                          true,
				ImportStateId:                        name,
				ImportStateVerify:                    true,
				ImportStateVerifyIdentifierAttribute: "name",
				ImportStateVerifyIgnore:              []string{"source.static.access_token"},
			},
			{ // a one-file commit redeploys blue-green: no request fails
				PreConfig: func() {
					p := pages("two")
					site.commit(t, map[string]string{"public/index.html": p["public/index.html"]}, "two")
					load.start()
					pushed = time.Now()
				},
				Config: cfg("blue-green"),
				ConfigPlanChecks: emptyPlanAfterApply(
					plancheck.ExpectKnownValue(web, tfjsonpath.New("generation"), knownvalue.Int64Exact(2)),
				),
				Check: resource.ComposeTestCheckFunc(
					func(*terraform.State) error {
						live := time.Since(pushed)
						stats := load.stop()
						t.Logf("one-file commit to a plain site, live in %s; under load %d requests, %d failed, answers %v",
							live.Round(time.Millisecond), stats.Total, stats.Failed, stats.Bodies)
						if stats.Failed != 0 || stats.Total == 0 {
							return fmt.Errorf("%d of %d requests failed: %v", stats.Failed, stats.Total, stats.FirstFailures)
						}
						for body := range stats.Bodies {
							if body != "<h1>home one</h1>" && body != "<h1>home two</h1>" {
								return fmt.Errorf("an answer was neither version: %q", body)
							}
						}
						return nil
					},
					serves(caddy, domain, "/", 200, "home two", "no-cache"),
					onlyContainer(t, name),
				),
			},
		},
	})
}

// TestAccStaticBuiltSPA builds the site with build_command at the planned
// commit into dist, serves it as a single-page app, and keeps it serving
// when a later build fails (its last output lines in the error), leaves no
// publish_directory (named in the error, in the attribute's words alone)
// or root_directory is a symlink out of the clone.
func TestAccStaticBuiltSPA(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	caddy := acctest.StartCaddy(t)
	site := newSiteRepo(t)
	server, buildImage, _ := staticImages(t)
	name := env.workloadName("spa")
	domain := name + ".test"
	build := `test ! -e BROKEN || { echo "the build broke on purpose"; exit 3; }; mkdir -p dist && cp -r src/. dist/ && echo "built $(cat VERSION)" > dist/version.txt`
	site.commit(t, map[string]string{
		"web/src/index.html": "<h1>app shell</h1>",
		"web/VERSION":        "one",
	}, "one")
	cfgAt := func(root, publish string) string {
		return env.provider(caddyBlock(caddy)) + site.workload(name, domain, "", fmt.Sprintf(`%s
      root_directory    = %q
      build_image       = %q
      build_command     = %q
      publish_directory = %q
      spa               = true`, server, root, buildImage, build, publish))
	}
	cfg := func(publish string) string { return cfgAt("web", publish) }
	var pushed time.Time
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy:             resource.ComposeTestCheckFunc(noContainersLeft(t, name), noBuiltImagesLeft(t, name)),
		Steps: []resource.TestStep{
			{
				Config:           cfg("dist"),
				ConfigPlanChecks: emptyPlanAfterApply(),
				Check: resource.ComposeTestCheckFunc(
					serves(caddy, domain, "/version.txt", 200, "built one", ""),
					serves(caddy, domain, "/", 200, "app shell", "no-cache"),
					serves(caddy, domain, "/some/client/route", 200, "app shell", "no-cache"),
				),
			},
			{ // a one-file commit is built and goes live
				PreConfig: func() {
					site.commit(t, map[string]string{"web/VERSION": "two"}, "two")
					pushed = time.Now()
				},
				Config:           cfg("dist"),
				ConfigPlanChecks: emptyPlanAfterApply(),
				Check: resource.ComposeTestCheckFunc(
					func(*terraform.State) error {
						t.Logf("one-file commit to a built site, live in %s", time.Since(pushed).Round(time.Millisecond))
						return nil
					},
					serves(caddy, domain, "/version.txt", 200, "built two", ""),
				),
			},
			{ // a failing build: the apply fails with its output, two serves on
				PreConfig:   func() { site.commit(t, map[string]string{"web/BROKEN": "yes"}, "broken") },
				Config:      cfg("dist"),
				ExpectError: wrapped("the build broke on purpose"),
			},
			{ // nothing published where publish_directory says: named in the error
				PreConfig: func() {
					if err := serves(caddy, domain, "/version.txt", 200, "built two", "")(nil); err != nil {
						t.Fatalf("after the failed build: %v", err)
					}
					site.repo.CommitFiles(t, map[string]acctest.File{"web/BROKEN": {Delete: true}}, "fixed")
				},
				Config: cfg("public"),
				// In the user's words alone: not the builder's echo of the
				// generated check, nor its output.
				ExpectError: wrappedAlone(`static source: at commit`, `publish_directory "public" does not exist after build_command`),
			},
			{ // a root_directory that is a symlink to /etc: it leads out of the clone
				PreConfig: func() {
					site.repo.CommitFiles(t, map[string]acctest.File{"escape": {SymlinkTo: "/etc"}}, "escape")
				},
				Config:      cfgAt("escape", "dist"),
				ExpectError: wrapped(`root_directory "escape": path "escape" leads out of the clone: "escape" is a symlink to "/etc"`),
			},
			{
				PreConfig: func() {
					if err := serves(caddy, domain, "/version.txt", 200, "built two", "")(nil); err != nil {
						t.Fatalf("after the build without publish_directory: %v", err)
					}
					if names := containersOf(t, name); len(names) != 1 {
						t.Fatalf("containers %v after the failed deploys, want the one serving", names)
					}
				},
				Config:           cfg("dist"),
				ConfigPlanChecks: emptyPlanAfterApply(),
				Check:            serves(caddy, domain, "/version.txt", 200, "built two", ""),
			},
		},
	})
}

// denoSite is a Deno server that says its version and keeps a note in its
// storage volume.
func denoSite(version string) string {
	return `const version = "` + version + `";
Deno.serve({ port: Number(Deno.env.get("PORT")), hostname: "0.0.0.0" }, async (req) => {
  const path = new URL(req.url).pathname;
  if (path === "/note" && req.method === "PUT") {
    await Deno.writeTextFile("/data/note", await req.text());
    return new Response("saved");
  }
  if (path === "/note") {
    try { return new Response(await Deno.readTextFile("/data/note")); }
    catch { return new Response("no note", { status: 404 }); }
  }
  return new Response("deno " + version);
});
`
}

// TestAccStaticDenoWithStorage runs a Deno site whose data, written through
// the site into its storage volume, survives a redeploy; blue-green is
// refused at plan time with the reason; import reads it back; destroy
// leaves the volume and nothing else.
func TestAccStaticDenoWithStorage(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	caddy := acctest.StartCaddy(t)
	site := newSiteRepo(t)
	_, _, deno := staticImages(t)
	name := env.workloadName("deno")
	domain := name + ".test"
	volume := acctest.UniqueName("deno-data")
	t.Cleanup(func() { acctest.DockerE("volume", "rm", "-f", volume) })
	site.commit(t, map[string]string{"server/main.ts": denoSite("one")}, "one")
	cfg := func(strategy string) string {
		return env.provider(caddyBlock(caddy)) + site.workload(name, domain, fmt.Sprintf("  deploy_strategy = %q", strategy), fmt.Sprintf(`
      deno {
        entrypoint = "server/main.ts"
        image      = %q
        storage    = %q
      }`, deno, volume))
	}
	put := func(body string) error {
		req, _ := http.NewRequest(http.MethodPut, caddy.HTTPURL+"/note", strings.NewReader(body))
		req.Host = domain
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("PUT /note: HTTP %d", resp.StatusCode)
		}
		return nil
	}
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		CheckDestroy: resource.ComposeTestCheckFunc(noContainersLeft(t, name), noBuiltImagesLeft(t, name),
			func(*terraform.State) error {
				if _, err := acctest.DockerE("volume", "inspect", volume); err != nil {
					return fmt.Errorf("destroy removed the storage volume (it is data): %v", err)
				}
				return nil
			}),
		Steps: []resource.TestStep{
			{
				Config: cfg(""),
				ConfigPlanChecks: emptyPlanAfterApply(
					plancheck.ExpectKnownValue(web, tfjsonpath.New("effective_strategy"), knownvalue.StringExact("recreate")),
				),
				Check: resource.ComposeTestCheckFunc(
					serves(caddy, domain, "/", 200, "deno one", ""),
					func(*terraform.State) error { return put("kept across deploys") },
					serves(caddy, domain, "/note", 200, "kept across deploys", ""),
				),
			},
			{ // blue-green would mount the one read-write volume twice: refused at plan
				Config:      cfg("blue-green"),
				PlanOnly:    true,
				ExpectError: wrapped(`deploy_strategy "blue-green" cannot be used with deno.storage`, "both mount that one read-write volume"),
			},
			{
				ResourceName:                         web,
				ImportState:                          true,
				ImportStateId:                        name,
				ImportStateVerify:                    true,
				ImportStateVerifyIdentifierAttribute: "name",
				ImportStateVerifyIgnore:              []string{"source.static.access_token"},
			},
			{ // a new commit recreates; the note is still there
				PreConfig:        func() { site.commit(t, map[string]string{"server/main.ts": denoSite("two")}, "two") },
				Config:           cfg(""),
				ConfigPlanChecks: emptyPlanAfterApply(plancheck.ExpectKnownValue(web, tfjsonpath.New("generation"), knownvalue.Int64Exact(2))),
				Check: resource.ComposeTestCheckFunc(
					serves(caddy, domain, "/", 200, "deno two", ""),
					serves(caddy, domain, "/note", 200, "kept across deploys", ""),
					onlyContainer(t, name),
				),
			},
		},
	})
}
