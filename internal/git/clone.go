package git

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"
)

// RemoteHead returns the SHA of the commit that refs/heads/<branch> (or,
// with a Tag, refs/tags/<tag>, peeled to its commit when annotated) points
// at on the host, without cloning (what `git ls-remote` does). Plan time
// uses it to show the commit a deploy will build.
func RemoteHead(ctx context.Context, repo Repo) (string, error) {
	cloneURL, err := repo.CloneURL()
	if err != nil {
		return "", err
	}
	auth, err := repo.auth()
	if err != nil {
		return "", err
	}
	remote := gogit.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{cloneURL}})
	refs, err := remote.ListContext(ctx, &gogit.ListOptions{Auth: auth, PeelingOption: gogit.AppendPeeled})
	if err != nil {
		return "", describe("list references of", cloneURL, repo.Token, err)
	}
	want := repo.followed()
	var direct, peeled string
	for _, ref := range refs {
		if ref.Type() != plumbing.HashReference {
			continue
		}
		switch ref.Name() {
		case want:
			direct = ref.Hash().String()
		case want + "^{}": // an annotated tag's commit
			peeled = ref.Hash().String()
		}
	}
	if sha := cmp.Or(peeled, direct); sha != "" {
		return sha, nil
	}
	if repo.Tag != "" && abbreviatedSHA.MatchString(repo.Tag) {
		return "", &classified{fmt.Errorf("tag %q not found in %s; to pin a commit, write its full 40-character SHA", repo.Tag, cloneURL), ErrNotFound}
	}
	return "", &classified{fmt.Errorf("%s not found in %s", repo.describeFollowed(), cloneURL), ErrNotFound}
}

// Checkout is a clone of one commit in a temporary directory that belongs to
// the caller: Close removes it.
type Checkout struct {
	// Dir is the work tree (absolute), with .git inside.
	Dir string
	// Commit is the SHA checked out (HEAD, detached).
	Commit string
}

// Close removes the clone.
func (c *Checkout) Close() error {
	if c == nil || c.Dir == "" {
		return nil
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		return fmt.Errorf("remove clone %s: %w", c.Dir, err)
	}
	return nil
}

// cloneDepths are the histories tried in turn to find the commit: the
// branch head alone (the usual case: nothing was pushed since plan), then
// the recent past, then all of the branch (0 = full).
var cloneDepths = []int{1, 50, 0}

// Clone fetches branch repo.Branch (or tag repo.Tag) into a fresh
// temporary directory and checks out exactly commit, the SHA plan resolved.
// When the branch moved on since, it fetches more of its history to find
// commit; a commit no longer on the branch (force-pushed away), or a tag
// moved since the plan, is an error asking for a new plan.
// progress, when not nil, receives go-git's progress lines and this
// function's own. On error nothing is left on disk.
func Clone(ctx context.Context, repo Repo, commit string, progress func(string)) (*Checkout, error) {
	cloneURL, auth, err := cloneSource(repo, commit)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tinyforge-clone-")
	if err != nil {
		return nil, fmt.Errorf("create a directory for the clone of %s: %w", cloneURL, err)
	}
	checkout, err := cloneCommit(ctx, repo, cloneURL, auth, dir, "", commit, newLineWriter(progress, repo.Token))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return checkout, nil
}

// CloneInto is Clone into dir, which it creates when missing and empties
// first: for a caller that needs the checkout at one path on every deploy
// (a compose project, whose configuration holds its absolute paths). On
// error dir is left empty.
func CloneInto(ctx context.Context, repo Repo, commit, dir string, progress func(string)) (*Checkout, error) {
	cloneURL, auth, err := cloneSource(repo, commit)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create a directory for the clone of %s: %w", cloneURL, err)
	}
	checkout, err := cloneCommit(ctx, repo, cloneURL, auth, dir, "", commit, newLineWriter(progress, repo.Token))
	if err != nil {
		emptyDir(dir)
		return nil, err
	}
	return checkout, nil
}

// cloneSource checks commit and says where to clone it from, and how to
// authenticate there.
func cloneSource(repo Repo, commit string) (string, transport.AuthMethod, error) {
	if err := checkCommit(commit); err != nil {
		return "", nil, err
	}
	cloneURL, err := repo.CloneURL()
	if err != nil {
		return "", nil, err
	}
	auth, err := repo.auth()
	if err != nil {
		return "", nil, err
	}
	return cloneURL, auth, nil
}

// cloneCommit clones what repo follows and checks out commit into dir.
// With a cache directory, the repository's objects go there (replacing
// whatever it held) and dir gets the work tree alone; without, dir/.git
// holds them.
func cloneCommit(ctx context.Context, repo Repo, cloneURL string, auth transport.AuthMethod, dir, cache, commit string, progress *lineWriter) (checkout *Checkout, err error) {
	defer progress.Flush()
	if cache != "" {
		defer func() {
			if err != nil {
				os.RemoveAll(cache) // half a clone is no cache
			}
		}()
	}
	want := plumbing.NewHash(commit)
	var head plumbing.Hash
	for _, depth := range cloneDepths {
		// Each attempt is a fresh clone: go-git cannot deepen an existing
		// shallow clone reliably (it never drops a shallow boundary), and
		// the deeper attempts are rare.
		if err := emptyDir(dir); err != nil {
			return nil, err
		}
		progress.Line(fmt.Sprintf("cloning %s %s (%s)", cloneURL, repo.describeFollowed(), depthWords(depth)))
		opts := &gogit.CloneOptions{
			URL:           cloneURL,
			Auth:          auth,
			ReferenceName: repo.followed(),
			SingleBranch:  true,
			Depth:         depth,
			Tags:          gogit.NoTags,
			NoCheckout:    true,
			Progress:      progress.sideband(),
		}
		var r *gogit.Repository
		if cache == "" {
			r, err = gogit.PlainCloneContext(ctx, dir, false, opts)
		} else {
			r, err = cloneToCache(ctx, cache, dir, opts)
		}
		if err != nil {
			if errors.Is(err, gogit.NoMatchingRefSpecError{}) || errors.Is(err, plumbing.ErrReferenceNotFound) || errors.Is(err, transport.ErrEmptyRemoteRepository) {
				return nil, &classified{fmt.Errorf("%s not found in %s", repo.describeFollowed(), cloneURL), ErrNotFound}
			}
			return nil, describe("clone", cloneURL, repo.Token, err)
		}
		ref, err := r.Head()
		if err != nil {
			return nil, describe("read HEAD of the clone of", cloneURL, repo.Token, err)
		}
		head = ref.Hash()
		if _, err := r.CommitObject(want); err != nil {
			if repo.Tag != "" {
				// A tag names one commit: it moved since the plan.
				return nil, fmt.Errorf("tag %q now points at %s, not at the planned commit %s; run terraform plan again", repo.Tag, head, commit)
			}
			continue // not within this depth
		}
		return checkOut(r, cloneURL, repo.Token, dir, commit, progress)
	}
	return nil, &NotOnBranchError{Commit: commit, Branch: repo.Branch, Head: head.String()}
}

// checkOut writes commit's tree into dir, from r (whose work tree is dir).
func checkOut(r *gogit.Repository, cloneURL, token, dir, commit string, progress *lineWriter) (*Checkout, error) {
	wt, err := r.Worktree()
	if err != nil {
		return nil, describe("open the work tree of", cloneURL, token, err)
	}
	if err := wt.Checkout(&gogit.CheckoutOptions{Hash: plumbing.NewHash(commit), Force: true}); err != nil {
		return nil, describe(fmt.Sprintf("check out %s from", commit), cloneURL, token, err)
	}
	progress.Line(fmt.Sprintf("checked out %s", commit))
	return &Checkout{Dir: dir, Commit: commit}, nil
}

func depthWords(depth int) string {
	if depth == 0 {
		return "full history"
	}
	if depth == 1 {
		return "head only"
	}
	return fmt.Sprintf("last %d commits", depth)
}

// emptyDir removes everything inside dir, keeping dir.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("empty clone directory %s: %w", dir, err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(dir + string(os.PathSeparator) + e.Name()); err != nil {
			return fmt.Errorf("empty clone directory %s: %w", dir, err)
		}
	}
	return nil
}

// NotOnBranchError is a commit that the branch's history does not hold
// (any more: the branch was rewritten since the plan; or ever: a pinned
// commit of another branch).
type NotOnBranchError struct {
	Commit, Branch, Head string
}

func (e *NotOnBranchError) Error() string {
	return fmt.Sprintf("commit %s is no longer on branch %s (head is now %s); run terraform plan again", e.Commit, e.Branch, e.Head)
}

// ErrCredentials marks an error the Git host gave because of the
// credentials: none given for a private repository, or a token refused (HTTP
// 401 or 403). Retrying will not help; a new token will.
var ErrCredentials = errors.New("the Git host refused the credentials")

// ErrUnavailable marks an error that may pass by itself: the Git host could
// not be reached, timed out, or answered 5xx.
var ErrUnavailable = errors.New("the Git host is unavailable")

// ErrNotFound marks an error of a branch or tag the repository does not
// have: what the user wrote names nothing there.
var ErrNotFound = errors.New("not found in the repository")

// classified is an error with its class (ErrCredentials, ErrUnavailable,
// ErrNotFound),
// which errors.Is reports beside the cause's own.
type classified struct {
	err   error
	class error
}

func (e *classified) Error() string { return e.err.Error() }
func (e *classified) Unwrap() []error {
	return []error{e.err, e.class}
}

// describe turns a go-git error into one a user can act on. The URL given is
// the credential-free clone URL; anything else go-git or the server put in
// the message is scrubbed of the token.
func describe(op, cloneURL, token string, err error) error {
	if IsSSHURL(cloneURL) {
		if described, ok := describeSSH(op, cloneURL, err); ok {
			return described
		}
	}
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired) && token == "":
		return &classified{fmt.Errorf("authentication required for %s: the repository is private, set a token", cloneURL), ErrCredentials}
	case errors.Is(err, transport.ErrAuthenticationRequired):
		return &classified{fmt.Errorf("authentication failed for %s: the token was refused", cloneURL), ErrCredentials}
	case errors.Is(err, transport.ErrAuthorizationFailed):
		return &classified{fmt.Errorf("access denied to %s: the token cannot read this repository", cloneURL), ErrCredentials}
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return fmt.Errorf("repository %s not found (or not visible with this token)", cloneURL)
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return fmt.Errorf("repository %s is empty", cloneURL)
	}
	// Classified before the scrub, which hides the cause's types.
	transient := unavailable(err)
	err = scrub(fmt.Errorf("%s %s: %w", op, cloneURL, err), token)
	if transient {
		return &classified{err, ErrUnavailable}
	}
	return err
}

// unavailable reports a failure that may pass by itself: the network (the
// host unreachable, refused, reset, timed out, its name not resolved) or a
// 5xx answer.
func unavailable(err error) bool {
	var netErr net.Error
	var dnsErr *net.DNSError
	var httpErr *githttp.Err
	var unexpected *plumbing.UnexpectedError
	if errors.As(err, &unexpected) {
		err = unexpected.Err // go-git wraps an HTTP answer's error here, without Unwrap
	}
	switch {
	case errors.Is(err, context.Canceled):
		return false // the user interrupted: not the host's doing
	case errors.As(err, &netErr), errors.As(err, &dnsErr), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case errors.As(err, &httpErr):
		return httpErr.Response != nil && httpErr.Response.StatusCode >= 500
	}
	return false
}

// scrubbedError carries an error's message with the token removed. It
// answers errors.Is for the original (context.Canceled stays detectable) but
// does not hand the original out through Unwrap, where the token could be
// read back.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string        { return e.msg }
func (e *scrubbedError) Is(target error) bool { return errors.Is(e.err, target) }

func scrub(err error, token string) error {
	if err == nil || token == "" || !strings.Contains(err.Error(), token) {
		return err
	}
	return &scrubbedError{msg: strings.ReplaceAll(err.Error(), token, "[token]"), err: err}
}
