package npmstandin_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest/npmstandin"
)

const (
	email    = "admin@example.test"
	password = "stand-in-password"
)

// answer is one decoded API answer.
type answer struct {
	status int
	body   any
}

func (a answer) message() string {
	m, _ := a.body.(map[string]any)
	e, _ := m["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

func (a answer) object() map[string]any {
	m, _ := a.body.(map[string]any)
	return m
}

// call sends one request to the stand-in's API; body is raw JSON ("" for
// none) and token "" sends no Authorization header.
func call(t *testing.T, s *npmstandin.Server, method, path, token, body string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s %s: answer is not JSON: %q", method, path, raw)
	}
	return answer{resp.StatusCode, doc}
}

func login(t *testing.T, s *npmstandin.Server) string {
	t.Helper()
	a := call(t, s, "POST", "/api/tokens", "", fmt.Sprintf(`{"identity":%q,"secret":%q}`, email, password))
	if a.status != 200 {
		t.Fatalf("login: %d %v", a.status, a.body)
	}
	return a.object()["token"].(string)
}

func schemas(t *testing.T) *npmstandin.Schemas {
	t.Helper()
	sch, err := npmstandin.LoadSchemas()
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// TestRefusesWhatNPMRefuses checks each documented validation answer: a
// stand-in that accepted these would let a client bug through that the real
// server rejects.
func TestRefusesWhatNPMRefuses(t *testing.T) {
	t.Parallel()
	s := npmstandin.New(t, email, password)
	tok := login(t, s)
	sch := schemas(t)
	id := s.SeedHost([]string{"taken.example.test"}, "127.0.0.1", 8080, nil)

	for _, tc := range []struct {
		name, method, path, body, want string
	}{
		{"unknown property on create", "POST", "/api/nginx/proxy-hosts",
			`{"domain_names":["a.example.test"],"forward_scheme":"http","forward_host":"127.0.0.1","forward_port":80,"nope":1}`,
			"data must NOT have additional properties"},
		{"missing forward_host", "POST", "/api/nginx/proxy-hosts",
			`{"domain_names":["a.example.test"],"forward_scheme":"http","forward_port":80}`,
			"data must have required property 'forward_host'"},
		{"forward_port 0", "PUT", fmt.Sprintf("/api/nginx/proxy-hosts/%d", id), `{"forward_port":0}`,
			"data/forward_port must be >= 1"},
		{"scheme ftp", "PUT", fmt.Sprintf("/api/nginx/proxy-hosts/%d", id), `{"forward_scheme":"ftp"}`,
			"data/forward_scheme must be equal to one of the allowed values"},
		{"empty PUT", "PUT", fmt.Sprintf("/api/nginx/proxy-hosts/%d", id), `{}`,
			"data must NOT have fewer than 1 properties"},
		{"id in PUT", "PUT", fmt.Sprintf("/api/nginx/proxy-hosts/%d", id), `{"id":3}`,
			"data must NOT have additional properties"},
		{"domain of another host", "POST", "/api/nginx/proxy-hosts",
			`{"domain_names":["taken.example.test"],"forward_scheme":"http","forward_host":"127.0.0.1","forward_port":80}`,
			"taken.example.test is already in use"},
		{"extra token property", "POST", "/api/tokens",
			fmt.Sprintf(`{"identity":%q,"secret":%q,"expiry":"1d"}`, email, password),
			"data must NOT have additional properties"},
	} {
		a := call(t, s, tc.method, tc.path, tok, tc.body)
		if a.status != 400 || a.message() != tc.want {
			t.Errorf("%s: got %d %q, want 400 %q", tc.name, a.status, a.message(), tc.want)
		}
		if msg := npmstandin.Message(sch.ErrorResponse, a.body); msg != "" {
			t.Errorf("%s: error answer does not match error.json: %s", tc.name, msg)
		}
	}

	// ajv coerces: a numeric string port is accepted and stored as a number.
	a := call(t, s, "PUT", fmt.Sprintf("/api/nginx/proxy-hosts/%d", id), tok, `{"forward_port":"8081"}`)
	if a.status != 200 || fmt.Sprint(a.object()["forward_port"]) != "8081" {
		t.Errorf("PUT forward_port \"8081\": got %d %v", a.status, a.object()["forward_port"])
	}
}

// TestAuthAnswersLikeNPM checks the auth traps: NPM's auth failures are not
// 401s, and an expired token is a 400.
func TestAuthAnswersLikeNPM(t *testing.T) {
	t.Parallel()
	s := npmstandin.New(t, email, password)
	create := `{"domain_names":["a.example.test"],"forward_scheme":"http","forward_host":"127.0.0.1","forward_port":80}`

	if a := call(t, s, "POST", "/api/tokens", "", fmt.Sprintf(`{"identity":%q,"secret":"wrong"}`, email)); a.status != 400 || a.message() != "Invalid email or password" {
		t.Errorf("wrong secret: got %d %q", a.status, a.message())
	}
	if a := call(t, s, "GET", "/api/nginx/proxy-hosts", "", ""); a.status != 404 || a.message() != "Not Found - /nginx/proxy-hosts" {
		t.Errorf("list without token: got %d %q", a.status, a.message())
	}
	if a := call(t, s, "POST", "/api/nginx/proxy-hosts", "", create); a.status != 500 {
		t.Errorf("create without token: got %d, want 500", a.status)
	}
	if a := call(t, s, "GET", "/api/nginx/proxy-hosts", "garbage", ""); a.status != 500 {
		t.Errorf("garbage token: got %d, want 500", a.status)
	}

	tok := login(t, s)
	a := call(t, s, "GET", "/api/tokens?expiry=1d", tok, "")
	if a.status != 200 {
		t.Fatalf("refresh: got %d %v", a.status, a.body)
	}
	if msg := npmstandin.Message(schemas(t).TokenResponse, a.body); msg != "" {
		t.Errorf("refresh answer does not match token-object.json: %s", msg)
	}
	s.ExpireTokens()
	for _, tk := range []string{tok, a.object()["token"].(string)} {
		if a := call(t, s, "GET", "/api/nginx/proxy-hosts", tk, ""); a.status != 400 || a.message() != "Token has expired" {
			t.Errorf("expired token: got %d %q", a.status, a.message())
		}
	}
	if s.Logins() != 1 || s.Refreshes() != 1 {
		t.Errorf("logins %d refreshes %d, want 1 and 1", s.Logins(), s.Refreshes())
	}
}

// TestProxyHostLifecycle walks a host through create, read, partial update,
// list and soft delete, checking every answer against NPM's response schemas.
func TestProxyHostLifecycle(t *testing.T) {
	t.Parallel()
	s := npmstandin.New(t, email, password)
	tok := login(t, s)
	sch := schemas(t)

	a := call(t, s, "POST", "/api/nginx/proxy-hosts", tok,
		`{"domain_names":["b.example.test","a.example.test"],"forward_scheme":"http","forward_host":"127.0.0.1","forward_port":8080,"meta":{"mark":"x"}}`)
	if a.status != 201 {
		t.Fatalf("create: %d %v", a.status, a.body)
	}
	if msg := npmstandin.Message(sch.HostObject, a.body); msg != "" {
		t.Errorf("create answer does not match proxy-host-object.json: %s", msg)
	}
	if _, ok := a.object()["meta"].(map[string]any)["nginx_online"]; ok {
		t.Errorf("create answer has meta.nginx_online; NPM's does not: %v", a.object()["meta"])
	}
	id := a.object()["id"]
	hostPath := fmt.Sprintf("/api/nginx/proxy-hosts/%v", id)

	a = call(t, s, "GET", hostPath+"?expand=owner,certificate,access_list", tok, "")
	if msg := npmstandin.Message(sch.HostObject, a.body); msg != "" {
		t.Errorf("GET answer does not match proxy-host-object.json: %s", msg)
	}
	meta := a.object()["meta"].(map[string]any)
	if meta["nginx_online"] != true || meta["mark"] != "x" {
		t.Errorf("GET after create: meta %v, want nginx_online true and mark kept", meta)
	}
	if got := fmt.Sprint(a.object()["domain_names"]); got != "[a.example.test b.example.test]" {
		t.Errorf("domain_names %s, want them sorted as NPM stores them", got)
	}

	a = call(t, s, "PUT", hostPath, tok, `{"forward_port":8081}`)
	if a.status != 200 || fmt.Sprint(a.object()["forward_port"]) != "8081" || a.object()["forward_host"] != "127.0.0.1" {
		t.Errorf("partial PUT: %d %v", a.status, a.body)
	}
	if m := a.object()["meta"].(map[string]any); m["mark"] != "x" || m["nginx_online"] != true {
		t.Errorf("partial PUT lost meta: %v", m)
	}

	a = call(t, s, "GET", "/api/nginx/proxy-hosts?expand=owner", tok, "")
	if msg := npmstandin.Message(sch.HostList, a.body); msg != "" || len(a.body.([]any)) != 1 {
		t.Errorf("list: %s, %d hosts", msg, len(a.body.([]any)))
	}

	if a := call(t, s, "DELETE", hostPath, tok, ""); a.status != 200 || a.body != true {
		t.Errorf("delete: %d %v", a.status, a.body)
	}
	if a := call(t, s, "DELETE", hostPath, tok, ""); a.status != 404 || a.message() != fmt.Sprintf("Not Found - %v", id) {
		t.Errorf("second delete: %d %q", a.status, a.message())
	}
	a = call(t, s, "POST", "/api/nginx/proxy-hosts", tok,
		`{"domain_names":["a.example.test"],"forward_scheme":"http","forward_host":"127.0.0.1","forward_port":8080}`)
	if a.status != 201 || fmt.Sprint(a.object()["id"]) == fmt.Sprint(id) {
		t.Errorf("create after delete: %d id %v, want a new id (deletes are soft)", a.status, a.object()["id"])
	}

	var got []string
	for _, r := range s.Requests() {
		got = append(got, r.Method+" "+r.Path)
	}
	if want := "POST /api/tokens"; got[0] != want {
		t.Errorf("first request %q, want %q", got[0], want)
	}
}

// TestFailuresAfterStoring checks the nginx-down trap: the write answers 500
// yet is stored, so a blind retry of a create is refused.
func TestFailuresAfterStoring(t *testing.T) {
	t.Parallel()
	s := npmstandin.New(t, email, password)
	tok := login(t, s)
	body := `{"domain_names":["c.example.test"],"forward_scheme":"http","forward_host":"127.0.0.1","forward_port":8080}`

	s.FailWritesAfterStoring(1)
	if a := call(t, s, "POST", "/api/nginx/proxy-hosts", tok, body); a.status != 500 {
		t.Fatalf("armed create: got %d, want 500", a.status)
	}
	hosts := s.Hosts()
	if len(hosts) != 1 {
		t.Fatalf("after a 500 create: %d hosts stored, want 1", len(hosts))
	}
	if _, ok := hosts[0].Meta["nginx_online"]; ok {
		t.Errorf("a create that failed before nginx has nginx_online in meta: %v", hosts[0].Meta)
	}
	if a := call(t, s, "POST", "/api/nginx/proxy-hosts", tok, body); a.status != 400 || a.message() != "c.example.test is already in use" {
		t.Errorf("blind retry: got %d %q", a.status, a.message())
	}

	s.RejectUpstream("127.0.0.1:9999", "nginx: [emerg] bad config")
	a := call(t, s, "PUT", fmt.Sprintf("/api/nginx/proxy-hosts/%d", hosts[0].ID), tok, `{"forward_port":9999}`)
	m := a.object()["meta"].(map[string]any)
	if a.status != 200 || m["nginx_online"] != false || m["nginx_err"] != "nginx: [emerg] bad config" {
		t.Errorf("refused config: %d meta %v", a.status, m)
	}
}

// TestNginxSide checks the HTTP side: the default page for unknown hosts, and
// a new host served only after the reload delay.
func TestNginxSide(t *testing.T) {
	t.Parallel()
	s := npmstandin.New(t, email, password)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "app for %s", r.Host)
	}))
	t.Cleanup(upstream.Close)
	get := func(host string) (int, string) {
		req, _ := http.NewRequest("GET", s.HTTPURL+"/", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	if code, body := get("nobody.example.test"); code != 200 || body != npmstandin.DefaultPage {
		t.Errorf("unknown host: %d %.40q, want 200 and the default page", code, body)
	}
	// Long enough that the GET below comes before the reload on a loaded
	// machine too.
	s.SetReloadDelay(3 * time.Second)
	tok := login(t, s)
	port := strings.TrimPrefix(upstream.URL, "http://127.0.0.1:")
	a := call(t, s, "POST", "/api/nginx/proxy-hosts", tok,
		`{"domain_names":["app.example.test"],"forward_scheme":"http","forward_host":"127.0.0.1","forward_port":`+port+`}`)
	if a.status != 201 {
		t.Fatalf("create: %d %v", a.status, a.body)
	}
	if _, body := get("app.example.test"); body != npmstandin.DefaultPage {
		t.Errorf("right after the create answered, got %q; nginx has not reloaded yet", body)
	}
	acctest.Eventually(t, 15*time.Second, 20*time.Millisecond, "the new host never served the app", func() bool {
		code, body := get("app.example.test")
		return code == 200 && body == "app for app.example.test"
	})
}
