package acctest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// ReceivedStatus is one commit status a StatusAPI stand-in accepted, in the
// host's own words (GitLab's "failed", not "failure").
type ReceivedStatus struct {
	Project     string // "owner/name" (GitLab: the decoded project path)
	SHA         string
	State       string
	Context     string // GitHub and Gitea "context", GitLab "name" (or "context")
	Description string
	TargetURL   string
	Ref         string // GitLab only
}

// StatusAPI is a stand-in for the commit-status endpoint of one hosted Git
// service, which cannot run here. It enforces the documented request shape,
// records what it accepts and answers as the real one does; see the
// constructors for the documentation each follows.
//
// Where the real API is lenient it is stricter, on purpose: an unknown body
// field is refused (the real ones ignore it), so that a misspelt field in the
// client cannot pass silently.
type StatusAPI struct {
	host  string // "github" | "gitea" | "gitlab"
	token string

	// commitExists, when set, lets the API answer as the real one does for a
	// SHA that is not in the repository (GitServer wires it to the real repo).
	commitExists func(project, sha string) bool

	mu       sync.Mutex
	received []ReceivedStatus
	failWith int
}

// NewGitHubStatusAPI follows "Create a commit status", REST API version
// 2022-11-28 (https://docs.github.com/en/rest/commits/statuses#create-a-commit-status):
// POST /repos/{owner}/{repo}/statuses/{sha} (GitHub Enterprise: under
// /api/v3), "Authorization: Bearer <token>" (or the older "token <token>"),
// an optional "X-GitHub-Api-Version" that must name a supported version, a
// JSON body {state, target_url, description, context} with state one of
// error, failure, pending, success (else 422 "Validation Failed"), a
// User-Agent (GitHub refuses requests without one), and 201 Created with the
// status as JSON.
func NewGitHubStatusAPI(token string) *StatusAPI { return &StatusAPI{host: "github", token: token} }

// NewGiteaStatusAPI follows the Gitea API (https://docs.gitea.com/api, swagger
// operation repoCreateStatus): POST /api/v1/repos/{owner}/{repo}/statuses/{sha},
// "Authorization: token <token>" (or "Bearer <token>"), a JSON
// CreateStatusOption {state, target_url, description, context} with state one
// of pending, success, error, failure, warning (else 422), and 201 Created
// with the CommitStatus as JSON.
func NewGiteaStatusAPI(token string) *StatusAPI { return &StatusAPI{host: "gitea", token: token} }

// NewGitLabStatusAPI follows "Set commit pipeline status"
// (https://docs.gitlab.com/api/commits/#set-commit-pipeline-status): POST
// /api/v4/projects/:id/statuses/:sha where :id is the project ID or its
// URL-encoded path ("group%2Fname"), "PRIVATE-TOKEN: <token>" (or
// "Authorization: Bearer <token>"), parameters state (pending, running,
// success, failed, canceled, skipped), ref, name or context, target_url,
// description, coverage, pipeline_id as JSON or a form, 400 for a missing or
// invalid state (GitLab's API framework answers 400, not 422), and 201 Created
// with the status as JSON.
func NewGitLabStatusAPI(token string) *StatusAPI { return &StatusAPI{host: "gitlab", token: token} }

// StartStatusAPI serves api on its own httptest server on 127.0.0.1 until the
// test ends and returns the base URL to give a Repo: the GitHub stand-in
// answers under /api/v3 (GitHub Enterprise), Gitea under /api/v1, GitLab
// under /api/v4, as they do on a self-hosted instance.
func StartStatusAPI(t testing.TB, api *StatusAPI) string {
	t.Helper()
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return srv.URL
}

// Statuses returns the statuses accepted so far, oldest first.
func (a *StatusAPI) Statuses() []ReceivedStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]ReceivedStatus(nil), a.received...)
}

// FailWith makes every later request answer code (e.g. 500) without
// recording anything; 0 restores normal service.
func (a *StatusAPI) FailWith(code int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failWith = code
}

// prefix is where the API is mounted on a self-hosted instance.
func (a *StatusAPI) prefix() string {
	switch a.host {
	case "github":
		return "/api/v3"
	case "gitea":
		return "/api/v1"
	default:
		return "/api/v4"
	}
}

func (a *StatusAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	failWith := a.failWith
	a.mu.Unlock()
	if failWith != 0 {
		writeStatusJSON(w, failWith, map[string]any{"message": http.StatusText(failWith)})
		return
	}

	project, sha, ok := a.route(r)
	if !ok {
		a.notFound(w)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeStatusJSON(w, http.StatusMethodNotAllowed, map[string]any{"message": "Method Not Allowed"})
		return
	}
	if !a.authorized(r) {
		a.unauthorized(w)
		return
	}
	if code, msg := a.checkHeaders(r); code != 0 {
		writeStatusJSON(w, code, map[string]any{"message": msg})
		return
	}
	st, code, msg := a.decode(r)
	if code != 0 {
		a.invalid(w, code, msg)
		return
	}
	st.Project, st.SHA = project, sha
	if !commitSHAPattern.MatchString(sha) || (a.commitExists != nil && !a.commitExists(project, sha)) {
		a.noCommit(w, sha)
		return
	}

	a.mu.Lock()
	a.received = append(a.received, st)
	id := len(a.received)
	a.mu.Unlock()
	writeStatusJSON(w, http.StatusCreated, a.created(id, st))
}

var commitSHAPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)

// route extracts the project ("owner/name") and SHA from the request path.
func (a *StatusAPI) route(r *http.Request) (project, sha string, ok bool) {
	escaped := r.URL.EscapedPath()
	rest, mounted := strings.CutPrefix(escaped, a.prefix()+"/")
	if !mounted {
		if a.host != "github" {
			return "", "", false
		}
		rest = strings.TrimPrefix(escaped, "/") // api.github.com serves /repos/... at its root
	}
	segs := strings.Split(rest, "/")
	unescape := func(s string) (string, bool) {
		u, err := url.PathUnescape(s)
		return u, err == nil && u != ""
	}
	switch a.host {
	case "gitlab":
		// /projects/:id/statuses/:sha; the path form of :id must arrive
		// encoded, a raw "/" makes it another route (404), as on GitLab.
		if len(segs) != 4 || segs[0] != "projects" || segs[2] != "statuses" {
			return "", "", false
		}
		project, ok1 := unescape(segs[1])
		sha, ok2 := unescape(segs[3])
		return project, sha, ok1 && ok2
	default:
		if len(segs) != 5 || segs[0] != "repos" || segs[3] != "statuses" {
			return "", "", false
		}
		owner, ok1 := unescape(segs[1])
		name, ok2 := unescape(segs[2])
		sha, ok3 := unescape(segs[4])
		return owner + "/" + name, sha, ok1 && ok2 && ok3
	}
}

// authorized checks the token in the header form the host documents.
func (a *StatusAPI) authorized(r *http.Request) bool {
	authz := r.Header.Get("Authorization")
	switch a.host {
	case "github":
		return authz == "Bearer "+a.token || authz == "token "+a.token
	case "gitea":
		return authz == "token "+a.token || authz == "Bearer "+a.token
	default:
		return r.Header.Get("PRIVATE-TOKEN") == a.token || authz == "Bearer "+a.token
	}
}

// checkHeaders checks the headers other than auth; it returns 0 when they
// are acceptable.
func (a *StatusAPI) checkHeaders(r *http.Request) (int, string) {
	if a.host == "github" {
		if r.UserAgent() == "" {
			return http.StatusForbidden, "Request forbidden by administrative rules. Please make sure your request has a User-Agent header"
		}
		if v := r.Header.Get("X-GitHub-Api-Version"); v != "" && v != "2022-11-28" && v != "2026-03-10" {
			return http.StatusBadRequest, fmt.Sprintf("API version '%s' is not supported.", v)
		}
		if acc := r.Header.Get("Accept"); acc != "" && !strings.Contains(acc, "json") && !strings.Contains(acc, "*/*") {
			return http.StatusUnsupportedMediaType, "Unsupported 'Accept' header"
		}
	}
	return 0, ""
}

// statusBody is the union of the documented body fields; unknown fields are
// refused by the decoder.
type statusBody struct {
	State       *string  `json:"state"`
	TargetURL   *string  `json:"target_url"`
	Description *string  `json:"description"`
	Context     *string  `json:"context"`
	Name        *string  `json:"name"`        // GitLab
	Ref         *string  `json:"ref"`         // GitLab
	Coverage    *float64 `json:"coverage"`    // GitLab
	PipelineID  *int64   `json:"pipeline_id"` // GitLab
}

var statusStatesByHost = map[string][]string{
	"github": {"error", "failure", "pending", "success"},
	"gitea":  {"pending", "success", "error", "failure", "warning"},
	"gitlab": {"pending", "running", "success", "failed", "canceled", "skipped"},
}

// decode reads and validates the body; a non-zero code is the rejection.
func (a *StatusAPI) decode(r *http.Request) (ReceivedStatus, int, string) {
	validation := http.StatusUnprocessableEntity
	if a.host == "gitlab" {
		validation = http.StatusBadRequest
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return ReceivedStatus{}, http.StatusBadRequest, "could not read body"
	}
	var body statusBody
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case mediaType == "application/json":
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			if strings.Contains(err.Error(), "unknown field") {
				return ReceivedStatus{}, validation, err.Error()
			}
			return ReceivedStatus{}, http.StatusBadRequest, "Problems parsing JSON"
		}
	case a.host == "gitlab" && mediaType == "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(raw))
		if err != nil {
			return ReceivedStatus{}, http.StatusBadRequest, "invalid form"
		}
		for k, v := range form {
			s := v[0]
			switch k {
			case "state":
				body.State = &s
			case "target_url":
				body.TargetURL = &s
			case "description":
				body.Description = &s
			case "context":
				body.Context = &s
			case "name":
				body.Name = &s
			case "ref":
				body.Ref = &s
			case "coverage", "pipeline_id":
			default:
				return ReceivedStatus{}, validation, fmt.Sprintf("unknown parameter %q", k)
			}
		}
	default:
		return ReceivedStatus{}, http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported Content-Type %q", r.Header.Get("Content-Type"))
	}

	if a.host != "gitlab" && (body.Name != nil || body.Ref != nil || body.Coverage != nil || body.PipelineID != nil) {
		return ReceivedStatus{}, validation, "body has a field this API does not document (name, ref, coverage or pipeline_id)"
	}
	if body.State == nil {
		return ReceivedStatus{}, validation, "state is missing"
	}
	if !slices.Contains(statusStatesByHost[a.host], *body.State) {
		return ReceivedStatus{}, validation, fmt.Sprintf("state %q is not one of %s", *body.State, strings.Join(statusStatesByHost[a.host], ", "))
	}
	st := ReceivedStatus{
		State:       *body.State,
		TargetURL:   statusField(body.TargetURL),
		Description: statusField(body.Description),
		Context:     statusField(body.Context),
		Ref:         statusField(body.Ref),
	}
	if body.Name != nil {
		st.Context = *body.Name
	}
	if st.TargetURL != "" {
		if u, err := url.Parse(st.TargetURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return ReceivedStatus{}, validation, fmt.Sprintf("target_url %q is not an http(s) URL", st.TargetURL)
		}
	}
	return st, 0, ""
}

func statusField(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (a *StatusAPI) notFound(w http.ResponseWriter) {
	msg := map[string]any{"message": "Not Found"}
	if a.host == "gitlab" {
		msg = map[string]any{"error": "404 Not Found"}
	}
	writeStatusJSON(w, http.StatusNotFound, msg)
}

func (a *StatusAPI) unauthorized(w http.ResponseWriter) {
	switch a.host {
	case "github":
		writeStatusJSON(w, http.StatusUnauthorized, map[string]any{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"})
	case "gitea":
		writeStatusJSON(w, http.StatusUnauthorized, map[string]any{"message": "token is required", "url": "/api/swagger"})
	default:
		writeStatusJSON(w, http.StatusUnauthorized, map[string]any{"message": "401 Unauthorized"})
	}
}

func (a *StatusAPI) invalid(w http.ResponseWriter, code int, msg string) {
	switch {
	case a.host == "github" && code == http.StatusUnprocessableEntity:
		writeStatusJSON(w, code, map[string]any{
			"message":           "Validation Failed",
			"errors":            []map[string]any{{"resource": "Status", "code": "custom", "message": msg}},
			"documentation_url": "https://docs.github.com/rest/commits/statuses#create-a-commit-status",
			"status":            "422",
		})
	case a.host == "gitlab":
		writeStatusJSON(w, code, map[string]any{"error": msg})
	default:
		writeStatusJSON(w, code, map[string]any{"message": msg})
	}
}

func (a *StatusAPI) noCommit(w http.ResponseWriter, sha string) {
	switch a.host {
	case "github":
		writeStatusJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "No commit found for SHA: " + sha, "status": "422"})
	case "gitea":
		writeStatusJSON(w, http.StatusNotFound, map[string]any{"message": "object does not exist [id: " + sha + "]"})
	default:
		writeStatusJSON(w, http.StatusNotFound, map[string]any{"message": "404 Commit Not Found"})
	}
}

// created is the 201 body, shaped like the real one (the fields a client
// may read; the user objects are abridged).
func (a *StatusAPI) created(id int, st ReceivedStatus) map[string]any {
	now := time.Now().UTC().Format(time.RFC3339)
	switch a.host {
	case "github":
		return map[string]any{
			"url": "https://api.github.com/repos/" + st.Project + "/statuses/" + st.SHA, "id": id, "node_id": fmt.Sprintf("SC_%d", id),
			"state": st.State, "description": st.Description, "target_url": st.TargetURL, "context": statusContextOrDefault(st.Context),
			"created_at": now, "updated_at": now, "creator": map[string]any{"login": "tinyforge", "id": 1, "type": "User"},
		}
	case "gitea":
		return map[string]any{
			"id": id, "status": st.State, "target_url": st.TargetURL, "description": st.Description, "context": st.Context,
			"url": "/api/v1/repos/" + st.Project + "/statuses/" + st.SHA, "created_at": now, "updated_at": now,
			"creator": map[string]any{"id": 1, "login": "tinyforge"},
		}
	default:
		return map[string]any{
			"id": id, "sha": st.SHA, "ref": st.Ref, "status": st.State, "name": statusContextOrDefault(st.Context),
			"target_url": jsonNullable(st.TargetURL), "description": jsonNullable(st.Description), "created_at": now,
			"started_at": nil, "finished_at": nil, "allow_failure": false, "coverage": nil, "pipeline_id": id,
			"author": map[string]any{"id": 1, "username": "tinyforge", "name": "tinyforge", "state": "active"},
		}
	}
}

func statusContextOrDefault(context string) string {
	if context == "" {
		return "default"
	}
	return context
}

func jsonNullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func writeStatusJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
