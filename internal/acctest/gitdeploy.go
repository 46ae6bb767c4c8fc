package acctest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Where a preview runs, as each host is told of it (GitLab's environments:
// gitenvironments.go):
//
//   - GitHub's deployments (https://docs.github.com/en/rest/deployments):
//     "Create a deployment", POST /repos/{owner}/{repo}/deployments, JSON
//     {ref (required: a branch, tag or SHA), task, auto_merge (default
//     true: merge the default branch into ref when ref lacks its head),
//     required_contexts (default: every context of the commit's statuses
//     must be success, else 409; [] checks none), payload, environment
//     (default production), description, transient_environment,
//     production_environment}, 201 with the deployment; "List
//     deployments", GET .../deployments, query sha, ref, task,
//     environment, per_page, page, newest first; "Create a deployment
//     status", POST .../deployments/{id}/statuses, JSON {state (error,
//     failure, inactive, in_progress, queued, pending, success),
//     target_url, log_url, description (140 characters at most),
//     environment, environment_url, auto_inactive (default true: a success
//     makes the environment's earlier non-transient, non-production
//     deployments inactive)}, 201; "List deployment statuses", GET
//     .../deployments/{id}/statuses, newest first.

// Deployment is a GitHub deployment a stand-in accepted, with its statuses
// oldest first.
type Deployment struct {
	ID                     int64
	Project                string
	SHA, Ref               string
	Environment            string
	Description            string
	Transient, Production  bool
	AutoMerge              bool
	RequiredContextsAbsent bool
	Statuses               []DeploymentStatus
}

// DeploymentStatus is one status of a Deployment.
type DeploymentStatus struct {
	State          string
	Description    string
	EnvironmentURL string
	LogURL         string
	TargetURL      string
	// ByHost says GitHub set it itself (auto_inactive), not a client.
	ByHost bool
}

type deploymentRecord struct {
	Deployment
	created time.Time
}

// Deployments returns the GitHub deployments of project, oldest first.
func (a *HostAPI) Deployments(project string) []Deployment {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []Deployment
	for _, d := range a.deploys {
		if d.Project == project {
			c := d.Deployment
			c.Statuses = slices.Clone(d.Statuses)
			out = append(out, c)
		}
	}
	return out
}

// deployments is GET and POST .../deployments.
func (a *HostAPI) deployments(w http.ResponseWriter, r *http.Request, project string, _ []string) {
	if r.Method == http.MethodGet {
		a.listDeployments(w, r, project)
		return
	}
	var body struct {
		Ref                   *string         `json:"ref"`
		Task                  *string         `json:"task"`
		AutoMerge             *bool           `json:"auto_merge"`
		RequiredContexts      *[]string       `json:"required_contexts"`
		Payload               json.RawMessage `json:"payload"`
		Environment           *string         `json:"environment"`
		Description           *string         `json:"description"`
		TransientEnvironment  *bool           `json:"transient_environment"`
		ProductionEnvironment *bool           `json:"production_environment"`
	}
	if !a.decodeStrict(w, r, &body) {
		return
	}
	if body.Ref == nil || *body.Ref == "" {
		a.violation(w, r, http.StatusUnprocessableEntity, "ref is missing")
		return
	}
	if p := bytes.TrimSpace(body.Payload); len(p) > 0 && p[0] != '{' && p[0] != '"' && string(p) != "null" {
		a.violation(w, r, http.StatusUnprocessableEntity, "payload must be an object or a string")
		return
	}
	ref := *body.Ref
	sha, ok := a.resolveRef(project, ref)
	if !ok {
		writeStatusJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "No ref found for: " + ref, "status": "422"})
		return
	}
	env := cmp.Or(ptrValue(body.Environment), "production")
	production := env == "production"
	if body.ProductionEnvironment != nil {
		production = *body.ProductionEnvironment
	}
	d := &deploymentRecord{created: time.Now().UTC(), Deployment: Deployment{
		Project: project, SHA: sha, Ref: ref, Environment: env, Description: ptrValue(body.Description),
		Transient: ptrValue(body.TransientEnvironment), Production: production,
		AutoMerge:              body.AutoMerge == nil || *body.AutoMerge,
		RequiredContextsAbsent: body.RequiredContexts == nil,
	}}
	// auto_merge: GitHub merges the default branch into ref when ref lacks
	// its head, which a commit SHA cannot take.
	if d.AutoMerge && a.repos != nil && !a.repos.contains(project, sha, "main") {
		a.mu.Lock()
		a.violations = append(a.violations, fmt.Sprintf("POST %s: 409 auto_merge is true for %s, which lacks the head of main: GitHub would merge main into it (send auto_merge: false)", r.URL.Path, ref))
		a.mu.Unlock()
		writeStatusJSON(w, http.StatusConflict, map[string]any{"message": "Conflict merging main into " + ref + ".", "status": "409"})
		return
	}
	if failing := a.failingContexts(project, sha, body.RequiredContexts); len(failing) > 0 {
		a.mu.Lock()
		a.violations = append(a.violations, fmt.Sprintf("POST %s: 409 commit status checks failed for %s (%s): a deployment of a commit whose statuses are not all success needs required_contexts: []", r.URL.Path, ref, strings.Join(failing, ", ")))
		a.mu.Unlock()
		writeStatusJSON(w, http.StatusConflict, map[string]any{
			"message": "Conflict: Commit status checks failed for " + ref + ".",
			"errors":  []map[string]any{{"contexts": failing, "resource": "Deployment", "field": "required_contexts"}},
			"status":  "409",
		})
		return
	}
	a.mu.Lock()
	a.nextID++
	d.ID = a.nextID
	a.deploys = append(a.deploys, d)
	out := a.deploymentJSON(r, d)
	a.mu.Unlock()
	writeStatusJSON(w, http.StatusCreated, out)
}

// resolveRef is the commit ref names: a full SHA the repository holds, or
// a branch's head.
func (a *HostAPI) resolveRef(project, ref string) (string, bool) {
	if commitSHAPattern.MatchString(ref) {
		return ref, a.repos == nil || a.repos.commitExists(project, ref)
	}
	if a.repos == nil {
		return "", false
	}
	return a.repos.branchHead(project, ref)
}

// failingContexts lists the contexts a deployment of sha waits for that
// are not success: required nil is every context of the commit's statuses,
// [] none.
func (a *HostAPI) failingContexts(project, sha string, required *[]string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	latest := map[string]string{}
	for _, s := range a.received {
		if s.Project == project && s.SHA == sha {
			latest[statusContextOrDefault(s.Context)] = s.State
		}
	}
	var want []string
	if required == nil {
		for c := range latest {
			want = append(want, c)
		}
	} else {
		want = *required
	}
	var failing []string
	for _, c := range want {
		if latest[c] != "success" {
			failing = append(failing, fmt.Sprintf("%s: %s", c, cmp.Or(latest[c], "missing")))
		}
	}
	slices.Sort(failing)
	return failing
}

// listDeployments is GET .../deployments.
func (a *HostAPI) listDeployments(w http.ResponseWriter, r *http.Request, project string) {
	q, ok := a.checkQuery(w, r, "sha", "ref", "task", "environment", "per_page", "page")
	if !ok {
		return
	}
	size, page, msg := pageParams(q, "per_page", 30, 100)
	if msg != "" {
		a.violation(w, r, http.StatusUnprocessableEntity, msg)
		return
	}
	a.mu.Lock()
	var kept []*deploymentRecord
	for _, d := range slices.Backward(a.deploys) {
		if d.Project == project && (q.Get("sha") == "" || d.SHA == q.Get("sha")) && (q.Get("ref") == "" || d.Ref == q.Get("ref")) &&
			(q.Get("environment") == "" || d.Environment == q.Get("environment")) && (q.Get("task") == "" || q.Get("task") == "deploy") {
			kept = append(kept, d)
		}
	}
	from, to := min((page-1)*size, len(kept)), min(page*size, len(kept))
	items := make([]map[string]any, 0, to-from)
	for _, d := range kept[from:to] {
		items = append(items, a.deploymentJSON(r, d))
	}
	a.mu.Unlock()
	setPageHeaders(w, r, a.host, "per_page", size, page, len(kept))
	writeStatusJSON(w, http.StatusOK, items)
}

var deploymentStates = []string{"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}

// deploymentStatuses is GET and POST .../deployments/{id}/statuses.
func (a *HostAPI) deploymentStatuses(w http.ResponseWriter, r *http.Request, project string, vars []string) {
	id, _ := strconv.ParseInt(vars[0], 10, 64)
	a.mu.Lock()
	var d *deploymentRecord
	for _, x := range a.deploys {
		if x.ID == id && x.Project == project {
			d = x
		}
	}
	a.mu.Unlock()
	if d == nil {
		a.violation(w, r, http.StatusNotFound, "no deployment "+vars[0]+" in "+project)
		return
	}
	if r.Method == http.MethodGet {
		q, ok := a.checkQuery(w, r, "per_page", "page")
		if !ok {
			return
		}
		size, page, msg := pageParams(q, "per_page", 30, 100)
		if msg != "" {
			a.violation(w, r, http.StatusUnprocessableEntity, msg)
			return
		}
		a.mu.Lock()
		statuses := slices.Clone(d.Statuses)
		slices.Reverse(statuses)
		from, to := min((page-1)*size, len(statuses)), min(page*size, len(statuses))
		items := make([]map[string]any, 0, to-from)
		for i, s := range statuses[from:to] {
			items = append(items, deploymentStatusJSON(r, d, len(statuses)-from-i, s))
		}
		a.mu.Unlock()
		setPageHeaders(w, r, a.host, "per_page", size, page, len(statuses))
		writeStatusJSON(w, http.StatusOK, items)
		return
	}
	var body struct {
		State          *string `json:"state"`
		TargetURL      *string `json:"target_url"`
		LogURL         *string `json:"log_url"`
		Description    *string `json:"description"`
		Environment    *string `json:"environment"`
		EnvironmentURL *string `json:"environment_url"`
		AutoInactive   *bool   `json:"auto_inactive"`
	}
	if !a.decodeStrict(w, r, &body) {
		return
	}
	switch {
	case body.State == nil || !slices.Contains(deploymentStates, *body.State):
		a.violation(w, r, http.StatusUnprocessableEntity, fmt.Sprintf("state must be one of %s", strings.Join(deploymentStates, ", ")))
		return
	case utf8.RuneCountInString(ptrValue(body.Description)) > 140:
		a.violation(w, r, http.StatusUnprocessableEntity, "description is too long (maximum is 140 characters)")
		return
	}
	for name, u := range map[string]*string{"target_url": body.TargetURL, "log_url": body.LogURL, "environment_url": body.EnvironmentURL} {
		if v := ptrValue(u); v != "" && !isHTTPURL(v) {
			a.violation(w, r, http.StatusUnprocessableEntity, fmt.Sprintf("%s %q is not an http(s) URL", name, v))
			return
		}
	}
	s := DeploymentStatus{State: *body.State, Description: ptrValue(body.Description), EnvironmentURL: ptrValue(body.EnvironmentURL),
		LogURL: ptrValue(body.LogURL), TargetURL: cmp.Or(ptrValue(body.TargetURL), ptrValue(body.LogURL))}
	a.mu.Lock()
	d.Statuses = append(d.Statuses, s)
	if s.State == "success" && (body.AutoInactive == nil || *body.AutoInactive) {
		for _, other := range a.deploys {
			if other != d && other.Project == project && other.Environment == d.Environment && !other.Transient && !other.Production &&
				other.ID < d.ID && (len(other.Statuses) == 0 || other.Statuses[len(other.Statuses)-1].State != "inactive") {
				other.Statuses = append(other.Statuses, DeploymentStatus{State: "inactive", ByHost: true})
			}
		}
	}
	out := deploymentStatusJSON(r, d, len(d.Statuses), s)
	a.mu.Unlock()
	writeStatusJSON(w, http.StatusCreated, out)
}

// deploymentJSON is a deployment as GitHub shows it (abridged).
func (a *HostAPI) deploymentJSON(r *http.Request, d *deploymentRecord) map[string]any {
	u := fmt.Sprintf("http://%s%s/repos/%s/deployments/%d", r.Host, a.prefix(), d.Project, d.ID)
	at := d.created.Format(time.RFC3339)
	return map[string]any{
		"url": u, "id": d.ID, "node_id": fmt.Sprintf("DE_%d", d.ID), "sha": d.SHA, "ref": d.Ref, "task": "deploy",
		"payload": map[string]any{}, "original_environment": d.Environment, "environment": d.Environment,
		"description": jsonNullable(d.Description), "creator": map[string]any{"login": "tinyforge", "id": 1, "type": "User"},
		"created_at": at, "updated_at": at, "statuses_url": u + "/statuses", "repository_url": fmt.Sprintf("http://%s%s/repos/%s", r.Host, a.prefix(), d.Project),
		"transient_environment": d.Transient, "production_environment": d.Production,
	}
}

func deploymentStatusJSON(r *http.Request, d *deploymentRecord, n int, s DeploymentStatus) map[string]any {
	now := time.Now().UTC().Format(time.RFC3339)
	return map[string]any{
		"id": d.ID*1000 + int64(n), "node_id": fmt.Sprintf("DES_%d_%d", d.ID, n), "state": s.State, "description": s.Description,
		"environment": d.Environment, "target_url": s.TargetURL, "log_url": s.LogURL, "environment_url": s.EnvironmentURL,
		"created_at": now, "updated_at": now, "creator": map[string]any{"login": "tinyforge", "id": 1, "type": "User"},
		"deployment_url": fmt.Sprintf("http://%s/repos/%s/deployments/%d", r.Host, d.Project, d.ID),
	}
}
