package gitbuild

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeTree makes files under dir: content, or "->target" for a symlink;
// names ending in ".sh" are executable.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		mode := os.FileMode(0o600) // the context must not depend on this process's umask
		if strings.HasSuffix(name, ".sh") {
			mode = 0o700
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
}

type entry struct {
	hdr  *tar.Header
	body string
}

func readTar(t *testing.T, b []byte) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("read the context tar: %v", err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := out[hdr.Name]; dup {
			t.Errorf("%s is in the tar twice", hdr.Name)
		}
		out[hdr.Name] = entry{hdr, string(body)}
	}
}

func names(m map[string]entry) []string { return slices.Sorted(maps.Keys(m)) }

func TestWriteBuildContextHonoursDockerignore(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		".dockerignore": strings.Join([]string{
			"# comments and blank lines are not patterns",
			"",
			"secret.txt",
			"/logs",     // a leading slash is the context root, as in the CLI
			"docs/*.md", // a wildcard within one directory
			"!docs/keep.md",
			"cache",           // an excluded directory ...
			"!cache/keep.txt", // ... with an exception inside
			"**/*.tmp",
			"Dockerfile", // the builder needs these two: sent anyway
			".dockerignore",
		}, "\n"),
		"Dockerfile":          "FROM scratch\n",
		"run.sh":              "#!/bin/sh\n",
		"app.txt":             "app",
		"secret.txt":          "do not send",
		"logs/a.log":          "log",
		"docs/a.md":           "a",
		"docs/keep.md":        "keep",
		"docs/readme.txt":     "readme",
		"cache/drop.txt":      "drop",
		"cache/keep.txt":      "keep",
		"src/deep/file.tmp":   "tmp",
		"src/deep/main.go":    "package main",
		"link-in":             "->app.txt",
		"link-out":            "->/etc/passwd",
		"src/link-up-and-out": "->../../../etc",
	})
	var buf bytes.Buffer
	if err := WriteBuildContext(&buf, dir, "Dockerfile"); err != nil {
		t.Fatalf("WriteBuildContext: %v", err)
	}
	got := readTar(t, buf.Bytes())
	// An excluded directory with an exception inside is sent as the
	// excepted file's parent, without its other files (BuildKit's file
	// sync wants every parent; the tar's reader makes them anyway).
	want := []string{
		".dockerignore", "Dockerfile", "app.txt", "cache/", "cache/keep.txt", "docs/", "docs/keep.md", "docs/readme.txt",
		"link-in", "link-out", "run.sh", "src/", "src/deep/", "src/deep/main.go", "src/link-up-and-out",
	}
	if !slices.Equal(names(got), want) {
		t.Fatalf("context holds\n %v\nwant\n %v", names(got), want)
	}

	// Symlinks travel as links, their targets unread.
	for name, target := range map[string]string{"link-in": "app.txt", "link-out": "/etc/passwd", "src/link-up-and-out": "../../../etc"} {
		e := got[name]
		if e.hdr.Typeflag != tar.TypeSymlink || e.hdr.Linkname != target || e.body != "" {
			t.Errorf("%s: type %c link %q body %d bytes, want a symlink to %q", name, e.hdr.Typeflag, e.hdr.Linkname, len(e.body), target)
		}
	}
	// Modes are what Git records (executable or not), owned by root.
	for name, mode := range map[string]int64{"run.sh": 0o755, "app.txt": 0o644, "docs/": 0o755} {
		e := got[name]
		if e.hdr.Mode != mode || e.hdr.Uid != 0 || e.hdr.Gid != 0 || e.hdr.Uname != "" {
			t.Errorf("%s: mode %o uid %d gid %d uname %q, want mode %o owned by 0:0", name, e.hdr.Mode, e.hdr.Uid, e.hdr.Gid, e.hdr.Uname, mode)
		}
	}
	if got["app.txt"].body != "app" || got["app.txt"].hdr.Typeflag != tar.TypeReg {
		t.Errorf("app.txt: %+v", got["app.txt"])
	}
}

// A Dockerfile in an ignored directory is still sent, alone of its
// directory, as the CLI does.
func TestWriteBuildContextSendsAnIgnoredDockerfile(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		".dockerignore":     "deploy\n",
		"deploy/Dockerfile": "FROM scratch\n",
		"deploy/notes.txt":  "notes",
		"main.go":           "package main",
	})
	var buf bytes.Buffer
	if err := WriteBuildContext(&buf, dir, "deploy/Dockerfile"); err != nil {
		t.Fatalf("WriteBuildContext: %v", err)
	}
	want := []string{".dockerignore", "deploy/", "deploy/Dockerfile", "main.go"}
	if got := names(readTar(t, buf.Bytes())); !slices.Equal(got, want) {
		t.Fatalf("context holds %v, want %v", got, want)
	}
}

func TestWriteBuildContextWithoutDockerignore(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\n", ".git/HEAD": "ref", "a/b": "b"})
	var buf bytes.Buffer
	if err := WriteBuildContext(&buf, dir, "Dockerfile"); err != nil {
		t.Fatalf("WriteBuildContext: %v", err)
	}
	// Like the CLI, nothing is left out unless .dockerignore says so.
	want := []string{".git/", ".git/HEAD", "Dockerfile", "a/", "a/b"}
	if got := names(readTar(t, buf.Bytes())); !slices.Equal(got, want) {
		t.Fatalf("context holds %v, want %v", got, want)
	}
}

func TestWriteBuildContextRefusesADockerignoreOutside(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "patterns")
	if err := os.WriteFile(outside, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\n", ".dockerignore": "->" + outside})
	err := WriteBuildContext(io.Discard, dir, "Dockerfile")
	if err == nil || !strings.Contains(err.Error(), ".dockerignore") || !strings.Contains(err.Error(), "outside") {
		t.Fatalf("WriteBuildContext = %v, want a refusal naming .dockerignore", err)
	}
}

func TestWriteBuildContextRejectsABadPattern(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\n", ".dockerignore": "!\n"})
	err := WriteBuildContext(io.Discard, dir, "Dockerfile")
	if err == nil || !strings.Contains(err.Error(), "invalid .dockerignore") {
		t.Fatalf("WriteBuildContext = %v, want invalid .dockerignore", err)
	}
}

// TestGeneratedFilesReplaceTheRepositorysOwn: a source's generated files
// (its Dockerfile, a server config) go first into the context, once, in
// place of a file of the same name in the repository, and are sent even
// when .dockerignore excludes that name.
func TestGeneratedFilesReplaceTheRepositorysOwn(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile":    "FROM the-repositorys-own",
		".dockerignore": "Caddyfile\n",
		"index.html":    "<h1>hi</h1>",
	})
	var buf bytes.Buffer
	extra := map[string][]byte{"Dockerfile": []byte("FROM generated"), "Caddyfile": []byte(":8080")}
	if err := writeContext(&buf, Context{Dir: dir, Dockerfile: "Dockerfile", Files: extra}, ""); err != nil {
		t.Fatal(err)
	}
	got := readTar(t, buf.Bytes())
	if want := []string{".dockerignore", "Caddyfile", "Dockerfile", "index.html"}; strings.Join(names(got), " ") != strings.Join(want, " ") {
		t.Fatalf("context %v, want %v", names(got), want)
	}
	if got["Dockerfile"].body != "FROM generated" || got["Caddyfile"].body != ":8080" {
		t.Fatalf("the generated files lost: %q, %q", got["Dockerfile"].body, got["Caddyfile"].body)
	}
	// A generated file's time is made of its content: the same from build
	// to build, another for another content (BuildKit's file sync sends
	// only what changed, by size and time).
	var again bytes.Buffer
	extra["Caddyfile"] = []byte(":8081")
	if err := writeContext(&again, Context{Dir: dir, Dockerfile: "Dockerfile", Files: extra}, ""); err != nil {
		t.Fatal(err)
	}
	next := readTar(t, again.Bytes())
	if !next["Dockerfile"].hdr.ModTime.Equal(got["Dockerfile"].hdr.ModTime) || next["Caddyfile"].hdr.ModTime.Equal(got["Caddyfile"].hdr.ModTime) {
		t.Fatalf("generated files' times: the same content got %s then %s, a new content of the same size %s then %s",
			got["Dockerfile"].hdr.ModTime, next["Dockerfile"].hdr.ModTime, got["Caddyfile"].hdr.ModTime, next["Caddyfile"].hdr.ModTime)
	}
}

// TestPrefixKeepsTheRepositoryApartFromGeneratedFiles: under a prefix, the
// repository's files (a file named like a generated one included) go below
// it, excluded patterns stay out, and the generated files sit beside it.
func TestPrefixKeepsTheRepositoryApartFromGeneratedFiles(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		".tinyforge/Dockerfile": "the repository's own",
		".git/config":           "[core]",
		"index.html":            "<h1>hi</h1>",
		".dockerignore":         "secret.txt\n",
		"secret.txt":            "no",
	})
	var buf bytes.Buffer
	bc := Context{Dir: dir, Dockerfile: ".tinyforge/Dockerfile", Prefix: "site", Exclude: []string{".git"},
		Files: map[string][]byte{".tinyforge/Dockerfile": []byte("FROM generated")}}
	if err := writeContext(&buf, bc, ""); err != nil {
		t.Fatal(err)
	}
	got := readTar(t, buf.Bytes())
	want := []string{".tinyforge/", ".tinyforge/Dockerfile", "site/", "site/.dockerignore", "site/.tinyforge/", "site/.tinyforge/Dockerfile", "site/index.html"}
	if strings.Join(names(got), " ") != strings.Join(want, " ") {
		t.Fatalf("context %v, want %v", names(got), want)
	}
	if got[".tinyforge/Dockerfile"].body != "FROM generated" || got["site/.tinyforge/Dockerfile"].body != "the repository's own" {
		t.Fatalf("bodies %q, %q", got[".tinyforge/Dockerfile"].body, got["site/.tinyforge/Dockerfile"].body)
	}
}
