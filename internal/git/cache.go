package git

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-git/go-billy/v5/osfs"
	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// maxCachedPacks bounds the packs a cached repository gathers (one per
// fetch): past it, a fresh clone replaces it with one pack.
const maxCachedPacks = 50

// CloneCached is Clone for a caller that deploys the same repository again
// and again: the repository's objects are kept in cache, a directory of
// the caller's own (one per workload and remote: never shared), between
// calls. When cache holds the repository, only what the branch gained
// since is fetched (the fetch brings every commit pushed since the last
// one, not the head alone: a shallow fetch would send the whole tree
// again). The commit is then checked out into a fresh temporary
// directory, which holds exactly its tree and no .git. Anything wrong with
// the cache (missing, corrupt, another remote, a fetch that fails for
// another reason than the credentials or a branch not found) makes it a
// fresh clone into cache, said on progress. A tag is always cloned
// afresh. Credentials are never written into cache.
func CloneCached(ctx context.Context, repo Repo, commit, cache string, progress func(string)) (*Checkout, error) {
	if cache == "" || repo.Tag != "" {
		return Clone(ctx, repo, commit, progress)
	}
	cloneURL, auth, err := cloneSource(repo, commit)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tinyforge-clone-")
	if err != nil {
		return nil, fmt.Errorf("create a directory for the checkout of %s: %w", cloneURL, err)
	}
	lines := newLineWriter(progress, repo.Token)
	checkout, err := fetchCached(ctx, repo, cloneURL, auth, cache, dir, commit, lines)
	if err == nil {
		return checkout, nil
	}
	var stale *staleCache
	if !errors.As(err, &stale) {
		os.RemoveAll(dir)
		return nil, err
	}
	lines.Line(fmt.Sprintf("cached repository not used (%s): cloning afresh", stale.why))
	if err := emptyDir(dir); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	checkout, err = cloneCommit(ctx, repo, cloneURL, auth, dir, cache, commit, lines)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return checkout, nil
}

// staleCache is a cached repository that cannot serve: a fresh clone
// replaces it.
type staleCache struct{ why string }

func (e *staleCache) Error() string { return "cached repository not used: " + e.why }

// fetchCached brings the repository in cache up to date with the branch
// and checks commit out into dir (empty). A *staleCache error asks for a
// fresh clone; any other is the deploy's.
func fetchCached(ctx context.Context, repo Repo, cloneURL string, auth transport.AuthMethod, cacheDir, dir, commit string, progress *lineWriter) (*Checkout, error) {
	defer progress.Flush()
	if _, err := os.Stat(filepath.Join(cacheDir, "config")); err != nil {
		return nil, &staleCache{"none yet"}
	}
	if packs, _ := filepath.Glob(filepath.Join(cacheDir, "objects", "pack", "*.pack")); len(packs) > maxCachedPacks {
		return nil, &staleCache{fmt.Sprintf("%d packs, more than %d", len(packs), maxCachedPacks)}
	}
	st := filesystem.NewStorage(osfs.New(cacheDir), cache.NewObjectLRUDefault())
	r, err := gogit.Open(st, osfs.New(dir))
	if err != nil {
		return nil, &staleCache{fmt.Sprintf("open: %v", err)}
	}
	remote, err := r.Remote("origin")
	if err != nil || len(remote.Config().URLs) != 1 || remote.Config().URLs[0] != cloneURL {
		return nil, &staleCache{"it is of another remote"}
	}
	progress.Line(fmt.Sprintf("fetching %s %s into the cached repository", cloneURL, repo.describeFollowed()))
	followed := repo.followed()
	err = r.FetchContext(ctx, &gogit.FetchOptions{
		RemoteName: "origin",
		RefSpecs:   []config.RefSpec{config.RefSpec(fmt.Sprintf("+%s:refs/remotes/origin/%s", followed, repo.Branch))},
		Auth:       auth,
		Tags:       gogit.NoTags,
		Force:      true,
		Progress:   progress.sideband(),
	})
	switch {
	case err == nil, errors.Is(err, gogit.NoErrAlreadyUpToDate):
	case errors.Is(err, context.Canceled):
		return nil, describe("fetch", cloneURL, repo.Token, err)
	case errors.Is(err, gogit.NoMatchingRefSpecError{}), errors.Is(err, plumbing.ErrReferenceNotFound):
		return nil, &classified{fmt.Errorf("%s not found in %s", repo.describeFollowed(), cloneURL), ErrNotFound}
	default:
		described := describe("fetch", cloneURL, repo.Token, err)
		if errors.Is(described, ErrCredentials) {
			return nil, described
		}
		return nil, &staleCache{described.Error()}
	}
	if _, err := r.CommitObject(plumbing.NewHash(commit)); err != nil {
		// Older than the cache's history, or corrupt: a clone looks
		// deeper, and says when the branch no longer holds it.
		return nil, &staleCache{fmt.Sprintf("commit %s not in it", commit)}
	}
	// The cache keeps commits the branch has since lost (force-pushed
	// away): a commit is deployed only while the fetched branch holds it,
	// as a clone of the branch would find it. One the cache cannot place
	// on the branch is left to a fresh clone, which looks as deep as it
	// must and says when the branch no longer holds it.
	if !onBranch(r, plumbing.NewRemoteReferenceName("origin", repo.Branch), plumbing.NewHash(commit)) {
		return nil, &staleCache{fmt.Sprintf("commit %s is not on the fetched %s", commit, repo.describeFollowed())}
	}
	// The index describes the last checkout, in another directory: an
	// empty one makes the checkout write every file of the commit.
	if err := st.SetIndex(&index.Index{Version: 2}); err != nil {
		return nil, &staleCache{fmt.Sprintf("reset its index: %v", err)}
	}
	checkout, err := checkOut(r, cloneURL, repo.Token, dir, commit, progress)
	if err != nil {
		if emptyDir(dir) != nil {
			return nil, err
		}
		return nil, &staleCache{err.Error()}
	}
	return checkout, nil
}

// cloneToCache clones into a repository without a work tree at cache
// (emptied first) and opens it with dir as its work tree: a clone with a
// work tree would write cache's path into dir (a .git file) and dir's
// into cache's config.
func cloneToCache(ctx context.Context, cacheDir, dir string, opts *gogit.CloneOptions) (*gogit.Repository, error) {
	if err := os.RemoveAll(cacheDir); err != nil {
		return nil, fmt.Errorf("remove the cached repository %s: %w", cacheDir, err)
	}
	if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("create the cached repository %s: %w", cacheDir, err)
	}
	st := filesystem.NewStorage(osfs.New(cacheDir), cache.NewObjectLRUDefault())
	if _, err := gogit.CloneContext(ctx, st, nil, opts); err != nil {
		return nil, err
	}
	return gogit.Open(st, osfs.New(dir))
}

// onBranch reports whether want is the commit ref points at or one of its
// ancestors in r; a history the walk cannot finish (a shallow boundary, a
// missing object) counts as not.
func onBranch(r *gogit.Repository, ref plumbing.ReferenceName, want plumbing.Hash) bool {
	head, err := r.Reference(ref, true)
	if err != nil {
		return false
	}
	commits, err := r.Log(&gogit.LogOptions{From: head.Hash()})
	if err != nil {
		return false
	}
	defer commits.Close()
	found := false
	_ = commits.ForEach(func(c *object.Commit) error {
		if c.Hash == want {
			found = true
			return storer.ErrStop
		}
		return nil
	})
	return found
}
