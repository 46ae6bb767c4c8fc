package git

import (
	"context"
	"fmt"
	"net/http"
	"strings"
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
// GitHub POST /repos/{owner}/{repo}/statuses/{sha}, Gitea the same under
// /api/v1, GitLab POST /projects/{owner%2Fname}/statuses/{sha} (see api
// for where each API answers). It needs a token. Callers treat a failure
// as a warning: reporting is best effort and never fails a deploy.
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
	a, c, err := statusCall(repo, sha, s)
	if err != nil {
		return err
	}
	if _, err := a.do(ctx, c, nil); err != nil {
		return fmt.Errorf("report commit status: %w", err)
	}
	return nil
}

// statusCall is the host's API and the call that sets the status.
func statusCall(repo Repo, sha string, s Status) (*api, call, error) {
	a, err := repo.api()
	if err != nil {
		return nil, call{}, err
	}
	description := shorten(s.Description, maxDescription)
	c := call{method: http.MethodPost, path: a.project() + "/statuses/" + sha}
	switch a.host {
	case GitLab:
		c.body = gitlabStatus{State: gitlabStates[s.State], Ref: repo.Branch, Name: s.Context, TargetURL: s.TargetURL, Description: description}
	default: // Gitea's CreateStatusOption has GitHub's four fields
		c.body = githubStatus{State: s.State, TargetURL: s.TargetURL, Description: description, Context: s.Context}
	}
	return a, c, nil
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
