package static

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
)

// Where the generated files and the site's own files sit in the build
// context: the site under siteDir, the generated files beside it, so that
// no COPY of the site can publish them.
const (
	siteDir             = "site"
	generatedDockerfile = ".tinyforge/Dockerfile"
	generatedCaddyfile  = ".tinyforge/Caddyfile"
)

// files are what the provider generates for a site, and the directory it
// builds: together they hold every attribute that shapes the image, so they
// are the build's inputs.
type files struct {
	RootDirectory string `json:"root_directory"`
	Dockerfile    string `json:"dockerfile"`
	Caddyfile     string `json:"caddyfile,omitempty"`
}

// generate writes the Dockerfile (and for a file server, the Caddyfile) of
// the site; c has its defaults applied. Each stage starts, after its FROM,
// with the workload's label (for a workload name; "" leaves it out): the
// layers of one workload's builds are never the cache of another's, whose
// prune could remove them while this one builds.
func (c Config) generate(name string) files {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	from := func(format string, args ...any) {
		line("FROM "+format, args...)
		if name != "" {
			line("LABEL %s=%s", workload.LabelWorkload, jsonString(name))
		}
	}
	site := siteDir + "/"
	if c.BuildCommand != "" {
		line("# The build stage: build_command at the planned commit, in build_image.")
		from("%s AS build", c.BuildImage)
		line("COPY %s", jsonArray(site, "/src/"))
		line("WORKDIR /src")
		line("RUN %s", jsonArray("/bin/sh", "-c", c.BuildCommand))
		if c.Deno == nil {
			dir := shellQuote(c.PublishDirectory)
			check := fmt.Sprintf(`test -d %s || { printf '%%s "%%s" %%s\n' publish_directory %s 'does not exist after build_command' >&2; exit 1; }`, dir, dir)
			line("RUN %s", jsonArray("/bin/sh", "-c", check))
		}
		line("")
	}
	if c.Deno != nil {
		line("# A Deno site: %s, its dependencies cached into the image.", c.Deno.Entrypoint)
		from("%s", c.Deno.Image)
		line("WORKDIR /app")
		if c.BuildCommand != "" {
			line("COPY --from=build %s", jsonArray("/src/", "/app/"))
		} else {
			line("COPY %s", jsonArray(site, "/app/"))
		}
		line("ENV PORT=%d DENO_DIR=/app/.deno-dir", Port)
		line("RUN %s", jsonArray("deno", "cache", c.Deno.Entrypoint))
		line("EXPOSE %d", Port)
		run := []string{"deno", "run", "--allow-net", "--allow-env", "--allow-read"}
		if c.Deno.Storage != "" {
			run = append(run, "--allow-write="+StorageTarget)
		}
		line("ENTRYPOINT %s", jsonArray(append(run, c.Deno.Entrypoint)...))
		return files{RootDirectory: c.RootDirectory, Dockerfile: b.String()}
	}
	line("# The site's files, served by Caddy with the config the provider wrote.")
	from("%s", c.ServerImage)
	line("COPY %s", jsonArray(generatedCaddyfile, "/etc/caddy/Caddyfile"))
	if c.BuildCommand != "" {
		line("COPY --from=build %s", jsonArray(path.Join("/src", c.PublishDirectory)+"/", "/srv/"))
	} else {
		line("COPY %s", jsonArray(path.Join(siteDir, c.PublishDirectory)+"/", "/srv/"))
	}
	line("EXPOSE %d", Port)
	line("ENTRYPOINT %s", jsonArray("caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"))
	return files{RootDirectory: c.RootDirectory, Dockerfile: b.String(), Caddyfile: c.caddyfile()}
}

// caddyfile is the file server's config: index files, the SPA fallback, a
// 404 page with status 404, and cache headers: HTML (and the paths that
// serve an index) is revalidated on every request, files whose name carries
// a hex content hash of 8 or more digits (app.3f9a1c2b.js,
// index-3f9a1c2b.css) are cached for a year as immutable.
func (c Config) caddyfile() string {
	var b strings.Builder
	b.WriteString("{\n\tadmin off\n\tauto_https off\n}\n\n")
	fmt.Fprintf(&b, ":%d {\n\troot * /srv\n\troute {\n", Port)
	if c.SPA {
		b.WriteString("\t\t# SPA: a path that is no file serves /index.html, with 200.\n")
		b.WriteString("\t\ttry_files {path} /index.html\n")
	}
	b.WriteString("\t\t@hashed path_regexp hashed [.-][0-9a-f]{8,}\\.[A-Za-z0-9]+$\n")
	b.WriteString("\t\theader @hashed Cache-Control \"public, max-age=31536000, immutable\"\n")
	b.WriteString("\t\t@html path / */ *.html *.htm\n")
	b.WriteString("\t\theader @html Cache-Control \"no-cache\"\n")
	b.WriteString("\t\tfile_server\n\t}\n")
	b.WriteString("\thandle_errors {\n")
	b.WriteString("\t\t# A 404.html at the root of the site is the 404 page, sent with status 404.\n")
	b.WriteString("\t\t@notfound expression {err.status_code} == 404\n")
	b.WriteString("\t\thandle @notfound {\n\t\t\trewrite * /404.html\n\t\t\tfile_server\n\t\t}\n")
	b.WriteString("\t}\n}\n")
	return b.String()
}

// publishMissing is the line the check after build_command prints when the
// build left no publish_directory. printf assembles it from its parts, so
// that only the check's output holds the whole line, never a builder's echo
// of the failed command (either builder quotes the command in its error, and
// the classic one prints each step before it runs): a failed build whose
// output holds it failed that check, whatever the builder's words.
func publishMissing(dir string) string {
	return `publish_directory "` + dir + `" does not exist after build_command`
}

// jsonArray is the exec (JSON) form of a Dockerfile instruction's
// arguments: no shell reads them, whatever they hold.
func jsonArray(args ...string) string {
	b, err := json.Marshal(args)
	if err != nil {
		panic(err) // strings always encode
	}
	return string(b)
}

// jsonString is s as a JSON (and Dockerfile) string.
func jsonString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // strings always encode
	}
	return string(b)
}

// shellQuote quotes s for /bin/sh: one single-quoted word.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
