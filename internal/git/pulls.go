package git

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// PullRequest is a pull request (GitLab: a merge request) as a preview
// needs it.
type PullRequest struct {
	// Number is the pull request's number in the repository (GitLab's
	// iid, the !N of a merge request).
	Number int64
	Title  string
	// Author is the login of who opened it.
	Author string
	// HeadBranch is the branch the changes are on (in the fork, for a
	// pull request from a fork); HeadSHA its commit.
	HeadBranch string
	HeadSHA    string
	// BaseBranch is the branch it would merge into.
	BaseBranch string
	// FromFork says the head branch is in another repository: someone
	// else's code.
	FromFork bool
}

// Pull request states a listing filters on, in GitHub's and Gitea's words.
const (
	PullsOpen   = "open"
	PullsClosed = "closed" // merged or not
	PullsAll    = "all"
)

// PullStates are the states a listing takes, in the order documented.
var PullStates = []string{PullsOpen, PullsClosed, PullsAll}

// PullFilter says which pull requests a listing returns.
type PullFilter struct {
	// State is PullsOpen (the default when ""), PullsClosed or PullsAll.
	State string
	// BaseBranch keeps those that merge into this branch; "" keeps all.
	BaseBranch string
}

// ValidatePullState is the rule for a listing's state.
func ValidatePullState(s string) error {
	if s == "" || slices.Contains(PullStates, s) {
		return nil
	}
	return fmt.Errorf("state must be one of %q, %q, %q (got %q)", PullsOpen, PullsClosed, PullsAll, s)
}

// pageSize is how many pull requests one call asks for: the most each
// host gives (GitHub and GitLab 100; Gitea 50, its default
// MAX_RESPONSE_ITEMS), so that a listing is one call per page of that size.
var pageSize = map[Host]int{GitHub: 100, Gitea: 50, GitLab: 100}

// ListPullRequests lists the repository's pull requests (GitLab: merge
// requests) that f keeps, sorted by number, with one API call per page:
// GitHub GET /repos/{owner}/{repo}/pulls, Gitea the same under /api/v1,
// GitLab GET /projects/{owner%2Fname}/merge_requests. A token is needed
// for a private repository; a refused one is marked ErrCredentials.
func ListPullRequests(ctx context.Context, repo Repo, f PullFilter) ([]PullRequest, error) {
	if err := ValidatePullState(f.State); err != nil {
		return nil, err
	}
	if f.BaseBranch != "" {
		if err := (Repo{Owner: "owner", Name: "name", Branch: f.BaseBranch}).Validate(); err != nil {
			return nil, fmt.Errorf("base_branch must be a branch name such as \"main\" (got %q)", f.BaseBranch)
		}
	}
	a, err := repo.api()
	if err != nil {
		return nil, err
	}
	state := cmp.Or(f.State, PullsOpen)
	var out []PullRequest
	for page := 1; page <= maxPages; page++ {
		c := a.pullsCall(state, f.BaseBranch, page)
		var items []PullRequest
		var h http.Header
		switch a.host {
		case GitLab:
			var mrs []gitlabMergeRequest
			h, err = a.do(ctx, c, &mrs)
			for _, mr := range mrs {
				if mr.keptBy(state) {
					items = append(items, mr.pullRequest())
				}
			}
		default:
			var prs []githubPull
			h, err = a.do(ctx, c, &prs)
			for _, pr := range prs {
				items = append(items, pr.pullRequest(a.host))
			}
		}
		if err != nil {
			return nil, fmt.Errorf("list the pull requests of %s/%s: %w", repo.Owner, repo.Name, err)
		}
		for _, pr := range items {
			// An older Gitea ignores base_branch: the filter is ours too.
			if f.BaseBranch == "" || pr.BaseBranch == f.BaseBranch {
				out = append(out, pr)
			}
		}
		if !a.nextPage(h) {
			break
		}
	}
	// Newest first on every host; a pull request that moved between pages
	// while they were read comes once.
	slices.SortFunc(out, func(x, y PullRequest) int { return cmp.Compare(x.Number, y.Number) })
	return slices.CompactFunc(out, func(x, y PullRequest) bool { return x.Number == y.Number }), nil
}

// pullsCall is the call for one page of the listing.
func (a *api) pullsCall(state, base string, page int) call {
	q := url.Values{"page": {strconv.Itoa(page)}}
	c := call{method: http.MethodGet, query: q}
	switch a.host {
	case GitHub:
		c.path = a.project() + "/pulls"
		q.Set("state", state)
		q.Set("per_page", strconv.Itoa(pageSize[GitHub]))
		if base != "" {
			q.Set("base", base)
		}
	case Gitea:
		c.path = a.project() + "/pulls"
		q.Set("state", state)
		q.Set("limit", strconv.Itoa(pageSize[Gitea]))
		if base != "" {
			q.Set("base_branch", base)
		}
	case GitLab:
		c.path = a.project() + "/merge_requests"
		q.Set("per_page", strconv.Itoa(pageSize[GitLab]))
		// GitLab's "closed" leaves merged ones out: closed and all read
		// every state, keptBy filters.
		if state == PullsOpen {
			q.Set("state", "opened")
		}
		if base != "" {
			q.Set("target_branch", base)
		}
	}
	return c
}

// githubPull is what a pull request of GitHub's or Gitea's listing says
// that a preview needs (the same fields on both; Gitea also gives the
// repositories' IDs).
type githubPull struct {
	Number int64  `json:"number"`
	Title  string `json:"title"`
	User   *struct {
		Login string `json:"login"`
	} `json:"user"`
	Head pullBranch `json:"head"`
	Base pullBranch `json:"base"`
}

type pullBranch struct {
	Ref    string `json:"ref"`
	SHA    string `json:"sha"`
	RepoID int64  `json:"repo_id"` // Gitea
	// Repo is null on GitHub when the fork was deleted.
	Repo *struct {
		ID       int64  `json:"id"`
		FullName string `json:"full_name"`
	} `json:"repo"`
}

func (p githubPull) pullRequest(host Host) PullRequest {
	pr := PullRequest{Number: p.Number, Title: p.Title, HeadBranch: p.Head.Ref, HeadSHA: p.Head.SHA, BaseBranch: p.Base.Ref}
	if p.User != nil {
		pr.Author = p.User.Login
	}
	switch {
	case host == Gitea && p.Head.RepoID != 0 && p.Base.RepoID != 0:
		pr.FromFork = p.Head.RepoID != p.Base.RepoID
	case p.Head.Repo == nil || p.Base.Repo == nil:
		pr.FromFork = true // a deleted fork: not the base repository
	default:
		pr.FromFork = !strings.EqualFold(p.Head.Repo.FullName, p.Base.Repo.FullName)
	}
	return pr
}

// gitlabMergeRequest is what a merge request of GitLab's listing says that
// a preview needs.
type gitlabMergeRequest struct {
	IID    int64  `json:"iid"`
	Title  string `json:"title"`
	State  string `json:"state"` // opened, closed, locked, merged
	Author *struct {
		Username string `json:"username"`
	} `json:"author"`
	SourceBranch    string `json:"source_branch"`
	TargetBranch    string `json:"target_branch"`
	SHA             string `json:"sha"`
	SourceProjectID int64  `json:"source_project_id"`
	TargetProjectID int64  `json:"target_project_id"`
}

// keptBy reports whether the merge request is in state, in GitHub's words
// (locked is an open merge request being merged).
func (mr gitlabMergeRequest) keptBy(state string) bool {
	open := mr.State == "opened" || mr.State == "locked"
	switch state {
	case PullsOpen:
		return open
	case PullsClosed:
		return !open
	}
	return true
}

func (mr gitlabMergeRequest) pullRequest() PullRequest {
	pr := PullRequest{Number: mr.IID, Title: mr.Title, HeadBranch: mr.SourceBranch, HeadSHA: mr.SHA, BaseBranch: mr.TargetBranch,
		FromFork: mr.SourceProjectID != mr.TargetProjectID}
	if mr.Author != nil {
		pr.Author = mr.Author.Username
	}
	return pr
}
