package acctest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// send makes one raw request to a stand-in.
func send(t *testing.T, method, url string, headers map[string]string, body string) rawResponse {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return rawResponse{res.StatusCode, string(b)}
}

// TestHostAPIsEnforceTheDocumentedShapeOfPreviews sends the pull request,
// deployment and environment endpoints one valid request each, then
// malformed ones: each malformed one is refused with the host's code and
// recorded as a violation (which fails the test that sent it), and the
// valid ones answer in the host's shape.
func TestHostAPIsEnforceTheDocumentedShapeOfPreviews(t *testing.T) {
	t.Parallel()
	const token = "shape-token"
	const sha = "0123456789abcdef0123456789abcdef01234567"
	type step struct {
		method, path, body string
		want               int
	}
	for _, h := range []struct {
		name    string
		api     *HostAPI
		auth    map[string]string
		good    []step
		bad     []step
		checked func(t *testing.T, api *HostAPI)
	}{
		{
			name: "github", api: NewGitHubAPI(token),
			auth: map[string]string{"Authorization": "Bearer " + token, "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"},
			good: []step{
				{"GET", "/api/v3/repos/acme/web/pulls?state=all&per_page=100&page=1&base=main", "", 200},
				{"POST", "/api/v3/repos/acme/web/deployments", `{"ref":"` + sha + `","environment":"preview/web","auto_merge":false,"required_contexts":[],"payload":{"x":1}}`, 201},
				{"POST", "/api/v3/repos/acme/web/deployments/2/statuses", `{"state":"success","environment_url":"http://web.example.test","description":"deployed"}`, 201},
				{"GET", "/api/v3/repos/acme/web/deployments?sha=" + sha + "&environment=preview%2Fweb&per_page=1", "", 200},
				{"GET", "/api/v3/repos/acme/web/deployments/2/statuses?per_page=1", "", 200},
			},
			bad: []step{
				{"GET", "/api/v3/repos/acme/web/pulls?state=merged", "", 422},
				{"GET", "/api/v3/repos/acme/web/pulls?colour=green", "", 422},
				{"GET", "/api/v3/repos/acme/web/pulls?per_page=0", "", 422},
				{"POST", "/api/v3/repos/acme/web/pulls", `{}`, 405},
				{"POST", "/api/v3/repos/acme/web/deployments", `{"environment":"preview/web"}`, 422},
				{"POST", "/api/v3/repos/acme/web/deployments", `{"ref":"` + sha + `","environment_url":"http://x"}`, 422},
				{"POST", "/api/v3/repos/acme/web/deployments/2/statuses", `{"state":"destroyed"}`, 422},
				{"POST", "/api/v3/repos/acme/web/deployments/2/statuses", `{"state":"failure","description":"` + strings.Repeat("x", 141) + `"}`, 422},
				{"POST", "/api/v3/repos/acme/web/deployments/2/statuses", `{"state":"success","environment_url":"javascript:x"}`, 422},
				{"POST", "/api/v3/repos/acme/web/deployments/99/statuses", `{"state":"success"}`, 404},
				{"GET", "/api/v3/repos/acme/web/deployments?environment=a&page=x", "", 422},
				{"GET", "/api/v3/repos/acme/web/environments", "", 404},
			},
			checked: func(t *testing.T, api *HostAPI) {
				ds := api.Deployments("acme/web")
				if len(ds) != 1 || ds[0].SHA != sha || len(ds[0].Statuses) != 1 || ds[0].Statuses[0].EnvironmentURL != "http://web.example.test" {
					t.Errorf("deployments %+v", ds)
				}
			},
		},
		{
			name: "gitea", api: NewGiteaAPI(token),
			auth: map[string]string{"Authorization": "token " + token},
			good: []step{{"GET", "/api/v1/repos/acme/web/pulls?state=open&limit=50&page=2&base_branch=main", "", 200}},
			bad: []step{
				{"GET", "/api/v1/repos/acme/web/pulls?per_page=50", "", 422},
				{"GET", "/api/v1/repos/acme/web/pulls?state=opened", "", 422},
				{"POST", "/api/v1/repos/acme/web/deployments", `{"ref":"main"}`, 404},
			},
		},
		{
			name: "gitlab", api: NewGitLabAPI(token),
			auth: map[string]string{"PRIVATE-TOKEN": token},
			good: []step{
				{"GET", "/api/v4/projects/acme%2Fweb/merge_requests?state=opened&per_page=100&page=1&target_branch=main", "", 200},
				{"POST", "/api/v4/projects/acme%2Fweb/environments", `{"name":"preview/web","external_url":"http://web.example.test","tier":"development"}`, 201},
				{"GET", "/api/v4/projects/acme%2Fweb/environments?name=preview%2Fweb", "", 200},
				{"PUT", "/api/v4/projects/acme%2Fweb/environments/2", `{"external_url":"http://other.example.test"}`, 200},
			},
			bad: []step{
				{"GET", "/api/v4/projects/acme%2Fweb/merge_requests?state=open", "", 400},
				{"GET", "/api/v4/projects/acme/web/merge_requests", "", 404},
				{"POST", "/api/v4/projects/acme%2Fweb/environments", `{"name":"preview/web"}`, 400},
				{"POST", "/api/v4/projects/acme%2Fweb/environments", `{"name":"/bad"}`, 400},
				{"POST", "/api/v4/projects/acme%2Fweb/environments", `{"name":"x","tier":"preview"}`, 400},
				{"POST", "/api/v4/projects/acme%2Fweb/environments", `{"name":"x","external_url":"ftp://x"}`, 400},
				{"PUT", "/api/v4/projects/acme%2Fweb/environments/2", `{"name":"renamed"}`, 400},
				{"GET", "/api/v4/projects/acme%2Fweb/environments?name=a&search=b", "", 400},
				{"DELETE", "/api/v4/projects/acme%2Fweb/environments/2", "", 403},
				{"POST", "/api/v4/projects/acme%2Fweb/environments/7/stop", "", 404},
			},
			checked: func(t *testing.T, api *HostAPI) {
				envs := api.Environments("acme/web")
				if len(envs) != 1 || envs[0].ExternalURL != "http://other.example.test" || envs[0].State != "available" {
					t.Errorf("environments %+v", envs)
				}
			},
		},
	} {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			base := StartHostAPI(t, h.api)
			h.api.OpenPullRequest("acme/web", PullRequest{Title: "one", Author: "dev", HeadBranch: "one", HeadSHA: sha})
			headers := map[string]string{"Content-Type": "application/json", "User-Agent": "tinyforge-test"}
			for k, v := range h.auth {
				headers[k] = v
			}
			for _, s := range h.good {
				res := send(t, s.method, base+s.path, headers, s.body)
				if res.code != s.want {
					t.Fatalf("%s %s: %d %s, want %d", s.method, s.path, res.code, res.body, s.want)
				}
				var v any
				if err := json.Unmarshal([]byte(res.body), &v); err != nil {
					t.Errorf("%s %s: the answer is not JSON: %s", s.method, s.path, res.body)
				}
			}
			if v := h.api.TakeViolations(); len(v) != 0 {
				t.Fatalf("valid requests were refused: %v", v)
			}
			for _, s := range h.bad {
				if res := send(t, s.method, base+s.path, headers, s.body); res.code != s.want {
					t.Errorf("%s %s %s: %d %s, want %d", s.method, s.path, s.body, res.code, res.body, s.want)
				}
			}
			if v := h.api.TakeViolations(); len(v) != len(h.bad) {
				t.Errorf("%d violations for %d malformed requests:\n%s", len(v), len(h.bad), strings.Join(v, "\n"))
			}
			if h.checked != nil {
				h.checked(t, h.api)
			}
		})
	}
}

// TestGitHubDeploymentsFollowTheRepository: on the Git server, a deployment
// sent with GitHub's defaults (every status context required, auto_merge
// true) is refused as GitHub refuses it, for a commit with a pending status
// and for one behind main, and each refusal is a violation.
func TestGitHubDeploymentsFollowTheRepository(t *testing.T) {
	t.Parallel()
	srv, stop, err := NewGitServer(t.TempDir(), backendLog{t})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	repo := srv.CreateRepo(t, "acme", "web")
	old := repo.Commit(t, map[string][]byte{"a": []byte("a")}, "one")
	head := repo.Commit(t, map[string][]byte{"a": []byte("b")}, "two")
	headers := map[string]string{"Content-Type": "application/json", "User-Agent": "t", "Authorization": "Bearer " + srv.Token}
	deploy := func(body string) rawResponse {
		return send(t, "POST", srv.URL+"/api/v3/repos/acme/web/deployments", headers, body)
	}
	if res := deploy(`{"ref":"` + old + `","required_contexts":[]}`); res.code != http.StatusConflict || !strings.Contains(res.body, "Conflict merging main") {
		t.Errorf("auto_merge by default on a commit behind main: %d %s", res.code, res.body)
	}
	if res := send(t, "POST", srv.URL+"/api/v3/repos/acme/web/statuses/"+head, headers, `{"state":"pending","context":"ci"}`); res.code != http.StatusCreated {
		t.Fatalf("status: %d %s", res.code, res.body)
	}
	if res := deploy(`{"ref":"` + head + `"}`); res.code != http.StatusConflict || !strings.Contains(res.body, "Commit status checks failed") {
		t.Errorf("required_contexts by default on a pending commit: %d %s", res.code, res.body)
	}
	if res := deploy(`{"ref":"main","required_contexts":[]}`); res.code != http.StatusCreated || !strings.Contains(res.body, head) {
		t.Errorf("a branch ref: %d %s", res.code, res.body)
	}
	if res := deploy(`{"ref":"` + strings.Repeat("f", 40) + `","required_contexts":[]}`); res.code != http.StatusUnprocessableEntity {
		t.Errorf("an unknown commit: %d %s", res.code, res.body)
	}
	if v := srv.GitHub.TakeViolations(); len(v) != 2 {
		t.Errorf("violations %q, want the two 409s", v)
	}
}
