package git

import (
	"context"
	"strings"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// deploymentStates lists the states of a deployment's statuses, oldest
// first, those GitHub set itself marked "(host)".
func deploymentStates(d acctest.Deployment) string {
	var out []string
	for _, s := range d.Statuses {
		st := s.State
		if s.ByHost {
			st += "(host)"
		}
		out = append(out, st)
	}
	return strings.Join(out, ",")
}

// TestReportPreviewOnGitHub reports previews through the GitHub stand-in on
// the Git server, which reads the real repository: the deployment of a
// commit whose own status is still pending is accepted (required_contexts
// []), a commit behind main is not merged (auto_merge false), a success
// carries the URL and makes the earlier deployment inactive, a failure its
// reason, and the retirement marks what is active inactive.
func TestReportPreviewOnGitHub(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := acctest.StartGitServer(t)
	fixture := srv.CreateRepo(t, "acme", "web")
	fixture.Commit(t, map[string][]byte{"a": []byte("a")}, "main")
	a := fixture.CommitTo(t, "fix", map[string]acctest.File{"a": {Content: []byte("fix")}}, "fix")
	fixture.Commit(t, map[string][]byte{"b": []byte("b")}, "main moves on: fix is behind")
	b := fixture.CommitTo(t, "fix", map[string]acctest.File{"a": {Content: []byte("fix 2")}}, "fix 2")
	c := fixture.CommitTo(t, "fix", map[string]acctest.File{"a": {Content: []byte("fix 3")}}, "fix 3")
	repo := Repo{Provider: "github", BaseURL: srv.URL, Owner: "acme", Name: "web", Branch: "fix", Token: srv.Token}
	env := "preview/web-pr-1"

	report := func(sha, state, why string) {
		t.Helper()
		if err := ReportPreview(ctx, repo, Preview{Environment: env, SHA: sha, URL: "http://pr-1.preview.example.test"}, state, why); err != nil {
			t.Fatalf("ReportPreview(%s, %s): %v", sha[:7], state, err)
		}
	}
	// The deploy's own commit status is pending while it runs.
	if err := ReportStatus(ctx, repo, a, Status{State: StatePending, Context: "tinyforge/web-pr-1"}); err != nil {
		t.Fatal(err)
	}
	report(a, PreviewInProgress, "")
	report(a, PreviewSuccess, "deployed")
	report(b, PreviewInProgress, "")
	report(b, PreviewSuccess, "deployed")
	report(c, PreviewInProgress, "")
	report(c, PreviewFailure, strings.Repeat("the gate failed: ", 20))

	ds := srv.GitHub.Deployments("acme/web")
	if len(ds) != 3 {
		t.Fatalf("%d deployments, want 3: %+v", len(ds), ds)
	}
	for i, want := range []struct{ sha, states string }{
		{a, "in_progress,success,inactive(host)"},
		{b, "in_progress,success"},
		{c, "in_progress,failure"},
	} {
		d := ds[i]
		if d.SHA != want.sha || d.Ref != want.sha || d.Environment != env || d.AutoMerge || d.RequiredContextsAbsent || d.Production || d.Transient {
			t.Errorf("deployment %d = %+v", i, d)
		}
		if got := deploymentStates(d); got != want.states {
			t.Errorf("deployment %d statuses %s, want %s", i, got, want.states)
		}
	}
	if s := ds[1].Statuses[1]; s.EnvironmentURL != "http://pr-1.preview.example.test" {
		t.Errorf("success status %+v: want the preview's URL as environment_url", s)
	}
	if s := ds[2].Statuses[1]; !strings.HasPrefix(s.Description, "the gate failed") || len([]rune(s.Description)) > 140 {
		t.Errorf("failure status %+v: want the reason, 140 characters at most", s)
	}

	if err := RetirePreview(ctx, repo, env); err != nil {
		t.Fatalf("RetirePreview: %v", err)
	}
	ds = srv.GitHub.Deployments("acme/web")
	for i, want := range []string{"in_progress,success,inactive(host)", "in_progress,success,inactive", "in_progress,failure"} {
		if got := deploymentStates(ds[i]); got != want {
			t.Errorf("after retire, deployment %d statuses %s, want %s", i, got, want)
		}
	}
	// A second retirement finds nothing active and sends no status.
	calls := srv.GitHub.CallsTo("POST ")
	if err := RetirePreview(ctx, repo, env); err != nil {
		t.Fatalf("RetirePreview again: %v", err)
	}
	if n := srv.GitHub.CallsTo("POST ") - calls; n != 0 {
		t.Errorf("a second retirement sent %d statuses", n)
	}

	// A success whose in_progress report was lost creates the deployment.
	d := fixture.CommitTo(t, "fix", map[string]acctest.File{"a": {Content: []byte("fix 4")}}, "fix 4")
	report(d, PreviewSuccess, "deployed")
	ds = srv.GitHub.Deployments("acme/web")
	if last := ds[len(ds)-1]; last.SHA != d || deploymentStates(last) != "success" {
		t.Errorf("success without in_progress: %+v", last)
	}
}

// TestReportPreviewOnGitLabAndGitea: GitLab gets an environment with the
// URL, moved when the URL changes and deleted (after a stop) on
// retirement; Gitea, which has neither, gets no call.
func TestReportPreviewOnGitLabAndGitea(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const token = "env-token"
	const sha = "0123456789abcdef0123456789abcdef01234567"
	gitlab := acctest.NewGitLabAPI(token)
	repo := Repo{Provider: "gitlab", BaseURL: acctest.StartHostAPI(t, gitlab), Owner: "acme/platform", Name: "web", Token: token}
	env := "preview/web-pr-2"
	for _, state := range []string{PreviewInProgress, PreviewSuccess} {
		if err := ReportPreview(ctx, repo, Preview{Environment: env, SHA: sha, URL: "http://pr-2.example.test"}, state, ""); err != nil {
			t.Fatalf("ReportPreview(%s): %v", state, err)
		}
	}
	envs := gitlab.Environments("acme/platform/web")
	if len(envs) != 1 || envs[0].Name != env || envs[0].ExternalURL != "http://pr-2.example.test" || envs[0].State != "available" || envs[0].Tier != "development" {
		t.Fatalf("environments %+v", envs)
	}
	if err := ReportPreview(ctx, repo, Preview{Environment: env, SHA: sha, URL: "http://pr-2.other.test"}, PreviewSuccess, ""); err != nil {
		t.Fatal(err)
	}
	if envs = gitlab.Environments("acme/platform/web"); len(envs) != 1 || envs[0].ExternalURL != "http://pr-2.other.test" {
		t.Fatalf("after a new URL: %+v", envs)
	}
	if err := RetirePreview(ctx, repo, env); err != nil {
		t.Fatalf("RetirePreview: %v", err)
	}
	if envs = gitlab.Environments("acme/platform/web"); len(envs) != 0 {
		t.Errorf("after retire: %+v", envs)
	}

	gitea := acctest.NewGiteaAPI(token)
	repo = Repo{Provider: "gitea", BaseURL: acctest.StartHostAPI(t, gitea), Owner: "acme", Name: "web", Token: token}
	if err := ReportPreview(ctx, repo, Preview{Environment: env, SHA: sha, URL: "http://x.test"}, PreviewSuccess, ""); err != nil {
		t.Fatal(err)
	}
	if err := RetirePreview(ctx, repo, env); err != nil {
		t.Fatal(err)
	}
	if calls := gitea.Calls(); len(calls) != 0 {
		t.Errorf("Gitea got %v; it has no deployments", calls)
	}

	repo.Provider, repo.BaseURL, repo.Token = "github", "https://ghe.example.test", ""
	if err := ReportPreview(ctx, repo, Preview{Environment: env, SHA: sha}, PreviewSuccess, ""); err == nil || !strings.Contains(err.Error(), "a token is required") {
		t.Errorf("no token: %v", err)
	}
}
