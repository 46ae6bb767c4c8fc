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
	"slices"
	"strings"
	"sync"
	"testing"
)

// HostAPI is a stand-in for the REST API of one hosted Git service (GitHub,
// Gitea or GitLab), which cannot run here: commit statuses (gitstatus.go),
// the pull requests or merge requests of a repository (gitpulls.go),
// GitHub's deployments and GitLab's environments (gitdeploy.go). Each
// endpoint enforces the request shape its host documents (method, path,
// headers, query parameters, body fields), records what it accepts and
// answers as the real one does; see the constructors and the handlers for
// the documentation each follows.
//
// Where the real API is lenient it is stricter, on purpose: an unknown
// body field or query parameter is refused (the real ones ignore it), so
// that a misspelt field in the client cannot pass silently. Every such
// refusal is a violation: a request the client should never have sent.
// StartHostAPI and StartGitServer fail the test that made one, at its end.
type HostAPI struct {
	host  string // "github" | "gitea" | "gitlab"
	token string

	// repos, when set, answers what the real host reads in its
	// repositories (GitServer wires it to the real ones).
	repos repoData

	mu         sync.Mutex
	received   []ReceivedStatus
	failWith   int
	calls      []string
	violations []string
	pulls      map[string][]*pullRecord // by project
	deploys    []*deploymentRecord      // GitHub
	envs       []*environmentRecord     // GitLab
	nextID     int64
}

// repoData is what a host knows of its repositories (project is
// "owner/name").
type repoData interface {
	commitExists(project, sha string) bool
	branchHead(project, branch string) (string, bool)
	// contains reports whether commit sha holds the head of branch.
	contains(project, sha, branch string) bool
}

// NewGitHubAPI follows GitHub's REST API, version 2022-11-28: requests
// carry "Authorization: Bearer <token>" (or the older "token <token>"), a
// User-Agent (GitHub refuses requests without one), an optional
// "X-GitHub-Api-Version" that must name a supported version, and an Accept
// that admits JSON. Served under /api/v3 (GitHub Enterprise) and at the
// root (api.github.com).
func NewGitHubAPI(token string) *HostAPI { return newHostAPI("github", token) }

// NewGiteaAPI follows the Gitea API (https://docs.gitea.com/api, swagger
// v1): "Authorization: token <token>" (or "Bearer <token>"), under /api/v1.
func NewGiteaAPI(token string) *HostAPI { return newHostAPI("gitea", token) }

// NewGitLabAPI follows GitLab's REST API v4 (https://docs.gitlab.com/api/):
// "PRIVATE-TOKEN: <token>" (or "Authorization: Bearer <token>"), projects
// addressed by ID or URL-encoded path, under /api/v4.
func NewGitLabAPI(token string) *HostAPI { return newHostAPI("gitlab", token) }

func newHostAPI(host, token string) *HostAPI {
	return &HostAPI{host: host, token: token, pulls: map[string][]*pullRecord{}}
}

// StartHostAPI serves api on its own httptest server on 127.0.0.1 until the
// test ends and returns the base URL to give a Repo: the GitHub stand-in
// answers under /api/v3 (GitHub Enterprise), Gitea under /api/v1, GitLab
// under /api/v4, as they do on a self-hosted instance. The test fails at
// its end if the API saw a violation it did not take (TakeViolations).
func StartHostAPI(t testing.TB, api *HostAPI) string {
	t.Helper()
	srv := httptest.NewServer(api)
	t.Cleanup(func() {
		srv.Close()
		api.failOnViolations(t)
	})
	return srv.URL
}

// Statuses returns the commit statuses accepted so far, oldest first.
func (a *HostAPI) Statuses() []ReceivedStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]ReceivedStatus(nil), a.received...)
}

// Calls returns every request received, oldest first, as "METHOD /path"
// (the path as sent, without the query), so that a test counts what a
// client asked.
func (a *HostAPI) Calls() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.calls...)
}

// CallsTo counts the requests received whose "METHOD /path" contains part.
func (a *HostAPI) CallsTo(part string) int {
	n := 0
	for _, c := range a.Calls() {
		if strings.Contains(c, part) {
			n++
		}
	}
	return n
}

// TakeViolations returns the violations so far (requests refused for their
// shape, each with why) and forgets them: a test that sends malformed
// requests on purpose takes them, so that its end does not fail on them.
func (a *HostAPI) TakeViolations() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	v := a.violations
	a.violations = nil
	return v
}

func (a *HostAPI) failOnViolations(t testing.TB) {
	for _, v := range a.TakeViolations() {
		t.Errorf("the %s API stand-in refused a request that breaks its documented shape: %s", a.host, v)
	}
}

// FailWith makes every later request answer code (e.g. 500) without
// recording anything; 0 restores normal service.
func (a *HostAPI) FailWith(code int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failWith = code
}

// prefix is where the API is mounted on a self-hosted instance.
func (a *HostAPI) prefix() string {
	switch a.host {
	case "github":
		return "/api/v3"
	case "gitea":
		return "/api/v1"
	default:
		return "/api/v4"
	}
}

// endpoint is one route of the API: its path segments after the project
// ("statuses", "{sha}"), the methods it takes and its handler.
type endpoint struct {
	hosts   []string
	pattern []string // after the project; "*" is a variable segment
	methods []string
	handle  func(a *HostAPI, w http.ResponseWriter, r *http.Request, project string, vars []string)
}

// endpoints are the routes of the three stand-ins.
var endpoints = []endpoint{
	{[]string{"github", "gitea"}, []string{"statuses", "*"}, []string{http.MethodPost}, (*HostAPI).createStatus},
	{[]string{"gitlab"}, []string{"statuses", "*"}, []string{http.MethodPost}, (*HostAPI).createStatus},
	{[]string{"github", "gitea"}, []string{"pulls"}, []string{http.MethodGet}, (*HostAPI).listPulls},
	{[]string{"gitlab"}, []string{"merge_requests"}, []string{http.MethodGet}, (*HostAPI).listPulls},
	{[]string{"github"}, []string{"deployments"}, []string{http.MethodGet, http.MethodPost}, (*HostAPI).deployments},
	{[]string{"github"}, []string{"deployments", "*", "statuses"}, []string{http.MethodGet, http.MethodPost}, (*HostAPI).deploymentStatuses},
	{[]string{"gitlab"}, []string{"environments"}, []string{http.MethodGet, http.MethodPost}, (*HostAPI).environments},
	{[]string{"gitlab"}, []string{"environments", "*"}, []string{http.MethodPut, http.MethodDelete}, (*HostAPI).environment},
	{[]string{"gitlab"}, []string{"environments", "*", "stop"}, []string{http.MethodPost}, (*HostAPI).stopEnvironment},
}

func (a *HostAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.calls = append(a.calls, r.Method+" "+r.URL.EscapedPath())
	failWith := a.failWith
	a.mu.Unlock()
	if failWith != 0 {
		writeStatusJSON(w, failWith, map[string]any{"message": http.StatusText(failWith)})
		return
	}
	project, rest, ok := a.route(r)
	if !ok {
		a.violation(w, r, http.StatusNotFound, "no such route")
		return
	}
	for _, e := range endpoints {
		if !slices.Contains(e.hosts, a.host) || len(e.pattern) != len(rest) {
			continue
		}
		var vars []string
		matched := true
		for i, p := range e.pattern {
			switch {
			case p == "*":
				vars = append(vars, rest[i])
			case p != rest[i]:
				matched = false
			}
		}
		if !matched {
			continue
		}
		if !slices.Contains(e.methods, r.Method) {
			w.Header().Set("Allow", strings.Join(e.methods, ", "))
			a.violation(w, r, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		if !a.authorized(r) {
			a.unauthorized(w)
			return
		}
		if code, msg := a.checkHeaders(r); code != 0 {
			a.violation(w, r, code, msg)
			return
		}
		e.handle(a, w, r, project, vars)
		return
	}
	a.violation(w, r, http.StatusNotFound, "no such route")
}

// route splits the request path into the project ("owner/name", decoded)
// and the segments after it.
func (a *HostAPI) route(r *http.Request) (project string, rest []string, ok bool) {
	escaped := r.URL.EscapedPath()
	after, mounted := strings.CutPrefix(escaped, a.prefix()+"/")
	if !mounted {
		if a.host != "github" {
			return "", nil, false
		}
		after = strings.TrimPrefix(escaped, "/") // api.github.com serves /repos/... at its root
	}
	// Split before decoding: an encoded "/" stays inside its segment.
	segs := strings.Split(after, "/")
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil || u == "" {
			return "", nil, false
		}
		segs[i] = u
	}
	switch a.host {
	case "gitlab":
		// /projects/:id/...; the path form of :id must arrive encoded, a
		// raw "/" makes it another route (404), as on GitLab.
		if len(segs) < 3 || segs[0] != "projects" {
			return "", nil, false
		}
		return segs[1], segs[2:], true
	default:
		if len(segs) < 4 || segs[0] != "repos" {
			return "", nil, false
		}
		return segs[1] + "/" + segs[2], segs[3:], true
	}
}

// authorized checks the token in the header form the host documents.
func (a *HostAPI) authorized(r *http.Request) bool {
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
func (a *HostAPI) checkHeaders(r *http.Request) (int, string) {
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

// violation answers a request that breaks the documented shape with the
// code the real host gives, and records it.
func (a *HostAPI) violation(w http.ResponseWriter, r *http.Request, code int, msg string) {
	a.mu.Lock()
	a.violations = append(a.violations, fmt.Sprintf("%s %s: %d %s", r.Method, r.URL.RequestURI(), code, msg))
	a.mu.Unlock()
	a.invalid(w, code, msg)
}

// checkQuery refuses a query parameter outside allowed (the documented
// ones) and a repeated one; it reports whether the query is acceptable.
func (a *HostAPI) checkQuery(w http.ResponseWriter, r *http.Request, allowed ...string) (url.Values, bool) {
	q := r.URL.Query()
	for k, v := range q {
		if !slices.Contains(allowed, k) {
			a.violation(w, r, a.validationCode(), fmt.Sprintf("query parameter %q is not documented for this endpoint", k))
			return nil, false
		}
		if len(v) > 1 {
			a.violation(w, r, a.validationCode(), fmt.Sprintf("query parameter %q given %d times", k, len(v)))
			return nil, false
		}
	}
	return q, true
}

// validationCode is the host's code for a request it cannot accept:
// GitLab's API framework answers 400, the others 422.
func (a *HostAPI) validationCode() int {
	if a.host == "gitlab" {
		return http.StatusBadRequest
	}
	return http.StatusUnprocessableEntity
}

func (a *HostAPI) notFound(w http.ResponseWriter, what string) {
	msg := map[string]any{"message": "Not Found"}
	if a.host == "gitlab" {
		msg = map[string]any{"message": "404 " + what + " Not Found"}
	}
	writeStatusJSON(w, http.StatusNotFound, msg)
}

func (a *HostAPI) unauthorized(w http.ResponseWriter) {
	switch a.host {
	case "github":
		writeStatusJSON(w, http.StatusUnauthorized, map[string]any{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"})
	case "gitea":
		writeStatusJSON(w, http.StatusUnauthorized, map[string]any{"message": "token is required", "url": "/api/swagger"})
	default:
		writeStatusJSON(w, http.StatusUnauthorized, map[string]any{"message": "401 Unauthorized"})
	}
}

func (a *HostAPI) invalid(w http.ResponseWriter, code int, msg string) {
	switch {
	case a.host == "github" && code == http.StatusUnprocessableEntity:
		writeStatusJSON(w, code, map[string]any{
			"message":           "Validation Failed",
			"errors":            []map[string]any{{"code": "custom", "message": msg}},
			"documentation_url": "https://docs.github.com/rest",
			"status":            "422",
		})
	case a.host == "gitlab":
		writeStatusJSON(w, code, map[string]any{"error": msg})
	default:
		writeStatusJSON(w, code, map[string]any{"message": msg})
	}
}

func writeStatusJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func ptrValue[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func isHTTPURL(v string) bool {
	u, err := url.Parse(v)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// decodeStrict reads a JSON body into v, refusing a body that is not JSON,
// a field v does not document and trailing data; it answers the refusal
// itself and reports whether v was read.
func (a *HostAPI) decodeStrict(w http.ResponseWriter, r *http.Request, v any) bool {
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mediaType != "application/json" {
		a.violation(w, r, http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported Content-Type %q (this stand-in takes JSON)", r.Header.Get("Content-Type")))
		return false
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		a.violation(w, r, http.StatusBadRequest, "could not read body")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if strings.Contains(err.Error(), "unknown field") || strings.Contains(err.Error(), "cannot unmarshal") {
			a.violation(w, r, a.validationCode(), err.Error())
			return false
		}
		a.violation(w, r, http.StatusBadRequest, "Problems parsing JSON")
		return false
	}
	if dec.More() {
		a.violation(w, r, http.StatusBadRequest, "Problems parsing JSON: trailing data")
		return false
	}
	return true
}
