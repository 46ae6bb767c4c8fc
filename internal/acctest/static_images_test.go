package acctest

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// buildSite writes files (path -> content; "Dockerfile" among them) to a
// fresh build context, builds it and returns the image ID; the image goes
// when the test ends. "{{label}}" in a file becomes the build label of this
// build, the line each stage of the Dockerfile has after its FROM.
func buildSite(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	label := UniqueBuildLabel(t)
	for name, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(strings.ReplaceAll(content, "{{label}}", label)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return DockerBuild(t, "--force-rm", dir)
}

// get sends a GET with headers (name, value, ...) and returns the response
// with its body read into body.
func get(t *testing.T, url string, headers ...string) (resp *http.Response, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	// No redirects followed: the test looks at what the server answered
	// (and with an Accept-Encoding of the caller's, the body is not
	// decompressed either).
	c := http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp, string(b)
}

func TestStaticImagesAreLabelledAndBuiltOnce(t *testing.T) {
	t.Parallel()
	imgs := StaticImages(t)
	if again := StaticImages(t); again != imgs {
		t.Fatalf("second StaticImages = %+v, want the first %+v (built once per process)", again, imgs)
	}
	for _, tc := range []struct {
		ref, env, workdir, cmd string
	}{
		{imgs.Server, `["PATH=/usr/bin:/bin","XDG_CONFIG_HOME=/config","XDG_DATA_HOME=/data"]`, "/srv",
			`["caddy","run","--config","/etc/caddy/Caddyfile","--adapter","caddyfile"]`},
		{imgs.Build, `["PATH=/bin"]`, "", `["sh"]`},
		{imgs.Deno, `["PATH=/usr/bin:/bin","DENO_DIR=/tmp/deno","DENO_NO_UPDATE_CHECK=1"]`, "", "null"},
	} {
		got := Docker(t, "image", "inspect", "--format",
			`{{index .Config.Labels "`+LabelTestRun+`"}} {{json .Config.Env}} {{.Config.WorkingDir}}|{{.Config.User}}|{{json .Config.Cmd}} {{json .Config.Entrypoint}}`, tc.ref)
		want := RunID() + " " + tc.env + " " + tc.workdir + "||" + tc.cmd + " null"
		if got != want {
			t.Errorf("image %s: %s, want %s", tc.ref, got, want)
		}
	}
	// RemoveTestImages finds the images to remove with this filter; if it
	// missed one, every run would leak it.
	built, err := builtStaticImageRefs()
	if err != nil {
		t.Fatal(err)
	}
	refs := []string{imgs.Server, imgs.Build, imgs.Deno}
	slices.Sort(built)
	slices.Sort(refs)
	if !slices.Equal(built, refs) {
		t.Fatalf("builtStaticImageRefs = %v, want %v", built, refs)
	}
}

// TestStaticImagesRunTheirBinaries: the loader finds every library in each
// image, and the build image's shell has its applets and a writable /tmp,
// also as a user other than root.
func TestStaticImagesRunTheirBinaries(t *testing.T) {
	t.Parallel()
	imgs := StaticImages(t)
	nobody := []string{"--user", "65534:65534"}
	for _, tc := range []struct {
		image         string
		runArgs, args []string
		want          string
	}{
		{imgs.Server, nil, []string{"caddy", "version"}, "2.6."},
		{imgs.Deno, nil, []string{"deno", "--version"}, "deno " + denoVersion},
		{imgs.Deno, nobody, []string{"deno", "eval", `Deno.writeTextFileSync("/tmp/x", "written"); console.log(Deno.readTextFileSync("/tmp/x"))`}, "written"},
		{imgs.Build, nil, []string{"sh", "-c", "mkdir -p dist && echo hi > dist/index.html && cat dist/index.html"}, "hi"},
		{imgs.Build, nobody, []string{"sh", "-c", "cd /tmp && echo hi | gzip | gunzip && stat -c %a /tmp"}, "hi\n1777"},
	} {
		args := append([]string{"run", "--rm", "--label", LabelTestRun + "=" + RunID()}, tc.runArgs...)
		args = append(append(args, tc.image), tc.args...)
		if out := Docker(t, args...); !strings.HasPrefix(out, tc.want) {
			t.Errorf("docker %s = %q, want it to start with %q", strings.Join(args, " "), out, tc.want)
		}
	}
}

// siteCaddyfile serves /srv as a static site server would: clean URLs
// (/about is about.html), a single-page app under /app/ (every unknown
// path is its index.html), a 404 page, long-lived caching of fingerprinted
// assets and revalidation of everything else, and compression.
const siteCaddyfile = `{
	admin off
	auto_https off
}

:8080 {
	root * /srv
	encode zstd gzip
	@fingerprinted path_regexp fingerprinted ^/assets/.+\.[0-9a-f]{8}\.(js|css)$
	header @fingerprinted Cache-Control "public, max-age=31536000, immutable"
	# Caddy runs same-named directives with a matcher before those
	# without, whatever their order here: a plain header would overwrite
	# the one above. "?" sets it only where nothing did.
	header ?Cache-Control "no-cache"
	handle /app/* {
		try_files {path} /app/index.html
	}
	handle {
		try_files {path} {path}.html
	}
	file_server
	handle_errors {
		@notFound expression {err.status_code} == 404
		rewrite @notFound /404.html
		file_server
	}
}
`

// TestStaticServerImageServesASite: a Dockerfile that only copies a site and
// a Caddyfile FROM the server image serves it with the Caddyfile features
// a static site needs, as root and as any other user.
func TestStaticServerImageServesASite(t *testing.T) {
	t.Parallel()
	imgs := StaticImages(t)
	bigJS := strings.Repeat("console.log('fingerprinted');\n", 100)
	image := buildSite(t, map[string]string{
		"Dockerfile": "FROM " + imgs.Server + "\n{{label}}\nCOPY site/ /srv/\nCOPY Caddyfile /etc/caddy/Caddyfile\n",
		"Caddyfile":  siteCaddyfile,

		"site/index.html":             "home\n",
		"site/about.html":             "about\n",
		"site/404.html":               "no such page\n",
		"site/app/index.html":         "app shell\n",
		"site/assets/app.0123abcd.js": bigJS,
		"site/assets/logo.svg":        `<svg xmlns="http://www.w3.org/2000/svg"/>`,
	})

	for _, user := range []string{"root", "nobody"} {
		t.Run(user, func(t *testing.T) {
			t.Parallel()
			var runArgs []string
			if user == "nobody" {
				runArgs = []string{"--user", "65534:65534"}
			}
			app := StartTestApp(t, image, runArgs...)
			waitBody(t, app.URL+"/", "home\n")

			for _, tc := range []struct {
				path, status, body, cacheControl string
			}{
				{"/", "200", "home\n", "no-cache"},
				{"/about", "200", "about\n", "no-cache"},
				{"/about.html", "200", "about\n", "no-cache"},
				{"/app/", "200", "app shell\n", "no-cache"},
				{"/app/settings/profile", "200", "app shell\n", "no-cache"},
				{"/nowhere", "404", "no such page\n", ""},
				{"/assets/app.0123abcd.js", "200", bigJS, "public, max-age=31536000, immutable"},
				{"/assets/app.js", "404", "no such page\n", ""},
				{"/assets/logo.svg", "200", `<svg xmlns="http://www.w3.org/2000/svg"/>`, "no-cache"},
			} {
				resp, body := get(t, app.URL+tc.path)
				if got := resp.Status[:3]; got != tc.status || body != tc.body {
					t.Errorf("GET %s = %s %.40q, want %s %.40q", tc.path, got, body, tc.status, tc.body)
				}
				if tc.cacheControl != "" {
					if got := resp.Header.Get("Cache-Control"); got != tc.cacheControl {
						t.Errorf("GET %s: Cache-Control %q, want %q", tc.path, got, tc.cacheControl)
					}
				}
			}
			if resp, _ := get(t, app.URL+"/assets/logo.svg"); resp.Header.Get("Content-Type") != "image/svg+xml" {
				t.Errorf("GET /assets/logo.svg: Content-Type %q, want image/svg+xml", resp.Header.Get("Content-Type"))
			}
			if resp, _ := get(t, app.URL+"/assets/app.0123abcd.js", "Accept-Encoding", "gzip"); resp.Header.Get("Content-Encoding") != "gzip" {
				t.Errorf("GET /assets/app.0123abcd.js with Accept-Encoding gzip: Content-Encoding %q, want gzip", resp.Header.Get("Content-Encoding"))
			}

			// Caddy writes to $XDG_CONFIG_HOME (and $XDG_DATA_HOME) at
			// start; as nobody too.
			if logs := containerLogs(t, app.Name); !strings.Contains(logs, `"file":"/config/caddy/autosave.json"`) ||
				strings.Contains(logs, `"level":"error"`) {
				t.Errorf("Caddy's log has an error or no autosave to /config:\n%s", logs)
			}

			// Caddy handles SIGTERM itself (it is PID 1 here): a prompt,
			// clean exit, not the SIGKILL after --time.
			start := time.Now()
			Docker(t, "stop", "--time", "20", app.Name)
			if code := Docker(t, "inspect", "--format", "{{.State.ExitCode}}", app.Name); code != "0" || time.Since(start) > 10*time.Second {
				t.Errorf("docker stop: exit code %s after %s, want 0 well before the 20 s SIGKILL", code, time.Since(start))
			}
		})
	}
}

// containerLogs is what the container wrote, stdout and stderr (where
// Caddy and Deno log).
func containerLogs(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("docker", "logs", name).CombinedOutput()
	if err != nil {
		t.Fatalf("docker logs %s: %v: %s", name, err, out)
	}
	return string(out)
}

// TestStaticBuildImageBuildsASite: the multi-stage Dockerfile of a static
// site with a build command (a build stage FROM the build image that runs
// it with sh -c, then the server image with its output) builds with the
// engine's classic builder and serves what the command made.
func TestStaticBuildImageBuildsASite(t *testing.T) {
	t.Parallel()
	imgs := StaticImages(t)
	buildCommand := `mkdir -p dist && echo hi > dist/index.html && sed "s/hi/hello from $(cat VERSION)/" dist/index.html > dist/hello.html && find dist -type f | sort | tr "\n" " " > /tmp/files.txt && mv /tmp/files.txt dist/`
	image := buildSite(t, map[string]string{
		"Dockerfile": `FROM ` + imgs.Build + ` AS build
{{label}}
WORKDIR /src
COPY . .
RUN sh -c "` + strings.ReplaceAll(buildCommand, `"`, `\"`) + `"

FROM ` + imgs.Server + `
{{label}}
COPY --from=build /src/dist/ /srv/
COPY Caddyfile /etc/caddy/Caddyfile
`,
		"Caddyfile": siteCaddyfile,
		"VERSION":   "v7",
	})
	app := StartTestApp(t, image)
	waitBody(t, app.URL+"/", "hi\n")
	for path, want := range map[string]string{
		"/hello":     "hello from v7\n",
		"/files.txt": "dist/hello.html dist/index.html ",
	} {
		if resp, body := get(t, app.URL+path); resp.StatusCode != http.StatusOK || body != want {
			t.Errorf("GET %s = %s %q, want 200 %q", path, resp.Status, body, want)
		}
	}
}

// denoSite is a Deno site with storage: it answers on $PORT and keeps a
// note in /data, the one read-write volume of a storage-backed site.
const denoSite = `const port = Number(Deno.env.get("PORT"));
Deno.serve({ port, onListen: () => console.log("deno listening on :" + port) }, async (req) => {
  const url = new URL(req.url);
  if (url.pathname === "/") return new Response("deno " + Deno.version.deno + "\n");
  if (url.pathname === "/note" && req.method === "PUT") {
    await Deno.writeTextFile("/data/note", await req.text());
    return new Response(null, { status: 204 });
  }
  if (url.pathname === "/note") return new Response(await Deno.readTextFile("/data/note"));
  return new Response("not found\n", { status: 404 });
});
`

// TestStaticDenoImageServesASite: a Deno site FROM the deno image answers
// on its published port and writes to a named volume at /data, and stops
// at once on docker stop when run with --init (only then, unless the
// script listens for SIGTERM: see StaticBaseImages.Deno).
func TestStaticDenoImageServesASite(t *testing.T) {
	t.Parallel()
	imgs := StaticImages(t)
	image := buildSite(t, map[string]string{
		"Dockerfile": `FROM ` + imgs.Deno + `
{{label}}
WORKDIR /app
COPY main.ts .
ENV PORT=8080
CMD ["deno", "run", "--allow-net", "--allow-env", "--allow-read", "--allow-write=/data", "main.ts"]
`,
		"main.ts": denoSite,
	})
	volume := UniqueName("deno-data")
	Docker(t, "volume", "create", "--label", LabelTestRun+"="+RunID(), volume)
	t.Cleanup(func() { DockerE("volume", "rm", "--force", volume) })

	app := StartTestApp(t, image, "--init", "--volume", volume+":/data")
	waitBody(t, app.URL+"/", "deno "+denoVersion+"\n")
	req, _ := http.NewRequest(http.MethodPut, app.URL+"/note", strings.NewReader("kept"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT /note = %s, want 204", resp.Status)
	}
	if resp, body := get(t, app.URL+"/note"); resp.StatusCode != http.StatusOK || body != "kept" {
		t.Fatalf("GET /note = %s %q, want 200 kept", resp.Status, body)
	}
	// The write reached the volume, not the container's own layer.
	if got := Docker(t, "run", "--rm", "--label", LabelTestRun+"="+RunID(), "--volume", volume+":/data", imgs.Build, "cat", "/data/note"); got != "kept" {
		t.Fatalf("the volume holds %q, want kept", got)
	}
	if logs := containerLogs(t, app.Name); !strings.Contains(logs, "deno listening on :8080") {
		t.Errorf("logs = %q, want the listening line", logs)
	}

	start := time.Now()
	Docker(t, "stop", "--time", "20", app.Name)
	// 143: docker-init passed SIGTERM on and Deno died of it.
	if code := Docker(t, "inspect", "--format", "{{.State.ExitCode}}", app.Name); code != "143" || time.Since(start) > 10*time.Second {
		t.Errorf("docker stop with --init: exit code %s after %s, want 143 well before the 20 s SIGKILL", code, time.Since(start))
	}

	// What the doc of StaticBaseImages.Deno warns of: as PID 1, with no
	// SIGTERM listener in the script, Deno does not end as SIGTERM would
	// end it (143). Seen here: it crashes with SIGSEGV (139) about a
	// second after the signal, or docker stop's SIGKILL (137) comes first.
	t.Run("PID 1 without --init", func(t *testing.T) {
		app := StartTestApp(t, image)
		waitBody(t, app.URL+"/", "deno "+denoVersion+"\n")
		Docker(t, "stop", "--time", "5", app.Name)
		if code := Docker(t, "inspect", "--format", "{{.State.ExitCode}}", app.Name); code != "139" && code != "137" {
			t.Errorf("docker stop without --init: exit code %s, want 139 or 137 (this test documents a known flaw: "+
				"if Deno now stops cleanly, update it and StaticBaseImages.Deno)", code)
		}
	})
}
