package git

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

const statusSHA = "0123456789abcdef0123456789abcdef01234567"

// TestReportStatusToEachHost reports through each host's stand-in, which
// refuses anything but the documented request shape, and checks what it
// recorded, in the host's own words.
func TestReportStatusToEachHost(t *testing.T) {
	t.Parallel()
	const token = "status-token-42"
	long := strings.Repeat("é", 200)
	for _, tc := range []struct {
		name     string
		api      *acctest.HostAPI
		provider string
		owner    string
		state    string
		want     acctest.ReceivedStatus
	}{
		{"github enterprise", acctest.NewGitHubAPI(token), "github", "acme", StateError,
			acctest.ReceivedStatus{Project: "acme/web", State: "error"}},
		{"gitea", acctest.NewGiteaAPI(token), "gitea", "acme", StateSuccess,
			acctest.ReceivedStatus{Project: "acme/web", State: "success"}},
		{"gitlab subgroup", acctest.NewGitLabAPI(token), "gitlab", "acme/platform", StateFailure,
			acctest.ReceivedStatus{Project: "acme/platform/web", State: "failed", Ref: "main"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			base := acctest.StartHostAPI(t, tc.api)
			repo := Repo{Provider: tc.provider, BaseURL: base, Owner: tc.owner, Name: "web", Branch: "main", Token: token}
			s := Status{State: tc.state, Context: "tinyforge/web", Description: long, TargetURL: "https://deploy.example.test/web"}
			if err := ReportStatus(ctx, repo, statusSHA, s); err != nil {
				t.Fatalf("ReportStatus: %v", err)
			}
			got := tc.api.Statuses()
			want := tc.want
			want.SHA, want.Context, want.TargetURL = statusSHA, "tinyforge/web", "https://deploy.example.test/web"
			want.Description = strings.Repeat("é", 139) + "…"
			if len(got) != 1 || got[0] != want {
				t.Fatalf("recorded %+v\nwant     %+v", got, want)
			}

			// The stand-in is no rubber stamp: our own request with a state
			// the host does not know, sent raw, is refused and not recorded.
			a, c, err := statusCall(repo, statusSHA, s)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := a.request(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			raw.Body = io.NopCloser(strings.NewReader(`{"state":"bogus"}`))
			raw.ContentLength = -1
			res, err := http.DefaultClient.Do(raw)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusUnprocessableEntity && res.StatusCode != http.StatusBadRequest {
				t.Errorf("raw request with state bogus: %d; want 422 or 400", res.StatusCode)
			}
			if n := len(tc.api.Statuses()); n != 1 {
				t.Errorf("%d statuses recorded after a refused request; want 1", n)
			}
			if v := tc.api.TakeViolations(); len(v) != 1 {
				t.Errorf("violations after one malformed request: %q; want one", v)
			}

			// Best effort is the caller's policy; here the failure must be
			// reported with its code and a piece of the answer, no token.
			tc.api.FailWith(http.StatusInternalServerError)
			err = ReportStatus(ctx, repo, statusSHA, s)
			if err == nil || !strings.Contains(err.Error(), "500 Internal Server Error") || !strings.Contains(err.Error(), `"message":"Internal Server Error"`) {
				t.Errorf("host failing: %v; want the status code and a body excerpt", err)
			}
			tc.api.FailWith(0)

			repo.Token = "not-" + token
			err = ReportStatus(ctx, repo, statusSHA, s)
			if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), repo.Token) {
				t.Errorf("wrong token: %v; want a 401 without the token", err)
			}
		})
	}
}

// TestReportStatusOnTheGitServer is the path a workload takes: the base URL
// that serves the clone also serves the status API (provider detected as
// Gitea), and a status lands on the real pushed commit.
func TestReportStatusOnTheGitServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := acctest.StartGitServer(t)
	fixture := srv.CreateRepo(t, "acme", "web")
	sha := fixture.Commit(t, map[string][]byte{"index.html": []byte("hi")}, "site")
	repo := repoOn(srv, fixture)

	if err := ReportStatus(ctx, repo, sha, Status{State: StatePending, Context: "tinyforge/web", Description: "deploying"}); err != nil {
		t.Fatalf("ReportStatus: %v", err)
	}
	if got := srv.Statuses(); len(got) != 1 || got[0].SHA != sha || got[0].State != "pending" || got[0].Description != "deploying" {
		t.Errorf("recorded %+v", got)
	}
	// A SHA the repository does not have: the host says so, we pass it on.
	err := ReportStatus(ctx, repo, statusSHA, Status{State: StateSuccess})
	if err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "object does not exist") {
		t.Errorf("unknown SHA: %v", err)
	}
}

func TestReportStatusRefusesBadInputBeforeSending(t *testing.T) {
	t.Parallel()
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { requests.Add(1) }))
	t.Cleanup(srv.Close)
	repo := Repo{BaseURL: srv.URL, Owner: "acme", Name: "web", Branch: "main", Token: "t"}
	for _, tc := range []struct {
		repo    Repo
		sha     string
		state   string
		wantErr string
	}{
		{repo, statusSHA, "failed", `state must be one of pending, success, failure, error (got "failed")`},
		{repo, "abc123", StateSuccess, `(got "abc123")`},
		{Repo{BaseURL: srv.URL, Owner: "acme", Name: "web", Branch: "main"}, statusSHA, StateSuccess, "a token is required"},
		{Repo{Provider: "gitea", Owner: "acme", Name: "web", Branch: "main", Token: "t"}, statusSHA, StateSuccess, "base_url is required"},
	} {
		err := ReportStatus(context.Background(), tc.repo, tc.sha, Status{State: tc.state})
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("ReportStatus(%q, %q) = %v; want %q", tc.sha, tc.state, err, tc.wantErr)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests sent for invalid input", n)
	}
}

// TestReportStatusDoesNotFollowRedirects: a redirect would carry the token
// header elsewhere (net/http keeps custom headers such as PRIVATE-TOKEN).
func TestReportStatusDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	var followed atomic.Bool
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { followed.Store(true) }))
	t.Cleanup(elsewhere.Close)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirector.Close)
	repo := Repo{Provider: "gitlab", BaseURL: redirector.URL, Owner: "acme", Name: "web", Branch: "main", Token: "secret-gl"}
	err := ReportStatus(context.Background(), repo, statusSHA, Status{State: StateSuccess})
	if err == nil || !strings.Contains(err.Error(), "307") {
		t.Errorf("redirect: %v; want an error with the 307", err)
	}
	if followed.Load() {
		t.Error("the redirect was followed")
	}
}

// TestStatusEndpoints locks the URL each host is reached at, including
// github.com's API host, which no test can reach.
func TestStatusEndpoints(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		repo Repo
		want string
	}{
		{Repo{}, "https://api.github.com/repos/acme/web/statuses/" + statusSHA},
		{Repo{BaseURL: "https://github.com/"}, "https://api.github.com/repos/acme/web/statuses/" + statusSHA},
		{Repo{Provider: "github", BaseURL: "https://ghe.example.com"}, "https://ghe.example.com/api/v3/repos/acme/web/statuses/" + statusSHA},
		{Repo{BaseURL: "https://git.example.com/gitea"}, "https://git.example.com/gitea/api/v1/repos/acme/web/statuses/" + statusSHA},
		{Repo{BaseURL: "https://gitlab.example.com", Owner: "acme/team"}, "https://gitlab.example.com/api/v4/projects/acme%2Fteam%2Fweb/statuses/" + statusSHA},
	} {
		repo := tc.repo
		if repo.Owner == "" {
			repo.Owner = "acme"
		}
		repo.Name, repo.Branch, repo.Token = "web", "main", "t"
		a, c, err := statusCall(repo, statusSHA, Status{State: StateSuccess})
		if err != nil {
			t.Fatalf("%+v: %v", repo, err)
		}
		if got := a.endpoint(c); got != tc.want {
			t.Errorf("endpoint for %q = %s; want %s", tc.repo.BaseURL, got, tc.want)
		}
	}
}
