package gitbuild

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/git"
)

// TestLocalRevisionFollowsWhatTheBuildSends: a local directory's revision
// changes with an included file's content or mode, not with a file that
// .dockerignore leaves out; a context path that leads out of the directory
// is refused as in a clone.
func TestLocalRevisionFollowsWhatTheBuildSends(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile":    "FROM scratch\n",
		"app.txt":       "1",
		"notes/a.txt":   "ignored",
		".dockerignore": "notes\n",
		"escape":        "->../../../../../../etc",
	})
	contextPath := "."
	b := Build{Kind: "test source", Repo: Repo{Path: dir}, Context: func(root string) (Context, error) {
		ctx, err := git.Within(root, contextPath)
		if err != nil {
			return Context{}, err
		}
		return Context{Dir: ctx, Dockerfile: "Dockerfile", Describe: "test"}, nil
	}}
	rev := func() string {
		t.Helper()
		r, err := b.Resolve(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if !IsDirRevision(r) {
			t.Fatalf("revision %q is not sha256:<hex>", r)
		}
		return r
	}
	first := rev()
	if err := os.WriteFile(filepath.Join(dir, "notes/a.txt"), []byte("still ignored"), 0o600); err != nil {
		t.Fatal(err)
	}
	if rev() != first {
		t.Error("a change of an ignored file changed the revision")
	}
	if err := os.WriteFile(filepath.Join(dir, "app.txt"), []byte("2"), 0o600); err != nil {
		t.Fatal(err)
	}
	second := rev()
	if second == first {
		t.Error("a change of an included file kept the revision")
	}
	if err := os.Chmod(filepath.Join(dir, "app.txt"), 0o700); err != nil {
		t.Fatal(err)
	}
	if rev() == second {
		t.Error("making an included file executable kept the revision")
	}
	contextPath = "escape"
	if _, err := b.Resolve(t.Context()); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Errorf("a context through a symlink out of the directory: %v, want it refused", err)
	}
}

// TestOriginRules: a source names its origin one way; a bare url has no
// commit status, a local directory no Git attribute.
func TestOriginRules(t *testing.T) {
	for _, tc := range []struct {
		repo Repo
		want string
	}{
		{Repo{URL: "git@git.example.com:acme/app.git", ReportCommitStatus: true}, "report_commit_status needs a Git host's API"},
		{Repo{Path: "./app", Ref: "v1", Token: "secret-token"}, "access_token, ref do not apply"},
		{Repo{}, "repo_owner and repo_name, url or path"},
	} {
		err := tc.repo.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret-token") {
			t.Errorf("%+v: %v, want an error containing %q (and no token)", tc.repo.String(), err, tc.want)
		}
	}
	for _, ok := range []Repo{{Path: "./app"}, {URL: "https://git.example.com/acme/app.git"}, {RepoOwner: "acme", RepoName: "app"}} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%s: %v", ok.String(), err)
		}
	}
}
