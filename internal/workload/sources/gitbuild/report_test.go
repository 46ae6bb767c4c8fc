package gitbuild

import (
	"context"
	"strings"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
)

// TestReportTellsGitHubWhereThePreviewRuns: with report_commit_status, a
// deploy's reports are commit statuses whose target is the preview's URL
// and a deployment to preview/<workload> with its statuses; retiring marks
// it inactive; without report_commit_status nothing is sent.
func TestReportTellsGitHubWhereThePreviewRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := acctest.StartGitServer(t)
	fixture := srv.CreateRepo(t, "acme", "web")
	fixture.Commit(t, map[string][]byte{"a": []byte("a")}, "main")
	sha := fixture.CommitTo(t, "fix", map[string]acctest.File{"a": {Content: []byte("fix")}}, "fix")
	r := Repo{Provider: "github", BaseURL: srv.URL, RepoOwner: "acme", RepoName: "web", Branch: "fix", Ref: sha,
		Token: srv.Token, PreviewURL: "http://pr-1.preview.example.test"}

	if err := r.Report(ctx, "web-pr-1", sha, plugin.DeployPending, "deploying"); err != nil {
		t.Fatalf("Report without report_commit_status: %v", err)
	}
	if calls := srv.GitHub.Calls(); len(calls) != 0 {
		t.Fatalf("report_commit_status is false, yet the host got %v", calls)
	}

	r.ReportCommitStatus = true
	for _, s := range []plugin.DeployState{plugin.DeployPending, plugin.DeploySuccess} {
		if err := r.Report(ctx, "web-pr-1", sha, s, "deploy "+string(s)); err != nil {
			t.Fatalf("Report(%s): %v", s, err)
		}
	}
	statuses := srv.GitHub.Statuses()
	if len(statuses) != 2 || statuses[1].State != "success" || statuses[1].TargetURL != r.PreviewURL || statuses[1].Context != "tinyforge/web-pr-1" {
		t.Errorf("commit statuses %+v: want pending then success, targeting %s", statuses, r.PreviewURL)
	}
	ds := srv.GitHub.Deployments("acme/web")
	if len(ds) != 1 || ds[0].Environment != "preview/web-pr-1" || ds[0].SHA != sha || len(ds[0].Statuses) != 2 ||
		ds[0].Statuses[0].State != "in_progress" || ds[0].Statuses[1].State != "success" || ds[0].Statuses[1].EnvironmentURL != r.PreviewURL {
		t.Fatalf("deployments %+v", ds)
	}

	if err := r.Report(ctx, "web-pr-1", "", plugin.DeployRetired, "destroyed"); err != nil {
		t.Fatalf("Report(retired): %v", err)
	}
	ds = srv.GitHub.Deployments("acme/web")
	if last := ds[0].Statuses[len(ds[0].Statuses)-1]; last.State != "inactive" {
		t.Errorf("after retire the deployment's last status is %+v, want inactive", last)
	}
	if n := len(srv.GitHub.Statuses()); n != 2 {
		t.Errorf("retiring set a commit status (%d in all)", n)
	}
}

func TestValidatePreviewURL(t *testing.T) {
	t.Parallel()
	for u, want := range map[string]string{
		"":                            "",
		"http://pr-1.example.test":    "",
		"https://pr-1.example.test/x": "",
		"pr-1.example.test":           `preview_url must be an http:// or https:// URL`,
		"ftp://pr-1.example.test":     `(got "ftp://pr-1.example.test")`,
		"https://u:p@pr.example.test": "no credentials",
	} {
		err := ValidatePreviewURL(u)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("ValidatePreviewURL(%q) = %v, want %q", u, err, want)
		}
	}
}
