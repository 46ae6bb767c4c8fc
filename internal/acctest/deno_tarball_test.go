package acctest

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStaticDenoTarballIsReusedOnlyWhenIntact: a cached tarball that is the
// published file is used without npm; any other file in its place is not.
func TestStaticDenoTarballIsReusedOnlyWhenIntact(t *testing.T) {
	t.Parallel()
	cache, err := defaultDenoCache()
	if err != nil {
		t.Fatal(err)
	}
	published, err := cache.tarball(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	// npm is a command that does not exist: any fetch fails.
	noNpm := filepath.Join(t.TempDir(), "no-npm")
	intact := denoCache{dir: t.TempDir(), npm: noNpm}
	if err := os.Link(published, filepath.Join(intact.dir, denoTarballName)); err != nil {
		// Another file system: a copy, 42 MB.
		b, err := os.ReadFile(published)
		if err == nil {
			err = os.WriteFile(filepath.Join(intact.dir, denoTarballName), b, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if got, err := intact.tarball(context.Background()); err != nil || got != filepath.Join(intact.dir, denoTarballName) {
		t.Fatalf("tarball() of an intact cache = %q, %v; want the cached file, with no npm", got, err)
	}

	damaged := denoCache{dir: t.TempDir(), npm: noNpm}
	if err := os.WriteFile(filepath.Join(damaged.dir, denoTarballName), []byte("truncated"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := damaged.tarball(context.Background()); err == nil || !strings.Contains(err.Error(), "npm pack "+denoPackage+"@"+denoVersion) {
		t.Fatalf("tarball() of a damaged cache = %v; want it refetched with npm pack (which fails here)", err)
	}

	binary := filepath.Join(t.TempDir(), "deno")
	if err := extractDeno(published, binary); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(binary); err != nil || info.Mode().Perm() != 0o755 || info.Size() < 50<<20 {
		t.Fatalf("extracted deno: %v, %v; want an executable of tens of MB", info, err)
	}
}

// TestStaticSetupHostFetchesTheSameDeno: .ci/setup-host prefetches the
// tarball this file reads, so that no test downloads it: the same package,
// version, checksum and place.
func TestStaticSetupHostFetchesTheSameDeno(t *testing.T) {
	t.Parallel()
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(root, ".ci", "setup-host"))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(denoIntegrity, "sha512-"))
	if err != nil {
		t.Fatal(err)
	}
	cache, err := defaultDenoCache()
	if err != nil {
		t.Fatal(err)
	}
	expand := strings.NewReplacer("$deno_version", denoVersion)
	for _, want := range []string{
		"deno_version=" + denoVersion + "\n",
		"deno_sha512=" + hex.EncodeToString(sum) + "\n",
		`"` + denoPackage + "@$deno_version" + `"`,
		`deno_dir="${XDG_CACHE_HOME:-$HOME/.cache}/tinyforge/deno-$deno_version"`,
		`deno_tgz="$deno_dir/deno-linux-x64-glibc-$deno_version.tgz"`,
	} {
		if !strings.Contains(string(script), want) {
			t.Errorf(".ci/setup-host lacks %q", want)
		}
	}
	// The two lines of the path, as the script expands them on this
	// machine (XDG_CACHE_HOME set or not), are where this file looks.
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		base = filepath.Join(os.Getenv("HOME"), ".cache")
	}
	if got := filepath.Join(base, expand.Replace("tinyforge/deno-$deno_version/deno-linux-x64-glibc-$deno_version.tgz")); got != filepath.Join(cache.dir, denoTarballName) {
		t.Errorf("setup-host fetches to %s, the tests read %s", got, filepath.Join(cache.dir, denoTarballName))
	}
}
