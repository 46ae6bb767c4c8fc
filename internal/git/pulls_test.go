package git

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// TestListPullRequestsOnEachHost lists through each host's stand-in, which
// refuses anything but the documented request shape: sorted by number, one
// call per page of the largest size the host gives, filtered by state and
// base branch, forks told apart.
func TestListPullRequestsOnEachHost(t *testing.T) {
	t.Parallel()
	const token = "pulls-token-7"
	const n = 130 // more than one page everywhere
	for _, tc := range []struct {
		provider string
		api      *acctest.HostAPI
		owner    string
		path     string // the listing's path
		pages    int    // calls for n open pull requests
	}{
		{"github", acctest.NewGitHubAPI(token), "acme", "/api/v3/repos/acme/web/pulls", 2},
		{"gitea", acctest.NewGiteaAPI(token), "acme", "/api/v1/repos/acme/web/pulls", 3},
		{"gitlab", acctest.NewGitLabAPI(token), "acme/platform", "/api/v4/projects/acme%2Fplatform%2Fweb/merge_requests", 2},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			base := acctest.StartHostAPI(t, tc.api)
			project := tc.owner + "/web"
			for i := range n {
				pr := acctest.PullRequest{Title: fmt.Sprintf("change %d", i), Author: "dev", HeadBranch: fmt.Sprintf("feature-%d", i),
					HeadSHA: fmt.Sprintf("%040x", i+1)}
				switch {
				case i == 7:
					pr.Fork = "outsider/web"
				case i%10 == 9:
					pr.BaseBranch = "release"
				}
				tc.api.OpenPullRequest(project, pr)
			}
			tc.api.ClosePullRequest(project, 3, true)
			tc.api.ClosePullRequest(project, 4, false)
			repo := Repo{Provider: tc.provider, BaseURL: base, Owner: tc.owner, Name: "web", Token: token}

			got, err := ListPullRequests(ctx, repo, PullFilter{})
			if err != nil {
				t.Fatalf("ListPullRequests: %v", err)
			}
			if len(got) != n-2 {
				t.Fatalf("%d open pull requests, want %d", len(got), n-2)
			}
			for i, pr := range got[1:] {
				if pr.Number <= got[i].Number {
					t.Fatalf("not sorted by number: %d after %d", pr.Number, got[i].Number)
				}
			}
			first := got[0]
			if first.Number != 1 || first.Title != "change 0" || first.Author != "dev" || first.HeadBranch != "feature-0" ||
				first.HeadSHA != fmt.Sprintf("%040x", 1) || first.BaseBranch != "main" || first.FromFork {
				t.Errorf("first = %+v", first)
			}
			var forks []int64
			for _, pr := range got {
				if pr.FromFork {
					forks = append(forks, pr.Number)
				}
			}
			if len(forks) != 1 || forks[0] != 8 {
				t.Errorf("from forks: %v, want [8]", forks)
			}
			if calls := tc.api.CallsTo("GET " + tc.path); calls != tc.pages {
				t.Errorf("%d calls for %d pull requests, want %d (one per page)", calls, n, tc.pages)
			}

			release, err := ListPullRequests(ctx, repo, PullFilter{BaseBranch: "release"})
			if err != nil || len(release) != n/10 {
				t.Errorf("base release: %d pull requests, %v; want %d", len(release), err, n/10)
			}
			for _, pr := range release {
				if pr.BaseBranch != "release" {
					t.Errorf("base release kept %+v", pr)
				}
			}
			closed, err := ListPullRequests(ctx, repo, PullFilter{State: PullsClosed})
			if err != nil || len(closed) != 2 || closed[0].Number != 3 || closed[1].Number != 4 {
				t.Errorf("closed (merged or not): %+v, %v; want 3 and 4", closed, err)
			}
			all, err := ListPullRequests(ctx, repo, PullFilter{State: PullsAll})
			if err != nil || len(all) != n {
				t.Errorf("all: %d, %v; want %d", len(all), err, n)
			}

			repo.Token = "not-" + token
			_, err = ListPullRequests(ctx, repo, PullFilter{})
			if !errors.Is(err, ErrCredentials) || strings.Contains(err.Error(), repo.Token) || !strings.Contains(err.Error(), "401") {
				t.Errorf("wrong token: %v; want ErrCredentials with the 401 and no token", err)
			}
			tc.api.FailWith(503)
			if _, err = ListPullRequests(ctx, repo, PullFilter{}); !errors.Is(err, ErrUnavailable) {
				t.Errorf("host failing: %v; want ErrUnavailable", err)
			}
			tc.api.FailWith(0)
		})
	}
}

func TestListPullRequestsRefusesBadInputBeforeSending(t *testing.T) {
	t.Parallel()
	api := acctest.NewGitHubAPI("t")
	base := acctest.StartHostAPI(t, api)
	repo := Repo{Provider: "github", BaseURL: base, Owner: "acme", Name: "web", Token: "t"}
	for _, tc := range []struct {
		repo    Repo
		f       PullFilter
		wantErr string
	}{
		{repo, PullFilter{State: "merged"}, `state must be one of "open", "closed", "all" (got "merged")`},
		{repo, PullFilter{BaseBranch: "refs/heads/main"}, `base_branch must be a branch name`},
		{Repo{Provider: "github", BaseURL: base, Name: "web"}, PullFilter{}, "repo_owner is required"},
		{Repo{Provider: "gitea", Owner: "acme", Name: "web"}, PullFilter{}, "base_url is required"},
	} {
		_, err := ListPullRequests(context.Background(), tc.repo, tc.f)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("ListPullRequests(%+v) = %v; want %q", tc.f, err, tc.wantErr)
		}
	}
	if calls := api.Calls(); len(calls) != 0 {
		t.Errorf("requests sent for invalid input: %v", calls)
	}
}

// TestListPullRequestsReadsTheRealBranches is the path a preview takes: the
// stand-in on the Git server reads each pull request's head from its
// branch, and follows a push.
func TestListPullRequestsReadsTheRealBranches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := acctest.StartGitServer(t)
	fixture := srv.CreateRepo(t, "acme", "web")
	fixture.Commit(t, map[string][]byte{"a": []byte("a")}, "main")
	first := fixture.CommitTo(t, "fix", map[string]acctest.File{"a": {Content: []byte("fix")}}, "fix")
	srv.GitHub.OpenPullRequest("acme/web", acctest.PullRequest{Title: "Fix", Author: "dev", HeadBranch: "fix"})
	repo := Repo{Provider: "github", BaseURL: srv.URL, Owner: "acme", Name: "web", Token: srv.Token}

	got, err := ListPullRequests(ctx, repo, PullFilter{})
	if err != nil || len(got) != 1 || got[0].HeadSHA != first {
		t.Fatalf("ListPullRequests = %+v, %v; want the head %s", got, err, first)
	}
	second := fixture.CommitTo(t, "fix", map[string]acctest.File{"a": {Content: []byte("fix 2")}}, "fix again")
	if got, err = ListPullRequests(ctx, repo, PullFilter{}); err != nil || got[0].HeadSHA != second {
		t.Errorf("after a push: %+v, %v; want the head %s", got, err, second)
	}
}
