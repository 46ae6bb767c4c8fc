package acctest

import (
	"context"
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
