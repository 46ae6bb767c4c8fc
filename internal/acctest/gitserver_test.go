package acctest

import (
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// gitWithToken runs the git CLI against the server, authenticating with the
// token in a header (never in the URL).
func gitWithToken(dir, token string, args ...string) (string, error) {
	header := "http.extraHeader=Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("tester:"+token))
	return gitOutput(dir, append([]string{"-c", header}, args...)...)
}

// TestGitServerServesRealGitClients proves the fixture is a real Git server:
// the git CLI clones over smart HTTP what Commit pushed, with the file modes,
// symlinks and deletions intact, and a wrong or missing token is refused.
func TestGitServerServesRealGitClients(t *testing.T) {
	t.Parallel()
	srv := StartGitServer(t)
	repo := srv.CreateRepo(t, "acme", "web")

	first := repo.CommitFiles(t, map[string]File{
		"README.md":      {Content: []byte("hello\n")},
		"bin/run.sh":     {Content: []byte("#!/bin/sh\necho hi\n"), Executable: true},
		"etc-link":       {SymlinkTo: "/etc"},
		"gone/later.txt": {Content: []byte("x")},
	}, "first")
	second := repo.CommitFiles(t, map[string]File{"gone/later.txt": {Delete: true}}, "second")
	if first == second || len(second) != 40 {
		t.Fatalf("commits: first %q second %q", first, second)
	}
	if got := repo.Head(t, "main"); got != second {
		t.Fatalf("server head = %s, want %s", got, second)
	}

	out, err := gitWithToken("", srv.Token, "ls-remote", repo.CloneURL, "refs/heads/main")
	if err != nil || !strings.HasPrefix(out, second) {
		t.Fatalf("ls-remote with the token: %q, %v", out, err)
	}

	dir := filepath.Join(t.TempDir(), "clone")
	if _, err := gitWithToken("", srv.Token, "clone", "--quiet", repo.CloneURL, dir); err != nil {
		t.Fatalf("clone: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "README.md")); err != nil || string(b) != "hello\n" {
		t.Errorf("README.md = %q, %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "bin/run.sh")); err != nil || fi.Mode().Perm()&0o111 == 0 {
		t.Errorf("bin/run.sh is not executable: %v, %v", fi, err)
	}
	if target, err := os.Readlink(filepath.Join(dir, "etc-link")); err != nil || target != "/etc" {
		t.Errorf("etc-link -> %q, %v; want a symlink to /etc", target, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "gone/later.txt")); !os.IsNotExist(err) {
		t.Errorf("deleted file is still there: %v", err)
	}

	if _, err := gitWithToken("", "not-the-token", "ls-remote", repo.CloneURL); err == nil {
		t.Error("ls-remote with a wrong token succeeded")
	}
	res, err := http.Get(repo.CloneURL + "/info/refs?service=git-upload-pack")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("anonymous request: %d, WWW-Authenticate %q; want 401 with a Basic challenge", res.StatusCode, res.Header.Get("WWW-Authenticate"))
	}

	srv.AllowAnonymous(true)
	if out, err := gitOutput("", "ls-remote", repo.CloneURL, "refs/heads/main"); err != nil || !strings.HasPrefix(out, second) {
		t.Errorf("anonymous ls-remote of a public repo: %q, %v", out, err)
	}
}

// TestGitRepoBranchesAndForcePush covers the history-shaping helpers: a new
// branch starts from main, and ForcePush drops a commit from a branch.
func TestGitRepoBranchesAndForcePush(t *testing.T) {
	t.Parallel()
	srv := StartGitServer(t)
	repo := srv.CreateRepo(t, "group/sub", "app")
	base := repo.Commit(t, map[string][]byte{"a.txt": []byte("a")}, "base")
	dropped := repo.Commit(t, map[string][]byte{"b.txt": []byte("b")}, "to be dropped")

	feature := repo.CommitTo(t, "feature", map[string]File{"c.txt": {Content: []byte("c")}}, "feature")
	if out := runGit(t, repo.bare, "rev-parse", feature+"^"); out != dropped {
		t.Errorf("feature's parent = %s, want main's head %s", out, dropped)
	}

	repo.ForcePush(t, "main", base)
	if got := repo.Head(t, "main"); got != base {
		t.Fatalf("main after force push = %s, want %s", got, base)
	}
	if _, err := gitOutput(repo.bare, "merge-base", "--is-ancestor", dropped, "refs/heads/main"); err == nil {
		t.Error("the dropped commit is still on main")
	}
	next := repo.Commit(t, map[string][]byte{"d.txt": []byte("d")}, "after force push")
	if out := runGit(t, repo.bare, "rev-parse", next+"^"); out != base {
		t.Errorf("commit after force push has parent %s, want %s", out, base)
	}
}

// TestGitServerHostsStatusAPIs proves the status stand-ins on the git server
// know the server's repositories: a status on a pushed commit is accepted,
// one on a SHA the repository does not have is refused as the hosts do.
func TestGitServerHostsStatusAPIs(t *testing.T) {
	t.Parallel()
	srv := StartGitServer(t)
	repo := srv.CreateRepo(t, "acme", "api")
	sha := repo.Commit(t, map[string][]byte{"x": []byte("x")}, "x")
	unknown := strings.Repeat("ab", 20)

	for _, tc := range []struct {
		sha  string
		want int
	}{{sha, http.StatusCreated}, {unknown, http.StatusNotFound}} {
		res := postStatus(t, srv.URL+"/api/v1/repos/acme/api/statuses/"+tc.sha, map[string]string{
			"Authorization": "token " + srv.Token, "Content-Type": "application/json",
		}, `{"state":"success","context":"tinyforge/api"}`)
		if res.code != tc.want {
			t.Errorf("status on %s: %d %s, want %d", tc.sha, res.code, res.body, tc.want)
		}
	}
	got := srv.Statuses()
	if len(got) != 1 || got[0].SHA != sha || got[0].Project != "acme/api" || got[0].Context != "tinyforge/api" {
		t.Errorf("recorded %+v", got)
	}
}
