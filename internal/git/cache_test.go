package git

import (
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// packBytes is the size of each pack the cached repository holds, by path.
func packBytes(t *testing.T, cache string) map[string]int64 {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(cache, "objects", "pack", "*.pack"))
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int64{}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		sizes[p] = fi.Size()
	}
	return sizes
}

// tree lists the files of a checkout, slash-separated, with their content.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestCloneCachedFetchesOnlyWhatIsNew deploys a repository with 2 MiB of
// binary, then a one-file commit that also deletes a file: the second
// checkout comes from the cached repository plus one fetch of a few KB,
// holds exactly the new commit's tree, and the cache holds no token. A
// corrupt cache, or one of another remote, is cloned afresh; a refused
// token is the deploy's error, not a fresh clone's.
func TestCloneCachedFetchesOnlyWhatIsNew(t *testing.T) {
	t.Parallel()
	srv := acctest.StartGitServer(t)
	fixture := srv.CreateRepo(t, "acme", "cached")
	big := make([]byte, 2<<20)
	rand.Read(big)
	first := fixture.CommitFiles(t, map[string]acctest.File{
		"app.bin":      {Content: big, Executable: true},
		"version.txt":  {Content: []byte("1")},
		"old/gone.txt": {Content: []byte("deleted by the next commit")},
	}, "first")
	cache := filepath.Join(t.TempDir(), "cache")
	repo := repoOn(srv, fixture)
	ctx := testContext(t)

	clone := func(commit string) (*Checkout, string) {
		t.Helper()
		var progress progressLog
		co, err := CloneCached(ctx, repo, commit, cache, progress.add)
		if err != nil {
			t.Fatalf("CloneCached(%s): %v\n%s", commit, err, progress.String())
		}
		t.Cleanup(func() { co.Close() })
		return co, progress.String()
	}

	co, progress := clone(first)
	if !strings.Contains(progress, "cached repository not used (none yet): cloning afresh") {
		t.Errorf("the first deploy does not say it clones:\n%s", progress)
	}
	if got := tree(t, co.Dir); len(got) != 3 || got["version.txt"] != "1" || got["app.bin"] != string(big) {
		t.Errorf("first checkout holds %d files (want app.bin, version.txt, old/gone.txt): %v", len(got), slices.Sorted(func(yield func(string) bool) {
			for k := range got {
				if !yield(k) {
					return
				}
			}
		}))
	}
	before := packBytes(t, cache)
	var seeded int64
	for _, n := range before {
		seeded += n
	}
	if seeded < 1<<20 {
		t.Fatalf("the cache holds %d bytes of packs after the first clone; want the 2 MiB binary's", seeded)
	}

	second := fixture.CommitFiles(t, map[string]acctest.File{
		"version.txt":  {Content: []byte("2")},
		"old/gone.txt": {Delete: true},
	}, "second")
	fetches := srv.Fetches()
	co2, progress := clone(second)
	if strings.Contains(progress, "cloning") || !strings.Contains(progress, "fetching "+fixture.CloneURL) {
		t.Errorf("the second deploy did not fetch into the cached repository:\n%s", progress)
	}
	if n := srv.Fetches() - fetches; n != 1 {
		t.Errorf("the second deploy made %d transfers; want one fetch", n)
	}
	var fetched int64
	for p, n := range packBytes(t, cache) {
		if _, old := before[p]; !old {
			fetched += n
		}
	}
	if fetched == 0 || fetched > 16<<10 {
		t.Errorf("the fetch of a one-file commit brought %d bytes of pack; want a few KB, not the tree again (%d)", fetched, seeded)
	}
	got := tree(t, co2.Dir)
	if _, ok := got["old/gone.txt"]; ok {
		t.Error("old/gone.txt, deleted by the new commit, is in the checkout")
	}
	if _, err := os.Stat(filepath.Join(co2.Dir, "old")); !os.IsNotExist(err) {
		t.Errorf("the deleted file's directory is in the checkout: %v", err)
	}
	if len(got) != 2 || got["version.txt"] != "2" || got["app.bin"] != string(big) {
		t.Errorf("second checkout: %d files, version.txt %q; want exactly app.bin and version.txt 2", len(got), got["version.txt"])
	}
	if fi, err := os.Stat(filepath.Join(co2.Dir, "app.bin")); err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("app.bin lost its executable bit: %v, %v", fi, err)
	}
	if _, err := os.Lstat(filepath.Join(co2.Dir, ".git")); !os.IsNotExist(err) {
		t.Errorf("the checkout has a .git (%v): it must hold the commit's tree alone", err)
	}
	if co.Dir == co2.Dir {
		t.Error("two deploys share one checkout directory")
	}
	err := filepath.WalkDir(cache, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if strings.Contains(string(b), srv.Token) || strings.Contains(string(b), co2.Dir) {
			t.Errorf("%s holds the token or the checkout's path", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// A cache whose packs are zeros, whose config is garbage, or of
	// another remote: cloned afresh, the deploy goes on.
	for _, c := range []struct {
		name  string
		spoil func()
	}{
		{"packs overwritten", func() {
			for p, n := range packBytes(t, cache) {
				if err := os.WriteFile(p, make([]byte, n), 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"config garbage", func() {
			if err := os.WriteFile(filepath.Join(cache, "config"), []byte("[remote \"origin\"\n\x00garbage"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"another remote", func() {
			b, err := os.ReadFile(filepath.Join(cache, "config"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(cache, "config"), []byte(strings.ReplaceAll(string(b), "acme/cached", "acme/other")), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		c.spoil()
		co, progress := clone(second)
		if !strings.Contains(progress, "cloning afresh") {
			t.Errorf("%s: no fresh clone:\n%s", c.name, progress)
		}
		if got := tree(t, co.Dir); len(got) != 2 || got["version.txt"] != "2" {
			t.Errorf("%s: checkout after the fresh clone holds %d files, version.txt %q", c.name, len(got), got["version.txt"])
		}
	}

	// A refused token fails the deploy as a clone would, without a clone.
	srv.RevokeToken(t)
	fetches = srv.Fetches()
	var refused progressLog
	_, err = CloneCached(ctx, repo, second, cache, refused.add)
	if !errors.Is(err, ErrCredentials) || strings.Contains(refused.String(), "cloning afresh") {
		t.Errorf("with a revoked token: %v\n%s; want ErrCredentials, no fresh clone", err, refused.String())
	}
	if _, err := os.Stat(filepath.Join(cache, "config")); err != nil {
		t.Errorf("a refused token removed the cached repository: %v", err)
	}
}

// TestCloneCachedRefusesACommitTheBranchLost: the cache still holds a
// commit that a force-push took off the branch; CloneCached does not
// deploy it from there: it clones afresh and says the commit is no longer
// on the branch, as a clone would.
func TestCloneCachedRefusesACommitTheBranchLost(t *testing.T) {
	t.Parallel()
	srv := acctest.StartGitServer(t)
	fixture := srv.CreateRepo(t, "acme", "forced")
	first := fixture.Commit(t, map[string][]byte{"v": []byte("1")}, "first")
	second := fixture.Commit(t, map[string][]byte{"v": []byte("2")}, "second")
	cache := filepath.Join(t.TempDir(), "cache")
	repo := repoOn(srv, fixture)
	ctx := testContext(t)

	co, err := CloneCached(ctx, repo, second, cache, func(string) {})
	if err != nil {
		t.Fatalf("CloneCached(second): %v", err)
	}
	co.Close()
	fixture.ForcePush(t, "main", first)

	var progress progressLog
	co, err = CloneCached(ctx, repo, second, cache, progress.add)
	if err == nil {
		co.Close()
		t.Fatalf("CloneCached of a commit force-pushed off the branch succeeded:\n%s", progress.String())
	}
	var nob *NotOnBranchError
	if !errors.As(err, &nob) || !strings.Contains(progress.String(), "is not on the fetched") {
		t.Fatalf("CloneCached = %v, want NotOnBranchError after the cache was passed over:\n%s", err, progress.String())
	}
	if co, err := CloneCached(ctx, repo, first, cache, func(string) {}); err != nil {
		t.Fatalf("CloneCached(first), the branch's head: %v", err)
	} else {
		co.Close()
	}
}
