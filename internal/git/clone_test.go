package git

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// repoOn is the Repo the engine would build for a fixture repository: base
// URL only, provider detected (Gitea, as a self-hosted host on 127.0.0.1).
func repoOn(srv *acctest.GitServer, r *acctest.GitRepo) Repo {
	return Repo{BaseURL: srv.URL, Owner: r.Owner, Name: r.Name, Branch: "main", Token: srv.Token}
}

// progressLog collects what Clone reports.
type progressLog struct {
	mu    sync.Mutex
	lines []string
}

func (p *progressLog) add(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, s)
}

func (p *progressLog) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// testContext bounds a test's calls to the Git server. Call it after the
// fixtures (the server, the repository, the commits): making dozens of
// commits on a busy machine takes most of the deadline by itself.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestRemoteHeadFollowsPushes(t *testing.T) {
	t.Parallel()
	srv := acctest.StartGitServer(t)
	fixture := srv.CreateRepo(t, "acme", "web")
	repo := repoOn(srv, fixture)
	ctx := testContext(t)

	if _, err := RemoteHead(ctx, repo); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("empty repository: %v; want an error saying it is empty", err)
	}

	first := fixture.Commit(t, map[string][]byte{"a": []byte("1")}, "first")
	if got, err := RemoteHead(ctx, repo); err != nil || got != first {
		t.Fatalf("RemoteHead = %q, %v; want %s", got, err, first)
	}
	second := fixture.Commit(t, map[string][]byte{"a": []byte("2")}, "second")
	if got, err := RemoteHead(ctx, repo); err != nil || got != second {
		t.Fatalf("after a push RemoteHead = %q, %v; want %s", got, err, second)
	}

	// Another branch is its own head.
	feature := fixture.CommitTo(t, "feature/x", map[string]acctest.File{"b": {Content: []byte("b")}}, "feature")
	featureRepo := repo
	featureRepo.Branch = "feature/x"
	if got, err := RemoteHead(ctx, featureRepo); err != nil || got != feature {
		t.Errorf("RemoteHead(feature/x) = %q, %v; want %s", got, err, feature)
	}

	missing := repo
	missing.Branch = "nope"
	_, err := RemoteHead(ctx, missing)
	if err == nil || !strings.Contains(err.Error(), `branch "nope" not found in `+fixture.CloneURL) {
		t.Errorf("missing branch: %v; want an error naming the branch and the repository", err)
	}

	other := repo
	other.Name = "absent"
	if _, err := RemoteHead(ctx, other); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("missing repository: %v", err)
	}
}

// TestTokenNeverInErrorsOrProgress uses a wrong token and servers that echo
// the credentials they were sent back in every kind of answer; no error and
// no progress line may carry the token.
func TestTokenNeverInErrorsOrProgress(t *testing.T) {
	t.Parallel()
	srv := acctest.StartGitServer(t)
	fixture := srv.CreateRepo(t, "acme", "secret")
	head := fixture.Commit(t, map[string][]byte{"a": []byte("1")}, "first")
	ctx := testContext(t)

	const wrongToken = "wrong-token-0123456789abcdef"
	repo := repoOn(srv, fixture)
	repo.Token = wrongToken

	_, err := RemoteHead(ctx, repo)
	want := "authentication failed for " + fixture.CloneURL
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("RemoteHead with a wrong token: %v; want %q", err, want)
	}
	var progress progressLog
	co, cloneErr := Clone(ctx, repo, head, progress.add)
	if co != nil || cloneErr == nil || !strings.Contains(cloneErr.Error(), want) {
		t.Errorf("Clone with a wrong token: %v, %v; want %q", co, cloneErr, want)
	}
	for _, s := range []string{fmt.Sprint(err), fmt.Sprint(cloneErr), progress.String()} {
		if strings.Contains(s, wrongToken) {
			t.Errorf("the token leaked: %q", s)
		}
	}

	anonymous := repoOn(srv, fixture)
	anonymous.Token = ""
	if _, err := RemoteHead(ctx, anonymous); err == nil || !strings.Contains(err.Error(), "authentication required for "+fixture.CloneURL) {
		t.Errorf("no token on a private repository: %v", err)
	}
	srv.AllowAnonymous(true)
	if got, err := RemoteHead(ctx, anonymous); err != nil || got != head {
		t.Errorf("no token on a public repository: %q, %v", got, err)
	}

	// A server that answers with the credentials it received, whatever
	// the status: the token must be scrubbed from what go-git reports.
	for _, code := range []int{401, 403, 404, 500, 200} {
		echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, pass, _ := r.BasicAuth()
			if code == 200 {
				// A well-formed "ERR" packet, which go-git reports.
				w.Header().Set("Content-Type", "application/x-git-upload-pack-advertisement")
				msg := "ERR you sent " + pass + "\n"
				fmt.Fprintf(w, "%04x%s", len(msg)+4, msg)
				return
			}
			w.WriteHeader(code)
			fmt.Fprintf(w, "%s you sent %s (%s)\n", pass, pass, r.Header.Get("Authorization"))
		}))
		leaky := Repo{BaseURL: echo.URL, Owner: "acme", Name: "web", Branch: "main", Token: wrongToken}
		_, err := RemoteHead(ctx, leaky)
		var progress progressLog
		_, cloneErr := Clone(ctx, leaky, head, progress.add)
		echo.Close()
		t.Logf("echo server %d: RemoteHead: %v; Clone: %v", code, err, cloneErr)
		if err == nil || cloneErr == nil {
			t.Errorf("echo server %d: RemoteHead %v, Clone %v; want errors", code, err, cloneErr)
		}
		for _, s := range []string{fmt.Sprint(err), fmt.Sprint(cloneErr), progress.String()} {
			if strings.Contains(s, wrongToken) {
				t.Errorf("echo server %d: the token leaked: %q", code, s)
			}
		}
	}
}

// TestCloneChecksOutTheCommitAndRefusesEscapingPaths clones a real commit
// and checks the work tree is that commit's, with modes and symlinks, and
// that Within refuses the repository's symlinks that point out of it.
func TestCloneChecksOutTheCommitAndRefusesEscapingPaths(t *testing.T) {
	t.Parallel()
	srv := acctest.StartGitServer(t)
	fixture := srv.CreateRepo(t, "acme", "app")
	head := fixture.CommitFiles(t, map[string]acctest.File{
		"app/Dockerfile": {Content: []byte("FROM scratch\n")},
		"app/run.sh":     {Content: []byte("#!/bin/sh\n"), Executable: true},
		"docker":         {SymlinkTo: "app"},
		"etc":            {SymlinkTo: "/etc"},
		"escape":         {SymlinkTo: "/etc/ssl"},
		"up":             {SymlinkTo: "../.."},
		"app/passwd":     {SymlinkTo: "../../../../../../etc/passwd"},
	}, "app")
	ctx := testContext(t)

	var progress progressLog
	co, err := Clone(ctx, repoOn(srv, fixture), head, progress.add)
	if err != nil {
		t.Fatalf("Clone: %v", err)
	}
	t.Cleanup(func() { co.Close() })
	if co.Commit != head || !filepath.IsAbs(co.Dir) {
		t.Errorf("Checkout = %+v; want commit %s in an absolute dir", co, head)
	}
	if b, err := os.ReadFile(filepath.Join(co.Dir, "app/Dockerfile")); err != nil || string(b) != "FROM scratch\n" {
		t.Errorf("app/Dockerfile = %q, %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(co.Dir, "app/run.sh")); err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("app/run.sh lost its executable bit: %v, %v", fi, err)
	}
	if !strings.Contains(progress.String(), "cloning "+fixture.CloneURL+` branch "main" (head only)`) {
		t.Errorf("progress does not say what it clones:\n%s", progress.String())
	}

	realDir, _ := filepath.EvalSymlinks(co.Dir)
	if got, err := Within(co.Dir, "docker/Dockerfile"); err != nil || got != filepath.Join(realDir, "app/Dockerfile") {
		t.Errorf("Within(docker/Dockerfile) = %q, %v; a symlink inside the clone is fine", got, err)
	}
	if got, err := Within(co.Dir, "."); err != nil || got != realDir {
		t.Errorf("Within(.) = %q, %v; want %s", got, err, realDir)
	}
	// Every way out names the symlink and its target as the repository has
	// it. go-git's checkout re-roots an absolute symlink target inside the
	// clone ("/etc" becomes <clone>/etc, here a loop; "/etc/ssl" one that
	// does not exist): whatever it becomes, it must not lead to the host's
	// /etc, and the error says it leads out, not that it is missing.
	for rel, want := range map[string]string{
		"up":             `path "up" leads out of the clone: "up" is a symlink to "../.."`,
		"app/passwd":     `path "app/passwd" leads out of the clone: "app/passwd" is a symlink to "../../../../../../etc/passwd"`,
		"etc":            `path "etc" leads out of the clone: "etc" is a symlink to "/etc"`,
		"etc/passwd":     `path "etc/passwd" leads out of the clone: "etc" is a symlink to "/etc"`,
		"escape":         `path "escape" leads out of the clone: "escape" is a symlink to "/etc/ssl"`,
		"escape/certs":   `path "escape/certs" leads out of the clone: "escape" is a symlink to "/etc/ssl"`,
		"docker/missing": `path "docker/missing" does not exist in the repository`,
	} {
		got, err := Within(co.Dir, rel)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Within(%q) = %q, %v; want an error with %s", rel, got, err, want)
		} else if strings.Contains(err.Error(), co.Dir) {
			t.Errorf("Within(%q): the error names this host's clone directory: %v", rel, err)
		}
	}
	if _, err := Within(co.Dir, "../x"); err == nil || !strings.Contains(err.Error(), `(got "../x")`) {
		t.Errorf("Within(../x): %v", err)
	}
	if _, err := Within(co.Dir, "missing/Dockerfile"); err == nil || !strings.Contains(err.Error(), `path "missing/Dockerfile" does not exist`) {
		t.Errorf("Within(missing): %v", err)
	}

	if err := co.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(co.Dir); !os.IsNotExist(err) {
		t.Errorf("Close left %s: %v", co.Dir, err)
	}
}

// TestCloneFindsACommitTheBranchMovedPast plans on commit A, then pushes
// more: the clone must still build A, exactly (B's changes absent), also
// when A is deeper than the first deepening step.
func TestCloneFindsACommitTheBranchMovedPast(t *testing.T) {
	t.Parallel()
	srv := acctest.StartGitServer(t)
	fixture := srv.CreateRepo(t, "acme", "moving")
	repo := repoOn(srv, fixture)
	a := fixture.Commit(t, map[string][]byte{"version": []byte("A"), "only-in-a": []byte("a")}, "A")
	b := fixture.CommitFiles(t, map[string]acctest.File{
		"version":   {Content: []byte("B")},
		"only-in-a": {Delete: true},
		"only-in-b": {Content: []byte("b")},
	}, "B")
	ctx := testContext(t)

	assertAt := func(co *Checkout, version string) {
		t.Helper()
		if got, err := os.ReadFile(filepath.Join(co.Dir, "version")); err != nil || string(got) != version {
			t.Errorf("version = %q, %v; want %q", got, err, version)
		}
	}

	var progress progressLog
	co, err := Clone(ctx, repo, a, progress.add)
	if err != nil {
		t.Fatalf("Clone(A) after B was pushed: %v", err)
	}
	assertAt(co, "A")
	if _, err := os.Stat(filepath.Join(co.Dir, "only-in-a")); err != nil {
		t.Errorf("A's file is missing: %v", err)
	}
	if _, err := os.Stat(filepath.Join(co.Dir, "only-in-b")); !os.IsNotExist(err) {
		t.Errorf("B's file is in A's checkout: %v", err)
	}
	if !strings.Contains(progress.String(), "(last 50 commits)") {
		t.Errorf("progress does not show the deeper fetch:\n%s", progress.String())
	}
	co.Close()

	if co, err := Clone(ctx, repo, b, nil); err != nil || co.Commit != b {
		t.Fatalf("Clone(B) with nil progress: %v", err)
	} else {
		assertAt(co, "B")
		co.Close()
	}

	// Push A past the depth-50 window: only the full history has it.
	for i := 0; i < 50; i++ {
		fixture.Commit(t, map[string][]byte{"n": []byte(fmt.Sprint(i))}, fmt.Sprintf("filler %d", i))
	}
	// The 50 commits took most of the first deadline under load.
	ctx = testContext(t)
	full := &progressLog{}
	co, err = Clone(ctx, repo, a, full.add)
	if err != nil {
		t.Fatalf("Clone(A) 51 commits back: %v", err)
	}
	assertAt(co, "A")
	co.Close()
	if !strings.Contains(full.String(), "(full history)") {
		t.Errorf("progress does not show the full fetch:\n%s", full.String())
	}
}

// TestCloneFailsClearlyAndLeavesNothing covers the commit that is gone from
// the branch (force-pushed away), an unknown SHA and a missing branch: each
// fails with an error saying what to do, and no clone directory is left.
// Not parallel: it points TMPDIR at its own directory to count leftovers.
func TestCloneFailsClearlyAndLeavesNothing(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	srv := acctest.StartGitServer(t)
	fixture := srv.CreateRepo(t, "acme", "rewritten")
	repo := repoOn(srv, fixture)
	x := fixture.Commit(t, map[string][]byte{"f": []byte("x")}, "X")
	dropped := fixture.Commit(t, map[string][]byte{"f": []byte("dropped")}, "dropped")
	fixture.ForcePush(t, "main", x)
	ctx := testContext(t)

	_, err := Clone(ctx, repo, dropped, nil)
	want := fmt.Sprintf("commit %s is no longer on branch main (head is now %s); run terraform plan again", dropped, x)
	if err == nil || err.Error() != want {
		t.Errorf("force-pushed-away commit: %v\nwant: %s", err, want)
	}

	unknown := strings.Repeat("0123456789", 4)
	if _, err := Clone(ctx, repo, unknown, nil); err == nil || !strings.Contains(err.Error(), "commit "+unknown+" is no longer on branch main") {
		t.Errorf("unknown commit: %v", err)
	}

	missing := repo
	missing.Branch = "gone"
	if _, err := Clone(ctx, missing, x, nil); err == nil || !strings.Contains(err.Error(), `branch "gone" not found`) {
		t.Errorf("missing branch: %v", err)
	}

	if _, err := Clone(ctx, repo, "HEAD", nil); err == nil || !strings.Contains(err.Error(), `(got "HEAD")`) {
		t.Errorf("not a SHA: %v", err)
	}

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Clone(canceled, repo, x, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: %v; want context.Canceled", err)
	}

	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		if strings.HasPrefix(e.Name(), "tinyforge-clone-") {
			t.Errorf("a failed Clone left %s behind", e.Name())
		}
	}
}

// TestErrorsSayWhetherRetryingCanHelp: refused credentials (none for a
// private repository, a wrong token) are ErrCredentials; a host that is
// down or answers 5xx is ErrUnavailable; a missing branch or repository is
// neither: only ErrUnavailable may be waited out.
func TestErrorsSayWhetherRetryingCanHelp(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := acctest.StartGitServer(t)
	fixture := srv.CreateRepo(t, "acme", "classes")
	fixture.Commit(t, map[string][]byte{"a": []byte("1")}, "first")

	wrong := repoOn(srv, fixture)
	wrong.Token = "wrong-token-0123456789"
	anonymous := repoOn(srv, fixture)
	anonymous.Token = ""
	missingBranch := repoOn(srv, fixture)
	missingBranch.Branch = "nope"
	missingRepo := repoOn(srv, fixture)
	missingRepo.Name = "nope"

	status := func(code int) Repo {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }))
		t.Cleanup(s.Close)
		return Repo{BaseURL: s.URL, Owner: "acme", Name: "web", Branch: "main", Token: "t0ken-abcdef"}
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	down := Repo{BaseURL: closed.URL, Owner: "acme", Name: "web", Branch: "main"}

	for name, c := range map[string]struct {
		repo                     Repo
		credentials, unavailable bool
	}{
		"wrong token":    {wrong, true, false},
		"no token":       {anonymous, true, false},
		"403":            {status(403), true, false},
		"500":            {status(500), false, true},
		"503":            {status(503), false, true},
		"refused":        {down, false, true},
		"missing branch": {missingBranch, false, false},
		"missing repo":   {missingRepo, false, false},
	} {
		_, err := RemoteHead(ctx, c.repo)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if got := errors.Is(err, ErrCredentials); got != c.credentials {
			t.Errorf("%s: errors.Is(%v, ErrCredentials) = %v", name, err, got)
		}
		if got := errors.Is(err, ErrUnavailable); got != c.unavailable {
			t.Errorf("%s: errors.Is(%v, ErrUnavailable) = %v", name, err, got)
		}
	}
}

// TestTagsResolveAndClone: a lightweight and an annotated tag resolve to
// their commit (the annotated one peeled, never the tag object), Clone
// fetches exactly that commit, a tag moved since the plan is refused
// asking for a new plan, and a missing tag that looks like a short SHA
// says to write the SHA in full.
func TestTagsResolveAndClone(t *testing.T) {
	t.Parallel()
	srv := acctest.StartGitServer(t)
	fixture := srv.CreateRepo(t, "acme", "tagged")
	a := fixture.Commit(t, map[string][]byte{"version": []byte("A")}, "A")
	b := fixture.Commit(t, map[string][]byte{"version": []byte("B")}, "B")
	fixture.Commit(t, map[string][]byte{"version": []byte("C")}, "C")
	fixture.Tag(t, "v1.0.0", a, false)
	fixture.Tag(t, "v1.1.0", b, true)
	ctx := testContext(t)

	version := map[string]string{a: "A", b: "B"}
	for tag, want := range map[string]string{"v1.0.0": a, "v1.1.0": b} {
		repo := repoOn(srv, fixture)
		repo.Tag = tag
		got, err := RemoteHead(ctx, repo)
		if err != nil || got != want {
			t.Fatalf("RemoteHead(tag %s) = %q, %v; want %s", tag, got, err, want)
		}
		var progress progressLog
		co, err := Clone(ctx, repo, want, progress.add)
		if err != nil {
			t.Fatalf("Clone(tag %s): %v", tag, err)
		}
		if v, err := os.ReadFile(filepath.Join(co.Dir, "version")); err != nil || string(v) != version[want] || co.Commit != want {
			t.Errorf("clone of tag %s: version %q %v, commit %s", tag, v, err, co.Commit)
		}
		if !strings.Contains(progress.String(), `tag "`+tag+`" (head only)`) {
			t.Errorf("progress of the clone of tag %s:\n%s", tag, progress.String())
		}
		co.Close()
	}
	repo := repoOn(srv, fixture)
	repo.Tag = "v1.1.0"
	fixture.Tag(t, "v1.1.0", a, true) // moved after the plan resolved b
	if _, err := Clone(ctx, repo, b, nil); err == nil || !strings.Contains(err.Error(), `tag "v1.1.0" now points at `+a+`, not at the planned commit `+b+"; run terraform plan again") {
		t.Errorf("a tag moved since the plan: %v", err)
	}

	repo.Tag = "v9"
	if _, err := RemoteHead(ctx, repo); err == nil || !strings.Contains(err.Error(), `tag "v9" not found in `+fixture.CloneURL) {
		t.Errorf("a missing tag: %v", err)
	}
	repo.Tag = a[:7]
	if _, err := RemoteHead(ctx, repo); err == nil || !strings.Contains(err.Error(), "to pin a commit, write its full 40-character SHA") {
		t.Errorf("a short SHA taken for a tag: %v", err)
	}
	repo.Tag = "bad..tag"
	if _, err := RemoteHead(ctx, repo); err == nil || !strings.Contains(err.Error(), `tag must be a tag name such as "v1.4.2" (got "bad..tag")`) {
		t.Errorf("an invalid tag name: %v", err)
	}
}
