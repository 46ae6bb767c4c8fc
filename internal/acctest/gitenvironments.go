package acctest

import (
	"cmp"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Where a preview runs on GitLab (GitHub's deployments: gitdeploy.go):
// GitLab's environments (https://docs.gitlab.com/api/environments/).
// GET /projects/:id/environments, query name or search (not both),
// states, per_page, page; POST /projects/:id/environments {name (required,
// unique), external_url, tier, description, ...}, 201; PUT
// /projects/:id/environments/:environment_id {external_url, tier,
// description, ...}, 200; POST .../:environment_id/stop {force}, 200;
// DELETE .../:environment_id, 204, only for a stopped environment (403 for
// an available one).

// Environment is a GitLab environment as a stand-in holds it.
type Environment struct {
	ID          int64
	Project     string
	Name        string
	ExternalURL string
	Tier        string
	State       string // available or stopped
}

type environmentRecord struct {
	Environment
	deleted bool
}

// Environments returns the GitLab environments of project not deleted,
// oldest first.
func (a *HostAPI) Environments(project string) []Environment {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []Environment
	for _, e := range a.envs {
		if e.Project == project && !e.deleted {
			out = append(out, e.Environment)
		}
	}
	return out
}

// gitlabEnvironmentName is GitLab's rule for an environment name.
var gitlabEnvironmentName = regexp.MustCompile(`^[a-zA-Z0-9 _./${}-]+$`)

var gitlabTiers = []string{"production", "staging", "testing", "development", "other"}

// environmentBody is the union of the documented fields of a create and an
// update (name only at create).
type environmentBody struct {
	Name               *string `json:"name"`
	ExternalURL        *string `json:"external_url"`
	Tier               *string `json:"tier"`
	Description        *string `json:"description"`
	ClusterAgentID     *int64  `json:"cluster_agent_id"`
	KubernetesNS       *string `json:"kubernetes_namespace"`
	FluxResourcePath   *string `json:"flux_resource_path"`
	AutoStopSetting    *string `json:"auto_stop_setting"`
	StopForceParameter *bool   `json:"force"` // stop only
}

// environments is GET and POST /projects/:id/environments.
func (a *HostAPI) environments(w http.ResponseWriter, r *http.Request, project string, _ []string) {
	if r.Method == http.MethodGet {
		q, ok := a.checkQuery(w, r, "name", "search", "states", "per_page", "page")
		if !ok {
			return
		}
		if q.Get("name") != "" && q.Get("search") != "" {
			a.violation(w, r, http.StatusBadRequest, "name, search are mutually exclusive")
			return
		}
		if s := q.Get("states"); s != "" && s != "available" && s != "stopping" && s != "stopped" {
			a.violation(w, r, http.StatusBadRequest, "states does not have a valid value")
			return
		}
		size, page, msg := pageParams(q, "per_page", 20, 100)
		if msg != "" {
			a.violation(w, r, http.StatusBadRequest, msg)
			return
		}
		a.mu.Lock()
		var kept []map[string]any
		for _, e := range a.envs {
			if e.Project == project && !e.deleted && (q.Get("name") == "" || e.Name == q.Get("name")) &&
				(q.Get("search") == "" || strings.Contains(e.Name, q.Get("search"))) && (q.Get("states") == "" || e.State == q.Get("states")) {
				kept = append(kept, environmentJSON(e.Environment))
			}
		}
		a.mu.Unlock()
		from, to := min((page-1)*size, len(kept)), min(page*size, len(kept))
		setPageHeaders(w, r, a.host, "per_page", size, page, len(kept))
		writeStatusJSON(w, http.StatusOK, append([]map[string]any{}, kept[from:to]...))
		return
	}
	var body environmentBody
	if !a.decodeStrict(w, r, &body) {
		return
	}
	name := ptrValue(body.Name)
	if name == "" || !gitlabEnvironmentName.MatchString(name) || strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") {
		a.violation(w, r, http.StatusBadRequest, fmt.Sprintf("name %q is missing or is not a valid environment name", name))
		return
	}
	if !a.checkEnvironmentBody(w, r, body) {
		return
	}
	a.mu.Lock()
	for _, e := range a.envs {
		if e.Project == project && !e.deleted && e.Name == name {
			a.mu.Unlock()
			a.violation(w, r, http.StatusBadRequest, "name has already been taken")
			return
		}
	}
	a.nextID++
	e := &environmentRecord{Environment: Environment{ID: a.nextID, Project: project, Name: name, ExternalURL: ptrValue(body.ExternalURL),
		Tier: cmp.Or(ptrValue(body.Tier), "other"), State: "available"}}
	a.envs = append(a.envs, e)
	out := environmentJSON(e.Environment)
	a.mu.Unlock()
	writeStatusJSON(w, http.StatusCreated, out)
}

// checkEnvironmentBody checks the fields a create and an update share.
func (a *HostAPI) checkEnvironmentBody(w http.ResponseWriter, r *http.Request, body environmentBody) bool {
	if v := ptrValue(body.ExternalURL); v != "" && !isHTTPURL(v) {
		a.violation(w, r, http.StatusBadRequest, fmt.Sprintf("external_url %q is not an http(s) URL", v))
		return false
	}
	if v := ptrValue(body.Tier); v != "" && !slices.Contains(gitlabTiers, v) {
		a.violation(w, r, http.StatusBadRequest, fmt.Sprintf("tier %q is not one of %s", v, strings.Join(gitlabTiers, ", ")))
		return false
	}
	if body.StopForceParameter != nil {
		a.violation(w, r, http.StatusBadRequest, "force is a parameter of stop only")
		return false
	}
	return true
}

// findEnvironment is the environment of project with ID id.
func (a *HostAPI) findEnvironment(project, id string) *environmentRecord {
	n, _ := strconv.ParseInt(id, 10, 64)
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, e := range a.envs {
		if e.ID == n && e.Project == project && !e.deleted {
			return e
		}
	}
	return nil
}

// environment is PUT and DELETE /projects/:id/environments/:environment_id.
func (a *HostAPI) environment(w http.ResponseWriter, r *http.Request, project string, vars []string) {
	e := a.findEnvironment(project, vars[0])
	if e == nil {
		a.violation(w, r, http.StatusNotFound, "404 Environment Not Found")
		return
	}
	if r.Method == http.MethodDelete {
		a.mu.Lock()
		stopped := e.State == "stopped"
		if stopped {
			e.deleted = true
		}
		a.mu.Unlock()
		if !stopped {
			a.violation(w, r, http.StatusForbidden, "403 Forbidden: an available environment cannot be deleted; stop it first")
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var body environmentBody
	if !a.decodeStrict(w, r, &body) || !a.checkEnvironmentBody(w, r, body) {
		return
	}
	if body.Name != nil {
		a.violation(w, r, http.StatusBadRequest, "name cannot be changed")
		return
	}
	a.mu.Lock()
	if body.ExternalURL != nil {
		e.ExternalURL = *body.ExternalURL
	}
	if body.Tier != nil {
		e.Tier = *body.Tier
	}
	out := environmentJSON(e.Environment)
	a.mu.Unlock()
	writeStatusJSON(w, http.StatusOK, out)
}

// stopEnvironment is POST /projects/:id/environments/:environment_id/stop.
func (a *HostAPI) stopEnvironment(w http.ResponseWriter, r *http.Request, project string, vars []string) {
	e := a.findEnvironment(project, vars[0])
	if e == nil {
		a.violation(w, r, http.StatusNotFound, "404 Environment Not Found")
		return
	}
	if r.ContentLength != 0 {
		var body struct {
			Force *bool `json:"force"`
		}
		if !a.decodeStrict(w, r, &body) {
			return
		}
	}
	a.mu.Lock()
	e.State = "stopped"
	out := environmentJSON(e.Environment)
	a.mu.Unlock()
	writeStatusJSON(w, http.StatusOK, out)
}

func environmentJSON(e Environment) map[string]any {
	slug := strings.NewReplacer("/", "-", " ", "-", ".", "-").Replace(strings.ToLower(e.Name))
	return map[string]any{"id": e.ID, "name": e.Name, "slug": slug, "external_url": jsonNullable(e.ExternalURL),
		"state": e.State, "tier": e.Tier, "description": nil, "created_at": time.Now().UTC().Format(time.RFC3339)}
}
