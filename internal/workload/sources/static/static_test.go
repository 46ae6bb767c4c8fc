package static

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin/plugintest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/gitbuild"
)

const sentinelToken = "tf-SENTINEL-token-51a7c"

func site() Config {
	return Config{Repo: gitbuild.Repo{BaseURL: "https://gitea.example.test", RepoOwner: "acme", RepoName: "site", Token: sentinelToken}}
}

// TestConformance: the plugin contract, on a Deno site with storage, and
// on a built site.
func TestConformance(t *testing.T) {
	deno := site()
	deno.Deno = &Deno{Entrypoint: "main.ts", Storage: "site-data"}
	built := site()
	built.BuildCommand, built.BuildImage, built.PublishDirectory, built.RootDirectory = "npm ci && npm run build", "node:22-alpine", "dist", "web"
	plugintest.Run(t, plugintest.Conformance[Config, *Config]{
		Source:  &deno,
		Secrets: []string{sentinelToken},
		Decoded: func(t *testing.T, got *Config) {
			if got.Deno == nil || got.Deno.Image != DefaultDenoImage || got.ServerImage != DefaultServerImage || got.Healthcheck != "/" || got.RootDirectory != "." {
				t.Fatalf("decoded %+v %+v", got, got.Deno)
			}
		},
		Valid: map[string]*Config{"a built site": &built},
		Base:  site(),
		Invalid: []plugintest.Invalid[Config]{
			plugintest.Refuses("root out of the repository", func(c *Config) { c.RootDirectory = "../x" }, "root_directory", `"../x"`,
				`root_directory must be a relative path inside the repository (got "../x")`),
			plugintest.Refuses("publish absolute", func(c *Config) { c.PublishDirectory = "/dist" }, "publish_directory", `"/dist"`,
				`publish_directory must be a relative path inside the repository (got "/dist")`),
			plugintest.Refuses("command without image", func(c *Config) { c.BuildCommand = "npm run build" }, "build_image", "",
				`build_image is required with build_command "npm run build"`),
			plugintest.Refuses("image without command", func(c *Config) { c.BuildImage = "node:22" }, "build_command", "",
				`build_command is required with build_image "node:22"`),
			plugintest.Refuses("bad server image", func(c *Config) { c.ServerImage = "Caddy:2" }, "server_image", `"Caddy:2"`,
				`server_image "Caddy:2" is not a valid image reference`),
			plugintest.Refuses("bad healthcheck", func(c *Config) { c.Healthcheck = "healthz" }, "healthcheck", `"healthz"`,
				`healthcheck must be an absolute HTTP path`, `(got "healthz")`),
			plugintest.Refuses("deno without entrypoint", func(c *Config) { c.Deno = &Deno{} }, "deno.entrypoint", "",
				`deno.entrypoint must name the script to run`),
			plugintest.Refuses("deno entrypoint escapes", func(c *Config) { c.Deno = &Deno{Entrypoint: "../main.ts"} }, "deno.entrypoint", `"../main.ts"`,
				`deno.entrypoint must be a relative path inside the repository (got "../main.ts")`),
			plugintest.Refuses("deno storage", func(c *Config) { c.Deno = &Deno{Entrypoint: "main.ts", Storage: "x"} }, "deno.storage", `"x"`,
				`deno.storage must be a volume name`, `(got "x")`),
			plugintest.Refuses("git attributes", func(c *Config) { c.RepoName = "" }, "repo_name", "", "repo_name is required"),
		},
	})
}

func TestStorageRefusesBlueGreenAndMountsItsVolume(t *testing.T) {
	c := site()
	c.Deno = &Deno{Entrypoint: "main.ts", Storage: "site-data"}
	err := c.RefuseStrategy(plugin.StrategyBlueGreen)
	if err == nil || !strings.Contains(err.Error(), `deploy_strategy "blue-green" cannot be used with deno.storage "site-data"`) ||
		!strings.Contains(err.Error(), "both mount that one read-write volume") {
		t.Fatalf("blue-green with storage: %v", err)
	}
	if err := c.RefuseStrategy(plugin.StrategyRecreate); err != nil {
		t.Fatalf("recreate with storage: %v", err)
	}
	if m := c.Mounts(); len(m) != 1 || m[0].Source != "site-data" || m[0].Target != "/data" || m[0].ReadOnly {
		t.Fatalf("mounts %+v", m)
	}
	if got, err := plugin.ResolveStrategy(plugin.StrategyDefault, &c, plugin.Routing{Proxy: true, Domains: true}, false); err != nil || got != plugin.StrategyRecreate {
		t.Fatalf("the default with storage: %v %v", got, err)
	}
	plain := site()
	if plain.RefuseStrategy(plugin.StrategyBlueGreen) != nil || plain.Mounts() != nil {
		t.Fatal("a site without storage refuses blue-green or mounts something")
	}
}

func TestGeneratedBuildFollowsTheAttributes(t *testing.T) {
	c := site()
	c.RootDirectory, c.PublishDirectory, c.SPA = "web", "dist", true
	c.BuildCommand, c.BuildImage, c.ServerImage = "npm ci && npm run build", "node:22-alpine", "example/caddy:1"
	g := c.withDefaults().generate("web")
	for _, want := range []string{
		"FROM node:22-alpine AS build\nLABEL tinyforge.workload=\"web\"",
		`RUN ["/bin/sh","-c","npm ci \u0026\u0026 npm run build"]`,
		`test -d 'dist' || { printf '%s \"%s\" %s\\n' publish_directory 'dist' 'does not exist after build_command' \u003e\u00262; exit 1; }`,
		"FROM example/caddy:1",
		`COPY --from=build ["/src/dist/","/srv/"]`,
		`COPY [".tinyforge/Caddyfile","/etc/caddy/Caddyfile"]`,
		`ENTRYPOINT ["caddy","run","--config","/etc/caddy/Caddyfile","--adapter","caddyfile"]`,
	} {
		if !strings.Contains(g.Dockerfile, want) {
			t.Errorf("the Dockerfile lacks %s:\n%s", want, g.Dockerfile)
		}
	}
	for _, want := range []string{"try_files {path} /index.html", "immutable", `Cache-Control "no-cache"`, "rewrite * /404.html", "admin off"} {
		if !strings.Contains(g.Caddyfile, want) {
			t.Errorf("the Caddyfile lacks %s:\n%s", want, g.Caddyfile)
		}
	}
	c.SPA = false
	if g := c.withDefaults().generate("web"); strings.Contains(g.Caddyfile, "try_files") {
		t.Errorf("without spa the Caddyfile falls back to /index.html:\n%s", g.Caddyfile)
	}

	d := site()
	d.Deno = &Deno{Entrypoint: "server/main.ts", Storage: "site-data"}
	g = d.withDefaults().generate("web")
	for _, want := range []string{"FROM " + DefaultDenoImage, `COPY ["site/","/app/"]`, "ENV PORT=8080", `RUN ["deno","cache","server/main.ts"]`,
		`ENTRYPOINT ["deno","run","--allow-net","--allow-env","--allow-read","--allow-write=/data","server/main.ts"]`} {
		if !strings.Contains(g.Dockerfile, want) {
			t.Errorf("the Deno Dockerfile lacks %s:\n%s", want, g.Dockerfile)
		}
	}
	if g.Caddyfile != "" {
		t.Errorf("a Deno site got a Caddyfile")
	}
}

// TestMissingPublishDirectoryIsSaidInTheUsersWords runs the generated
// check with /bin/sh, as either builder runs a RUN step: without the
// directory it prints the one line the source looks for, which its own
// command text never holds whole (so neither builder's echo of the command
// can be taken for it); with the directory it prints nothing. A failed
// build is then reported in the attribute's words alone, whichever builder
// printed the line and however it framed it.
func TestMissingPublishDirectoryIsSaidInTheUsersWords(t *testing.T) {
	for _, dir := range []string{"dist", "my site/out", "it's"} {
		c := site()
		c.RootDirectory, c.PublishDirectory = "web", dir
		c.BuildCommand, c.BuildImage = "make", "example/build:1"
		d := c.withDefaults()
		check := generatedCheck(t, d.generate("web").Dockerfile)
		line := publishMissing(dir)
		if strings.Contains(check, line) {
			t.Fatalf("the check's command holds its own message %q whole: a builder's echo of it would be taken for its output:\n%s", line, check)
		}

		work := t.TempDir()
		run := func() (stdout, stderr string, err error) {
			cmd := exec.Command("/bin/sh", "-c", check)
			cmd.Dir = work
			var out, errOut strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &errOut
			err = cmd.Run()
			return out.String(), errOut.String(), err
		}
		if stdout, stderr, err := run(); err == nil || stderr != line+"\n" || stdout != "" {
			t.Fatalf("without %q the check ended %v with stderr %q, stdout %q; want a failure and the line %q", dir, err, stderr, stdout, line)
		}
		if err := os.MkdirAll(filepath.Join(work, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if stdout, stderr, err := run(); err != nil || stderr != "" || stdout != "" {
			t.Fatalf("with %q the check ended %v with stderr %q, stdout %q; want it to pass quietly", dir, err, stderr, stdout)
		}

		want := fmt.Sprintf("publish_directory %q does not exist after build_command", dir)
		step := "RUN " + jsonArray("/bin/sh", "-c", check)
		for builder, failure := range map[string]string{
			"classic": "The command '/bin/sh -c " + check + "' returned a non-zero code: 1\nlast build output:\n  Step 6/13 : " + step +
				"\n  ---> Running in 83a0e12eb5ce\n  \x1b[91m" + line + "\n  \x1b[0m\n  Removing intermediate container 83a0e12eb5ce",
			"buildkit": `process "/bin/sh -c ` + check + `" did not complete successfully: exit code: 1` + "\nlast build output:\n  #9 [build 4/4] " + step + "\n  #9 0.231 " + line + "\n  #9 ERROR: exit code: 1",
		} {
			if got := d.diagnose(errors.New(failure)); got == nil || got.Error() != want {
				t.Errorf("%s builder, publish_directory %q: diagnose = %v; want %s", builder, dir, got, want)
			}
		}
		// A later step failed (the server image cannot be pulled): the
		// check's step is in the output, its message is not.
		later := "The command ... returned a non-zero code: 1\nlast build output:\n  Step 6/13 : " + step + "\n  Step 8/13 : FROM example/caddy:1\n  pull access denied"
		if got := d.diagnose(errors.New(later)); got != nil {
			t.Errorf("publish_directory %q: a later step's failure was taken for the check's: %v", dir, got)
		}
	}
}

// generatedCheck is the command of the RUN step that checks
// publish_directory in a generated Dockerfile.
func generatedCheck(t *testing.T, dockerfile string) string {
	t.Helper()
	for _, l := range strings.Split(dockerfile, "\n") {
		var run []string
		if after, ok := strings.CutPrefix(l, "RUN "); ok && json.Unmarshal([]byte(after), &run) == nil &&
			len(run) == 3 && strings.HasPrefix(run[2], "test -d ") {
			return run[2]
		}
	}
	t.Fatalf("no check of publish_directory in:\n%s", dockerfile)
	return ""
}

func TestFingerprintChangesWithWhatMakesTheImage(t *testing.T) {
	base := site()
	fp := base.Fingerprint()
	same := site()
	same.Token, same.Healthcheck, same.ReportCommitStatus, same.Branch = "other", "/up", true, "main"
	if same.Fingerprint() != fp {
		t.Error("the token, the probe path, status reporting or the default branch written out changed the fingerprint")
	}
	for name, mutate := range map[string]func(*Config){
		"spa":               func(c *Config) { c.SPA = true },
		"publish_directory": func(c *Config) { c.PublishDirectory = "public" },
		"root_directory":    func(c *Config) { c.RootDirectory = "web" },
		"server_image":      func(c *Config) { c.ServerImage = "caddy:2.10" },
		"build":             func(c *Config) { c.BuildCommand, c.BuildImage = "make", "busybox" },
		"deno":              func(c *Config) { c.Deno = &Deno{Entrypoint: "main.ts"} },
		"repo":              func(c *Config) { c.RepoName = "other" },
	} {
		c := site()
		mutate(&c)
		if c.Fingerprint() == fp {
			t.Errorf("a change of %s kept the fingerprint", name)
		}
	}
}
