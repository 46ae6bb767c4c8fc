package git

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Commit states, in GitHub's and Gitea's words; GitLab's are mapped.
const (
	StatePending = "pending"
	StateSuccess = "success"
	StateFailure = "failure"
	StateError   = "error"
)

// Status is a commit status: what a deploy of the commit came to.
type Status struct {
	State       string // StatePending, StateSuccess, StateFailure or StateError
	Context     string // the status's label on the commit, e.g. "tinyforge/web"
	Description string // shortened to 140 characters, GitHub's limit
	TargetURL   string
}

// statusTimeout bounds one report: a slow Git host must not hold a deploy.
const statusTimeout = 10 * time.Second

// maxDescription is GitHub's limit on a status description.
const maxDescription = 140

// gitlabStates maps our states to GitLab's (it has no "error").
var gitlabStates = map[string]string{
	StatePending: "pending",
	StateSuccess: "success",
	StateFailure: "failed",
	StateError:   "failed",
}

// ReportStatus sets a commit status on sha through the host's REST API:
// GitHub POST {api}/repos/{owner}/{repo}/statuses/{sha} (api.github.com, or
// <base_url>/api/v3 for GitHub Enterprise), Gitea POST
// <base_url>/api/v1/repos/{owner}/{repo}/statuses/{sha}, GitLab POST
// <base_url>/api/v4/projects/{owner%2Fname}/statuses/{sha}. It needs a token.
// Callers treat a failure as a warning: reporting is best effort and never
// fails a deploy.
func ReportStatus(ctx context.Context, repo Repo, sha string, s Status) error {
	if err := repo.Validate(); err != nil {
		return err
	}
	if err := checkCommit(sha); err != nil {
		return fmt.Errorf("report commit status: %w", err)
	}
	if _, ok := gitlabStates[s.State]; !ok {
		return fmt.Errorf("report commit status: state must be one of pending, success, failure, error (got %q)", s.State)
	}
	if repo.Token == "" {
		return fmt.Errorf("report commit status on %s/%s: a token is required", repo.Owner, repo.Name)
	}
	req, err := statusRequest(ctx, repo, sha, s)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	client := &http.Client{
		Timeout: statusTimeout,
		// A redirect would carry PRIVATE-TOKEN (which net/http does not
		// strip) to wherever it points, and turn the POST into a GET.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	endpoint := req.URL.String()
	res, err := client.Do(req.WithContext(ctx))
	if err != nil {
		return scrub(fmt.Errorf("report commit status to %s: %w", endpoint, err), repo.Token)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("report commit status to %s: %s: %s", endpoint, res.Status, excerpt(body, repo.Token))
	}
	return nil
}

// statusRequest builds the host's request; the token goes only in a header.
func statusRequest(ctx context.Context, repo Repo, sha string, s Status) (*http.Request, error) {
	host, err := repo.Host()
	if err != nil {
		return nil, err
	}
	base, err := repo.base()
	if err != nil {
		return nil, err
	}
	description := shorten(s.Description, maxDescription)
	owner, name := url.PathEscape(repo.Owner), url.PathEscape(repo.Name)
	header := http.Header{}
	var endpoint string
	var payload any
	switch host {
	case GitHub:
		api := base + "/api/v3"
		if u, _ := url.Parse(base); u != nil && (strings.EqualFold(u.Host, "github.com") || strings.EqualFold(u.Host, "www.github.com")) {
			api = "https://api.github.com"
		}
		endpoint = api + "/repos/" + owner + "/" + name + "/statuses/" + sha
		header.Set("Authorization", "Bearer "+repo.Token)
		header.Set("Accept", "application/vnd.github+json")
		header.Set("X-GitHub-Api-Version", "2022-11-28")
		payload = githubStatus{State: s.State, TargetURL: s.TargetURL, Description: description, Context: s.Context}
	case Gitea:
		endpoint = base + "/api/v1/repos/" + owner + "/" + name + "/statuses/" + sha
		header.Set("Authorization", "token "+repo.Token)
		header.Set("Accept", "application/json")
		payload = githubStatus{State: s.State, TargetURL: s.TargetURL, Description: description, Context: s.Context}
	case GitLab:
		// The project is addressed by its path, URL-encoded as one segment.
		endpoint = base + "/api/v4/projects/" + url.PathEscape(repo.Owner+"/"+repo.Name) + "/statuses/" + sha
		header.Set("PRIVATE-TOKEN", repo.Token)
		header.Set("Accept", "application/json")
		payload = gitlabStatus{State: gitlabStates[s.State], Ref: repo.Branch, Name: s.Context, TargetURL: s.TargetURL, Description: description}
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("encode commit status: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("report commit status to %s: %w", endpoint, err)
	}
	req.Header = header
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "terraform-provider-tinyforge")
	return req, nil
}

// githubStatus is the body GitHub and Gitea document (Gitea's
// CreateStatusOption has the same four fields).
type githubStatus struct {
	State       string `json:"state"`
	TargetURL   string `json:"target_url,omitempty"`
	Description string `json:"description,omitempty"`
	Context     string `json:"context,omitempty"`
}

// gitlabStatus is GitLab's body: "name" is its word for the context.
type gitlabStatus struct {
	State       string `json:"state"`
	Ref         string `json:"ref,omitempty"`
	Name        string `json:"name,omitempty"`
	TargetURL   string `json:"target_url,omitempty"`
	Description string `json:"description,omitempty"`
}

// shorten cuts s to at most n characters, marking the cut.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// excerpt is a one-line, bounded, token-free piece of a response body for an
// error message.
func excerpt(body []byte, token string) string {
	s := strings.Join(strings.Fields(string(body)), " ")
	if token != "" {
		s = strings.ReplaceAll(s, token, "[token]")
	}
	if s == "" {
		return "(empty body)"
	}
	return shorten(s, 200)
}
