package git

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// TestListBranches reads the branches and their heads with one listing of
// the remote's references and no clone, filtered by a glob.
func TestListBranches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := acctest.StartGitServer(t)
	fixture := srv.CreateRepo(t, "acme", "web")
	main := fixture.Commit(t, map[string][]byte{"a": []byte("a")}, "main")
	login := fixture.CommitTo(t, "feature/login", map[string]acctest.File{"l": {Content: []byte("l")}}, "login")
	deep := fixture.CommitTo(t, "feature/a/b", map[string]acctest.File{"d": {Content: []byte("d")}}, "deep")
	fixture.Tag(t, "v1", main, true)
	repo := repoOn(srv, fixture)

	listings, fetches := srv.RefListings(), srv.Fetches()
	all, err := ListBranches(ctx, repo, "")
	if err != nil {
		t.Fatalf("ListBranches: %v", err)
	}
	want := map[string]string{"main": main, "feature/login": login, "feature/a/b": deep}
	if !maps.Equal(all, want) {
		t.Errorf("branches %v, want %v", all, want)
	}
	if n := srv.RefListings() - listings; n != 1 {
		t.Errorf("%d reference listings, want 1", n)
	}
	if n := srv.Fetches() - fetches; n != 0 {
		t.Errorf("%d fetches: a listing must not clone", n)
	}

	for pattern, want := range map[string][]string{
		"feature/*":   {"feature/login"},
		"feature/*/*": {"feature/a/b"},
		"ma?n":        {"main"},
		"nothing-*":   nil,
	} {
		got, err := ListBranches(ctx, repo, pattern)
		if err != nil || !slices.Equal(slices.Sorted(maps.Keys(got)), want) {
			t.Errorf("match %q: %v, %v; want %v", pattern, got, err, want)
		}
	}

	if _, err := ListBranches(ctx, repo, "feature/["); err == nil || !strings.Contains(err.Error(), `match must be a glob`) {
		t.Errorf("a bad pattern: %v", err)
	}
	repo.Token = "not-the-token"
	if _, err := ListBranches(ctx, repo, ""); !errors.Is(err, ErrCredentials) || strings.Contains(err.Error(), repo.Token) {
		t.Errorf("a refused token: %v; want ErrCredentials without the token", err)
	}
	empty := repoOn(srv, srv.CreateRepo(t, "acme", "empty"))
	if got, err := ListBranches(ctx, empty, ""); err != nil || len(got) != 0 {
		t.Errorf("an empty repository: %v, %v; want no branch", got, err)
	}
}
