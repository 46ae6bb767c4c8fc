package git

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// Preview is a deploy of one commit as the Git host is told of it, so that
// the pull request shows where it runs: on GitHub a Deployment of the
// commit to Environment with its statuses, on GitLab the environment
// Environment with URL as its external URL. Gitea has neither: its commit
// status carries the URL (Status.TargetURL).
type Preview struct {
	// Environment names where the commit is deployed, e.g. "preview/web".
	Environment string
	// SHA is the commit deployed.
	SHA string
	// URL is where the deploy answers ("" when it has no route).
	URL string
}

// Deployment states a preview is reported in: a deploy's outcome, and
// Retired once the workload is destroyed.
const (
	PreviewInProgress = "in_progress"
	PreviewSuccess    = "success"
	PreviewFailure    = "failure"
	PreviewRetired    = "inactive"
)

// ReportPreview tells the Git host how the deploy of p goes (state is one
// of PreviewInProgress, PreviewSuccess, PreviewFailure; description says
// why, for a failure). On GitHub, in_progress creates a Deployment of
// p.SHA to p.Environment (required_contexts [] and auto_merge false: a
// preview deploys its commit as it is, whatever the commit's other checks
// say) and each state adds a deployment status, success with p.URL as
// environment_url. On GitLab, success creates the environment p.Environment,
// or points it at p.URL. It needs a token. Callers treat a failure as a
// warning, as for commit statuses.
func ReportPreview(ctx context.Context, repo Repo, p Preview, state, description string) error {
	a, err := previewAPI(repo, p.Environment)
	if err != nil || a == nil {
		return err
	}
	if err := checkCommit(p.SHA); err != nil {
		return fmt.Errorf("report the preview: %w", err)
	}
	switch state {
	case PreviewInProgress, PreviewSuccess, PreviewFailure:
	default:
		return fmt.Errorf("report the preview: state must be one of %s, %s, %s (got %q)", PreviewInProgress, PreviewSuccess, PreviewFailure, state)
	}
	switch a.host {
	case GitHub:
		err = a.reportDeployment(ctx, p, state, description)
	case GitLab:
		if state == PreviewSuccess && p.URL != "" {
			err = a.pointEnvironment(ctx, p)
		}
	}
	if err != nil {
		return fmt.Errorf("report the preview %s of %s/%s: %w", p.Environment, repo.Owner, repo.Name, err)
	}
	return nil
}

// RetirePreview tells the Git host that the preview in environment is
// gone: on GitHub the active deployments of the environment get the status
// inactive (the newest ones, down to the last success: GitHub made the
// older ones inactive when that success came); on GitLab the environment
// is stopped and deleted. Nothing to do on Gitea.
func RetirePreview(ctx context.Context, repo Repo, environment string) error {
	a, err := previewAPI(repo, environment)
	if err != nil || a == nil {
		return err
	}
	switch a.host {
	case GitHub:
		err = a.retireDeployments(ctx, environment)
	case GitLab:
		err = a.removeEnvironment(ctx, environment)
	}
	if err != nil {
		return fmt.Errorf("retire the preview %s of %s/%s: %w", environment, repo.Owner, repo.Name, err)
	}
	return nil
}

// previewAPI is the API previews are reported through; nil for a host
// that has none (Gitea).
func previewAPI(repo Repo, environment string) (*api, error) {
	if environment == "" {
		return nil, fmt.Errorf("report the preview: the environment name is empty")
	}
	a, err := repo.api()
	if err != nil {
		return nil, err
	}
	if a.host == Gitea {
		return nil, nil
	}
	if repo.Token == "" {
		return nil, fmt.Errorf("report the preview %s on %s/%s: a token is required", environment, repo.Owner, repo.Name)
	}
	return a, nil
}

// githubDeployment is what the provider sends and reads of a GitHub
// deployment ("Create a deployment", REST API 2022-11-28).
type githubDeployment struct {
	ID  int64  `json:"id,omitempty"`
	Ref string `json:"ref"`
	SHA string `json:"sha,omitempty"`
	// Environment, description: as sent; the rest only sent.
	Environment      string    `json:"environment"`
	Description      string    `json:"description,omitempty"`
	AutoMerge        *bool     `json:"auto_merge,omitempty"`
	RequiredContexts *[]string `json:"required_contexts,omitempty"`
}

// githubDeploymentStatus is a deployment status, sent and read.
type githubDeploymentStatus struct {
	State          string `json:"state"`
	Description    string `json:"description,omitempty"`
	EnvironmentURL string `json:"environment_url,omitempty"`
}

// reportDeployment creates the deployment of p.SHA on in_progress, finds it
// for a later state (creating it when the in_progress report was lost),
// and adds the status.
func (a *api) reportDeployment(ctx context.Context, p Preview, state, description string) error {
	var id int64
	if state != PreviewInProgress {
		d, err := a.findDeployment(ctx, p.Environment, p.SHA)
		if err != nil {
			return err
		}
		id = d.ID
	}
	if id == 0 {
		no, none := false, []string{}
		var d githubDeployment
		c := call{method: http.MethodPost, path: a.project() + "/deployments", body: githubDeployment{
			Ref: p.SHA, Environment: p.Environment, Description: "tinyforge deploy of " + p.SHA[:12],
			AutoMerge: &no, RequiredContexts: &none,
		}}
		if _, err := a.do(ctx, c, &d); err != nil {
			return err
		}
		if d.ID == 0 {
			return fmt.Errorf("%s %s: the answer names no deployment", c.method, a.endpoint(c))
		}
		id = d.ID
	}
	status := githubDeploymentStatus{State: state, Description: shorten(description, maxDescription)}
	if state == PreviewSuccess {
		status.EnvironmentURL = p.URL
	}
	_, err := a.do(ctx, a.deploymentStatusCall(id, status), nil)
	return err
}

func (a *api) deploymentStatusCall(id int64, s githubDeploymentStatus) call {
	return call{method: http.MethodPost, path: a.project() + "/deployments/" + strconv.FormatInt(id, 10) + "/statuses", body: s}
}

// findDeployment is the newest deployment of sha to environment; ID 0 when
// there is none.
func (a *api) findDeployment(ctx context.Context, environment, sha string) (githubDeployment, error) {
	var ds []githubDeployment
	q := url.Values{"sha": {sha}, "environment": {environment}, "per_page": {"1"}}
	if _, err := a.do(ctx, call{method: http.MethodGet, path: a.project() + "/deployments", query: q}, &ds); err != nil {
		return githubDeployment{}, err
	}
	if len(ds) == 0 {
		return githubDeployment{}, nil
	}
	return ds[0], nil
}

// retireDeployments marks inactive the deployments of environment that may
// still be active: newest first, down to the newest success (which made
// the ones before it inactive) or one already inactive. One page of 100:
// a preview deployed more often than that between two successes is beyond
// what a destroy walks.
func (a *api) retireDeployments(ctx context.Context, environment string) error {
	var ds []githubDeployment
	q := url.Values{"environment": {environment}, "per_page": {"100"}}
	if _, err := a.do(ctx, call{method: http.MethodGet, path: a.project() + "/deployments", query: q}, &ds); err != nil {
		return err
	}
	for _, d := range ds {
		var statuses []githubDeploymentStatus
		path := a.project() + "/deployments/" + strconv.FormatInt(d.ID, 10) + "/statuses"
		if _, err := a.do(ctx, call{method: http.MethodGet, path: path, query: url.Values{"per_page": {"1"}}}, &statuses); err != nil {
			return err
		}
		latest := ""
		if len(statuses) > 0 {
			latest = statuses[0].State
		}
		switch latest {
		case PreviewRetired:
			return nil
		case PreviewFailure, "error":
			continue // never active
		}
		if _, err := a.do(ctx, a.deploymentStatusCall(d.ID, githubDeploymentStatus{State: PreviewRetired, Description: "destroyed"}), nil); err != nil {
			return err
		}
		if latest == PreviewSuccess {
			return nil
		}
	}
	return nil
}

// gitlabEnvironment is what the provider sends and reads of a GitLab
// environment (Environments API).
type gitlabEnvironment struct {
	ID          int64  `json:"id,omitempty"`
	Name        string `json:"name,omitempty"`
	ExternalURL string `json:"external_url,omitempty"`
	Tier        string `json:"tier,omitempty"`
	State       string `json:"state,omitempty"`
}

// findEnvironment is the environment named name; ID 0 when there is none.
func (a *api) findEnvironment(ctx context.Context, name string) (gitlabEnvironment, error) {
	var envs []gitlabEnvironment
	c := call{method: http.MethodGet, path: a.project() + "/environments", query: url.Values{"name": {name}}}
	if _, err := a.do(ctx, c, &envs); err != nil {
		return gitlabEnvironment{}, err
	}
	for _, e := range envs {
		if e.Name == name {
			return e, nil
		}
	}
	return gitlabEnvironment{}, nil
}

// pointEnvironment creates the environment of p with its URL, or updates
// the URL of the one there.
func (a *api) pointEnvironment(ctx context.Context, p Preview) error {
	env, err := a.findEnvironment(ctx, p.Environment)
	switch {
	case err != nil:
		return err
	case env.ID == 0:
		c := call{method: http.MethodPost, path: a.project() + "/environments",
			body: gitlabEnvironment{Name: p.Environment, ExternalURL: p.URL, Tier: "development"}}
		_, err = a.do(ctx, c, nil)
	case env.ExternalURL != p.URL:
		c := call{method: http.MethodPut, path: a.project() + "/environments/" + strconv.FormatInt(env.ID, 10),
			body: gitlabEnvironment{ExternalURL: p.URL}}
		_, err = a.do(ctx, c, nil)
	}
	return err
}

// removeEnvironment stops the environment and deletes it (GitLab deletes
// only a stopped environment); none is nothing to do.
func (a *api) removeEnvironment(ctx context.Context, name string) error {
	env, err := a.findEnvironment(ctx, name)
	if err != nil || env.ID == 0 {
		return err
	}
	path := a.project() + "/environments/" + strconv.FormatInt(env.ID, 10)
	if env.State != "stopped" {
		if _, err := a.do(ctx, call{method: http.MethodPost, path: path + "/stop"}, nil); err != nil {
			return err
		}
	}
	_, err = a.do(ctx, call{method: http.MethodDelete, path: path}, nil)
	return err
}
