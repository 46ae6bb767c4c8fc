package acctest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// ReceivedStatus is one commit status a HostAPI stand-in accepted, in the
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

// The commit-status endpoint of each stand-in:
//
//   - GitHub, "Create a commit status"
//     (https://docs.github.com/en/rest/commits/statuses#create-a-commit-status):
//     POST /repos/{owner}/{repo}/statuses/{sha}, a JSON body {state,
//     target_url, description, context} with state one of error, failure,
//     pending, success (else 422 "Validation Failed"), 201 Created with the
//     status as JSON.
//   - Gitea (swagger operation repoCreateStatus): POST
//     /repos/{owner}/{repo}/statuses/{sha}, a JSON CreateStatusOption
//     {state, target_url, description, context} with state one of pending,
//     success, error, failure, warning (else 422), 201 Created with the
//     CommitStatus as JSON.
//   - GitLab, "Set commit pipeline status"
//     (https://docs.gitlab.com/api/commits/#set-commit-pipeline-status):
//     POST /projects/:id/statuses/:sha, parameters state (pending, running,
//     success, failed, canceled, skipped), ref, name or context,
//     target_url, description, coverage, pipeline_id as JSON or a form, 400
//     for a missing or invalid state (GitLab's API framework answers 400,
//     not 422), 201 Created with the status as JSON.

// createStatus is POST .../statuses/{sha}.
func (a *HostAPI) createStatus(w http.ResponseWriter, r *http.Request, project string, vars []string) {
	sha := vars[0]
	st, code, msg := a.decodeStatus(r)
	if code != 0 {
		a.violation(w, r, code, msg)
		return
	}
	st.Project, st.SHA = project, sha
	if !commitSHAPattern.MatchString(sha) || (a.repos != nil && !a.repos.commitExists(project, sha)) {
		a.noCommit(w, sha)
		return
	}
	a.mu.Lock()
	a.received = append(a.received, st)
	id := len(a.received)
	a.mu.Unlock()
	writeStatusJSON(w, http.StatusCreated, a.createdStatus(id, st))
}

var commitSHAPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)

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

// decodeStatus reads and validates the body; a non-zero code is the
// rejection.
func (a *HostAPI) decodeStatus(r *http.Request) (ReceivedStatus, int, string) {
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

func (a *HostAPI) noCommit(w http.ResponseWriter, sha string) {
	switch a.host {
	case "github":
		writeStatusJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "No commit found for SHA: " + sha, "status": "422"})
	case "gitea":
		writeStatusJSON(w, http.StatusNotFound, map[string]any{"message": "object does not exist [id: " + sha + "]"})
	default:
		writeStatusJSON(w, http.StatusNotFound, map[string]any{"message": "404 Commit Not Found"})
	}
}

// createdStatus is the 201 body, shaped like the real one (the fields a
// client may read; the user objects are abridged).
func (a *HostAPI) createdStatus(id int, st ReceivedStatus) map[string]any {
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
