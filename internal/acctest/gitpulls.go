package acctest

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The pull request listing of each stand-in:
//
//   - GitHub, "List pull requests"
//     (https://docs.github.com/en/rest/pulls/pulls#list-pull-requests): GET
//     /repos/{owner}/{repo}/pulls, query state (open, closed, all; default
//     open), head, base, sort (created, updated, popularity, long-running),
//     direction (asc, desc; default desc for created), per_page (default 30,
//     at most 100), page; newest first; the next page named in the Link
//     header (rel="next").
//   - Gitea (swagger operation repoListPullRequests): GET
//     /repos/{owner}/{repo}/pulls, query state (open, closed, all), sort,
//     milestone, labels, poster, base_branch, page, limit (default 30,
//     capped at MAX_RESPONSE_ITEMS, 50 by default); newest first; Link and
//     X-Total-Count headers.
//   - GitLab, "List project merge requests"
//     (https://docs.gitlab.com/api/merge_requests/#list-project-merge-requests):
//     GET /projects/:id/merge_requests, query state (opened, closed,
//     locked, merged, all), target_branch, source_branch, order_by, sort,
//     per_page (default 20, at most 100), page and more filters; newest
//     first; X-Next-Page (empty on the last page), X-Total and Link headers.

// PullRequest is a pull request (GitLab: a merge request) a stand-in serves,
// as a test opens it.
type PullRequest struct {
	// Number is its number (GitLab's iid); 0 takes the next free one.
	Number int64
	Title  string
	Author string
	// HeadBranch is the branch of the changes, in Fork when set.
	HeadBranch string
	// BaseBranch is the branch it merges into; "" is main.
	BaseBranch string
	// Fork is the repository ("owner/name") the head branch lives in; ""
	// is the repository itself.
	Fork string
	// HeadSHA, when set, is the head commit; else each listing reads the
	// head branch's commit in the repository (the fork's), as a host
	// follows pushes to the branch.
	HeadSHA string
}

// pullRecord is a pull request with what the host keeps about it.
type pullRecord struct {
	PullRequest
	state   string // GitHub's open or closed; merged is closed with merged set
	merged  bool
	created time.Time
	seq     int64
}

// OpenPullRequest opens pr on project ("owner/name") and returns its number.
func (a *HostAPI) OpenPullRequest(project string, pr PullRequest) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if pr.Number == 0 {
		for _, p := range a.pulls[project] {
			pr.Number = max(pr.Number, p.Number)
		}
		pr.Number++
	}
	pr.BaseBranch = cmp.Or(pr.BaseBranch, "main")
	a.nextID++
	a.pulls[project] = append(a.pulls[project], &pullRecord{PullRequest: pr, state: "open", created: time.Now().UTC(), seq: a.nextID})
	return pr.Number
}

// ClosePullRequest closes pull request number of project, merged or not.
func (a *HostAPI) ClosePullRequest(project string, number int64, merged bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range a.pulls[project] {
		if p.Number == number {
			p.state, p.merged = "closed", merged
		}
	}
}

// listPulls is GET .../pulls (GitLab: .../merge_requests).
func (a *HostAPI) listPulls(w http.ResponseWriter, r *http.Request, project string, _ []string) {
	allowed := map[string][]string{
		"github": {"state", "head", "base", "sort", "direction", "per_page", "page"},
		"gitea":  {"state", "sort", "milestone", "labels", "poster", "base_branch", "page", "limit"},
		"gitlab": {"state", "target_branch", "source_branch", "order_by", "sort", "per_page", "page", "scope",
			"author_id", "author_username", "labels", "milestone", "draft", "wip", "created_after", "created_before",
			"updated_after", "updated_before", "view", "with_labels_details", "search", "in"},
	}[a.host]
	q, ok := a.checkQuery(w, r, allowed...)
	if !ok {
		return
	}
	states := map[string][]string{"github": {"open", "closed", "all"}, "gitea": {"open", "closed", "all"},
		"gitlab": {"opened", "closed", "locked", "merged", "all"}}[a.host]
	state := q.Get("state")
	if state != "" && !slices.Contains(states, state) {
		a.violation(w, r, a.validationCode(), fmt.Sprintf("state %q is not one of %s", state, strings.Join(states, ", ")))
		return
	}
	if a.host != "gitlab" && state == "" {
		state = "open"
	}
	sizeParam, defaultSize, maxSize := "per_page", 30, 100
	switch a.host {
	case "gitea":
		sizeParam, maxSize = "limit", 50
	case "gitlab":
		defaultSize = 20
	}
	size, page, msg := pageParams(q, sizeParam, defaultSize, maxSize)
	if msg != "" {
		a.violation(w, r, a.validationCode(), msg)
		return
	}
	base := map[string]string{"github": q.Get("base"), "gitea": q.Get("base_branch"), "gitlab": q.Get("target_branch")}[a.host]
	if d := q.Get("direction"); d != "" && d != "asc" && d != "desc" {
		a.violation(w, r, a.validationCode(), fmt.Sprintf("direction %q is not asc or desc", d))
		return
	}

	a.mu.Lock()
	var kept []*pullRecord
	for _, p := range a.pulls[project] {
		if (base == "" || p.BaseBranch == base) && a.pullInState(p, state) {
			kept = append(kept, p)
		}
	}
	// Newest first, the default order on the three hosts.
	slices.SortFunc(kept, func(x, y *pullRecord) int { return cmp.Compare(y.seq, x.seq) })
	if (a.host == "github" && q.Get("direction") == "asc") || (a.host == "gitlab" && q.Get("sort") == "asc") {
		slices.Reverse(kept)
	}
	total := len(kept)
	from, to := min((page-1)*size, total), min(page*size, total)
	items := make([]map[string]any, 0, to-from)
	for _, p := range kept[from:to] {
		items = append(items, a.pullJSON(project, p))
	}
	a.mu.Unlock()

	setPageHeaders(w, r, a.host, sizeParam, size, page, total)
	writeStatusJSON(w, http.StatusOK, items)
}

// pullInState reports whether p is in state, in the host's words ("" for
// GitLab is every state).
func (a *HostAPI) pullInState(p *pullRecord, state string) bool {
	if a.host == "gitlab" {
		switch state {
		case "", "all":
			return true
		case "opened":
			return p.state == "open"
		case "merged":
			return p.merged
		case "closed":
			return p.state == "closed" && !p.merged
		}
		return false
	}
	return state == "all" || p.state == state
}

// pageParams reads the page size (capped at maxSize, as the hosts do) and
// the page number.
func pageParams(q url.Values, sizeParam string, defaultSize, maxSize int) (size, page int, msg string) {
	size, page = defaultSize, 1
	if v := q.Get(sizeParam); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, 0, fmt.Sprintf("%s %q is not a positive number", sizeParam, v)
		}
		size = min(n, maxSize)
	}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, 0, fmt.Sprintf("page %q is not a positive number", v)
		}
		page = n
	}
	return size, page, ""
}

// setPageHeaders writes the pagination headers of a listing page: the Link
// header of all three, Gitea's X-Total-Count, GitLab's X-Page, X-Next-Page
// and X-Total.
func setPageHeaders(w http.ResponseWriter, r *http.Request, host, sizeParam string, size, page, total int) {
	last := max(1, (total+size-1)/size)
	link := func(p int, rel string) string {
		q := r.URL.Query()
		q.Set(sizeParam, strconv.Itoa(size))
		q.Set("page", strconv.Itoa(p))
		return fmt.Sprintf(`<http://%s%s?%s>; rel="%s"`, r.Host, r.URL.Path, q.Encode(), rel)
	}
	var links []string
	if page < last {
		links = append(links, link(page+1, "next"))
	}
	if page > 1 {
		links = append(links, link(page-1, "prev"))
	}
	links = append(links, link(1, "first"), link(last, "last"))
	w.Header().Set("Link", strings.Join(links, ", "))
	switch host {
	case "gitea":
		w.Header().Set("X-Total-Count", strconv.Itoa(total))
	case "gitlab":
		w.Header().Set("X-Page", strconv.Itoa(page))
		w.Header().Set("X-Per-Page", strconv.Itoa(size))
		w.Header().Set("X-Total", strconv.Itoa(total))
		w.Header().Set("X-Total-Pages", strconv.Itoa(last))
		next := ""
		if page < last {
			next = strconv.Itoa(page + 1)
		}
		w.Header().Set("X-Next-Page", next)
	}
}

// headSHA is p's head commit: the one the test set, else the head branch's
// in the repository it lives in.
func (a *HostAPI) headSHA(project string, p *pullRecord) string {
	if p.HeadSHA != "" || a.repos == nil {
		return p.HeadSHA
	}
	sha, _ := a.repos.branchHead(cmp.Or(p.Fork, project), p.HeadBranch)
	return sha
}

// repoID is a stable number for a project, as the hosts give each
// repository one.
func repoID(project string) int64 {
	var h int64 = 7
	for _, c := range project {
		h = (h*31 + int64(c)) % 1_000_000
	}
	return h + 1
}

// pullJSON is one item of the listing, in the host's shape (the fields a
// client may read; the user and repository objects are abridged).
func (a *HostAPI) pullJSON(project string, p *pullRecord) map[string]any {
	headRepo := cmp.Or(p.Fork, project)
	sha := a.headSHA(project, p)
	created := p.created.Format(time.RFC3339)
	owner := func(full string) string { o, _, _ := strings.Cut(full, "/"); return o }
	repo := func(full string) map[string]any {
		_, name, _ := strings.Cut(full, "/")
		return map[string]any{"id": repoID(full), "name": name, "full_name": full, "fork": full != project,
			"owner": map[string]any{"login": owner(full)}}
	}
	user := map[string]any{"login": p.Author, "id": repoID(p.Author), "type": "User"}
	switch a.host {
	case "gitlab":
		state := "opened"
		if p.state == "closed" {
			state = map[bool]string{true: "merged", false: "closed"}[p.merged]
		}
		return map[string]any{
			"id": p.seq, "iid": p.Number, "project_id": repoID(project), "title": p.Title, "description": "",
			"state": state, "created_at": created, "updated_at": created, "target_branch": p.BaseBranch,
			"source_branch": p.HeadBranch, "source_project_id": repoID(headRepo), "target_project_id": repoID(project),
			"author": map[string]any{"id": repoID(p.Author), "username": p.Author, "name": p.Author, "state": "active"},
			"sha":    sha, "draft": false, "web_url": fmt.Sprintf("https://gitlab.example.test/%s/-/merge_requests/%d", project, p.Number),
		}
	case "gitea":
		return map[string]any{
			"id": p.seq, "number": p.Number, "title": p.Title, "body": "", "state": p.state, "merged": p.merged,
			"user": map[string]any{"id": repoID(p.Author), "login": p.Author}, "created_at": created, "updated_at": created,
			"head": map[string]any{"label": p.HeadBranch, "ref": p.HeadBranch, "sha": sha, "repo_id": repoID(headRepo), "repo": repo(headRepo)},
			"base": map[string]any{"label": p.BaseBranch, "ref": p.BaseBranch, "repo_id": repoID(project), "repo": repo(project)},
		}
	default:
		return map[string]any{
			"id": p.seq, "node_id": fmt.Sprintf("PR_%d", p.seq), "number": p.Number, "state": p.state, "locked": false,
			"title": p.Title, "user": user, "body": nil, "created_at": created, "updated_at": created, "draft": false,
			"html_url": fmt.Sprintf("https://github.example.test/%s/pull/%d", project, p.Number),
			"head": map[string]any{"label": owner(headRepo) + ":" + p.HeadBranch, "ref": p.HeadBranch, "sha": sha,
				"user": map[string]any{"login": owner(headRepo)}, "repo": repo(headRepo)},
			"base": map[string]any{"label": owner(project) + ":" + p.BaseBranch, "ref": p.BaseBranch,
				"user": map[string]any{"login": owner(project)}, "repo": repo(project)},
			"author_association": "CONTRIBUTOR",
		}
	}
}
