package acctest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

type rawResponse struct {
	code int
	body string
}

// postStatus sends one raw request, so a test can send what no client of
// ours would (a wrong state, a missing header).
func postStatus(t *testing.T, url string, headers map[string]string, body string) rawResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
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

// TestStatusAPIsEnforceTheDocumentedShape sends each stand-in a valid request
// and a series of malformed ones; each malformed one must be refused with the
// code the real host answers, and only the valid one recorded.
func TestStatusAPIsEnforceTheDocumentedShape(t *testing.T) {
	t.Parallel()
	const token = "s3cret-token"
	const sha = "0123456789abcdef0123456789abcdef01234567"
	hosts := []struct {
		name     string
		api      *HostAPI
		path     string
		auth     map[string]string
		good     string
		badState string
		invalid  int
		extra    map[string]rawCase
	}{
		{
			name: "github", api: NewGitHubAPI(token),
			path: "/api/v3/repos/acme/web/statuses/" + sha,
			auth: map[string]string{"Authorization": "Bearer " + token, "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"},
			good: `{"state":"failure","target_url":"https://ci.example.test/1","description":"build failed","context":"tinyforge/web"}`,
			// GitLab's word is not GitHub's.
			badState: `{"state":"failed","context":"tinyforge/web"}`,
			invalid:  http.StatusUnprocessableEntity,
			extra: map[string]rawCase{
				"old token form":        {headers: map[string]string{"Authorization": "token " + token}, body: `{"state":"pending"}`, want: http.StatusCreated},
				"api.github.com root":   {path: "/repos/acme/web/statuses/" + sha, body: `{"state":"success"}`, want: http.StatusCreated},
				"unsupported version":   {headers: map[string]string{"X-GitHub-Api-Version": "2020-01-01"}, body: `{"state":"success"}`, want: http.StatusBadRequest},
				"no user agent":         {headers: map[string]string{"User-Agent": ""}, body: `{"state":"success"}`, want: http.StatusForbidden},
				"gitlab field name":     {body: `{"state":"success","name":"x"}`, want: http.StatusUnprocessableEntity},
				"abbreviated sha":       {path: "/api/v3/repos/acme/web/statuses/0123456", body: `{"state":"success"}`, want: http.StatusUnprocessableEntity, answer: true},
				"malformed json":        {body: `{"state":`, want: http.StatusBadRequest},
				"target_url not a link": {body: `{"state":"success","target_url":"javascript:x"}`, want: http.StatusUnprocessableEntity},
			},
		},
		{
			name: "gitea", api: NewGiteaAPI(token),
			path:     "/api/v1/repos/acme/web/statuses/" + sha,
			auth:     map[string]string{"Authorization": "token " + token},
			good:     `{"state":"success","target_url":"https://ci.example.test/1","description":"deployed","context":"tinyforge/web"}`,
			badState: `{"state":"running"}`,
			invalid:  http.StatusUnprocessableEntity,
			extra: map[string]rawCase{
				"bearer form":    {headers: map[string]string{"Authorization": "Bearer " + token}, body: `{"state":"warning"}`, want: http.StatusCreated},
				"not under v1":   {path: "/repos/acme/web/statuses/" + sha, body: `{"state":"success"}`, want: http.StatusNotFound},
				"missing state":  {body: `{"context":"x"}`, want: http.StatusUnprocessableEntity},
				"form body":      {headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, body: `state=success`, want: http.StatusUnsupportedMediaType},
				"github's token": {headers: map[string]string{"Authorization": "token wrong"}, body: `{"state":"success"}`, want: http.StatusUnauthorized},
			},
		},
		{
			name: "gitlab", api: NewGitLabAPI(token),
			path:     "/api/v4/projects/group%2Fsub%2Fweb/statuses/" + sha,
			auth:     map[string]string{"PRIVATE-TOKEN": token},
			good:     `{"state":"failed","ref":"main","name":"tinyforge/web","target_url":"https://ci.example.test/1","description":"gate failed"}`,
			badState: `{"state":"failure"}`,
			invalid:  http.StatusBadRequest,
			extra: map[string]rawCase{
				"unencoded project path": {path: "/api/v4/projects/group/sub/web/statuses/" + sha, body: `{"state":"success"}`, want: http.StatusNotFound},
				"bearer form":            {headers: map[string]string{"PRIVATE-TOKEN": "", "Authorization": "Bearer " + token}, body: `{"state":"running"}`, want: http.StatusCreated},
				"github header form":     {headers: map[string]string{"PRIVATE-TOKEN": "", "Authorization": "token " + token}, body: `{"state":"success"}`, want: http.StatusUnauthorized},
				"form body":              {headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, body: `state=canceled&name=x`, want: http.StatusCreated},
			},
		},
	}
	for _, h := range hosts {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			base := StartHostAPI(t, h.api)
			headers := func(extra map[string]string) map[string]string {
				m := map[string]string{"Content-Type": "application/json", "User-Agent": "tinyforge-test"}
				for k, v := range h.auth {
					m[k] = v
				}
				for k, v := range extra {
					m[k] = v
				}
				return m
			}

			res := postStatus(t, base+h.path, headers(nil), h.good)
			if res.code != http.StatusCreated {
				t.Fatalf("valid request: %d %s", res.code, res.body)
			}
			var created map[string]any
			if err := json.Unmarshal([]byte(res.body), &created); err != nil || created["id"] == nil {
				t.Errorf("201 body is not the created status: %s", res.body)
			}
			got := h.api.Statuses()
			if len(got) != 1 || got[0].SHA != sha || got[0].Context != "tinyforge/web" || got[0].TargetURL != "https://ci.example.test/1" {
				t.Fatalf("recorded %+v", got)
			}

			cases := map[string]rawCase{
				"wrong state":     {body: h.badState, want: h.invalid},
				"unknown field":   {body: `{"state":"success","colour":"green"}`, want: h.invalid},
				"wrong token":     {headers: map[string]string{"Authorization": "Bearer nope", "PRIVATE-TOKEN": "nope"}, body: `{"state":"success"}`, want: http.StatusUnauthorized},
				"no content type": {headers: map[string]string{"Content-Type": ""}, body: `{"state":"success"}`, want: http.StatusUnsupportedMediaType},
			}
			for name, c := range h.extra {
				cases[name] = c
			}
			accepted, violations := 1, 0
			for name, c := range cases {
				path := h.path
				if c.path != "" {
					path = c.path
				}
				res := postStatus(t, base+path, headers(c.headers), c.body)
				if res.code != c.want {
					t.Errorf("%s: %d %s, want %d", name, res.code, res.body, c.want)
				}
				switch {
				case res.code == http.StatusCreated:
					accepted++
				case res.code != http.StatusUnauthorized && !c.answer:
					violations++
				}
			}
			if n := len(h.api.Statuses()); n != accepted {
				t.Errorf("recorded %d statuses, want %d (only accepted ones)", n, accepted)
			}
			// Every refusal for the request's shape is a violation that
			// fails the test that made it; a wrong token is not one.
			if got := h.api.TakeViolations(); len(got) != violations {
				t.Errorf("%d violations recorded, want %d:\n%s", len(got), violations, strings.Join(got, "\n"))
			}

			h.api.FailWith(http.StatusInternalServerError)
			if res := postStatus(t, base+h.path, headers(nil), h.good); res.code != http.StatusInternalServerError {
				t.Errorf("FailWith(500): got %d", res.code)
			}
			h.api.FailWith(0)
			if res := postStatus(t, base+h.path, headers(nil), h.good); res.code != http.StatusCreated {
				t.Errorf("after FailWith(0): got %d %s", res.code, res.body)
			}
		})
	}
}

type rawCase struct {
	path    string
	headers map[string]string
	body    string
	want    int
	// answer: refused as the host answers such data (a commit it does
	// not hold), not for the request's shape.
	answer bool
}
