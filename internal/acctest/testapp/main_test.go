package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func envFrom(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func get(t *testing.T, h http.Handler, method, target string, body io.Reader) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, body))
	return rec
}

func TestHandlerRootAnswersVersionAndHost(t *testing.T) {
	t.Parallel()
	h := newHandler("v7", "host-a", true, envFrom(nil))

	rec := get(t, h, http.MethodGet, "/", nil)
	if rec.Code != http.StatusOK || rec.Body.String() != "v7\n" {
		t.Fatalf("GET / = %d %q, want 200 %q", rec.Code, rec.Body.String(), "v7\n")
	}
	if got := rec.Header().Get("X-Testapp-Host"); got != "host-a" {
		t.Fatalf("X-Testapp-Host = %q, want host-a", got)
	}
	if rec := get(t, h, http.MethodGet, "/nope", nil); rec.Code != http.StatusNotFound {
		t.Fatalf("GET /nope = %d, want 404 (only / answers the version)", rec.Code)
	}
}

func TestHandlerHealthz(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		healthy  bool
		wantCode int
		wantBody string
	}{
		{true, http.StatusOK, "ok\n"},
		{false, http.StatusInternalServerError, "unhealthy\n"},
	} {
		rec := get(t, newHandler("v1", "h", tc.healthy, envFrom(nil)), http.MethodGet, "/healthz", nil)
		if rec.Code != tc.wantCode || rec.Body.String() != tc.wantBody {
			t.Errorf("healthy=%v: GET /healthz = %d %q, want %d %q", tc.healthy, rec.Code, rec.Body.String(), tc.wantCode, tc.wantBody)
		}
	}
}

func TestHandlerEnv(t *testing.T) {
	t.Parallel()
	h := newHandler("v1", "h", true, envFrom(map[string]string{"GREETING": "hello world", "EMPTY": ""}))
	for _, tc := range []struct {
		key      string
		wantCode int
		wantBody string
	}{
		{"GREETING", http.StatusOK, "hello world"},
		{"EMPTY", http.StatusOK, ""}, // set but empty is not unset
		{"MISSING", http.StatusNotFound, ""},
	} {
		rec := get(t, h, http.MethodGet, "/env/"+tc.key, nil)
		if rec.Code != tc.wantCode || (tc.wantCode == http.StatusOK && rec.Body.String() != tc.wantBody) {
			t.Errorf("GET /env/%s = %d %q, want %d %q", tc.key, rec.Code, rec.Body.String(), tc.wantCode, tc.wantBody)
		}
	}
}

func TestHandlerFileRoundTrip(t *testing.T) {
	t.Parallel()
	h := newHandler("v1", "h", true, envFrom(nil))
	path := filepath.Join(t.TempDir(), "data.txt")

	if rec := get(t, h, http.MethodGet, "/file?path="+path, nil); rec.Code != http.StatusNotFound {
		t.Fatalf("GET missing file = %d, want 404", rec.Code)
	}
	if rec := get(t, h, http.MethodPut, "/file?path="+path, strings.NewReader("persisted")); rec.Code != http.StatusNoContent {
		t.Fatalf("PUT /file = %d %q, want 204", rec.Code, rec.Body.String())
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "persisted" {
		t.Fatalf("file after PUT = %q, %v; want %q", b, err, "persisted")
	}
	if rec := get(t, h, http.MethodGet, "/file?path="+path, nil); rec.Code != http.StatusOK || rec.Body.String() != "persisted" {
		t.Fatalf("GET /file = %d %q, want 200 %q", rec.Code, rec.Body.String(), "persisted")
	}
	for _, bad := range []string{"", "relative/data.txt"} {
		if rec := get(t, h, http.MethodGet, "/file?path="+bad, nil); rec.Code != http.StatusBadRequest {
			t.Errorf("GET /file?path=%q = %d, want 400", bad, rec.Code)
		}
	}
}

func TestHandlerSlowWaitsThenAnswers(t *testing.T) {
	t.Parallel()
	h := newHandler("v2", "h", true, envFrom(nil))
	start := time.Now()
	rec := get(t, h, http.MethodGet, "/slow?ms=50", nil)
	if rec.Code != http.StatusOK || rec.Body.String() != "v2\n" {
		t.Fatalf("GET /slow = %d %q, want 200 %q", rec.Code, rec.Body.String(), "v2\n")
	}
	// A lower bound only: a sleep never ends early, however loaded the machine.
	if waited := time.Since(start); waited < 50*time.Millisecond {
		t.Fatalf("GET /slow?ms=50 answered after %s", waited)
	}
	for _, bad := range []string{"", "x", "-1"} {
		if rec := get(t, h, http.MethodGet, "/slow?ms="+bad, nil); rec.Code != http.StatusBadRequest {
			t.Errorf("GET /slow?ms=%q = %d, want 400", bad, rec.Code)
		}
	}
}

func TestLoadConfigRejectsTypos(t *testing.T) {
	t.Parallel()
	for _, env := range []map[string]string{
		{"PORT": "http"},
		{"HEALTH": "failing"},
		{"START_DELAY": "3"},
		{"EXIT_AFTER": "-1s"},
	} {
		if _, err := loadConfig(envFrom(env)); err == nil {
			t.Errorf("loadConfig(%v) = nil error, want one naming the variable", env)
		}
	}
	cfg, err := loadConfig(envFrom(nil))
	if err != nil || cfg.port != "8080" || cfg.version != "dev" || !cfg.healthy {
		t.Fatalf("defaults = %+v, %v; want port 8080, version dev, healthy", cfg, err)
	}
}

// syncBuffer is a log sink the test reads while run writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startRun runs the whole app in process on a free port and returns its base
// URL, a cancel that plays SIGTERM, and a channel with the exit code.
func startRun(t *testing.T, env map[string]string, logs io.Writer) (string, context.CancelFunc, <-chan int) {
	t.Helper()
	env["PORT"] = "0"
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ready := make(chan net.Addr, 1)
	exit := make(chan int, 1)
	go func() { exit <- run(ctx, envFrom(env), logs, ready) }()
	select {
	case addr := <-ready:
		return fmt.Sprintf("http://127.0.0.1:%d", addr.(*net.TCPAddr).Port), cancel, exit
	case code := <-exit:
		t.Fatalf("run exited with %d before listening", code)
	case <-time.After(10 * time.Second):
		t.Fatal("run did not listen within 10s")
	}
	return "", nil, nil
}

func TestRunDrainsInFlightRequestsOnSIGTERM(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	url, sigterm, exit := startRun(t, map[string]string{"VERSION": "v1"}, logs)
	if !strings.Contains(logs.String(), "testapp v1 listening on :") {
		t.Fatalf("start log = %q, want the listening line", logs.String())
	}

	type answer struct {
		body string
		err  error
	}
	answered := make(chan answer, 1)
	wrote := make(chan struct{})
	go func() {
		trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { close(wrote) }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, url+"/slow?ms=1000", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		answered <- answer{string(b), err}
	}()
	// Shut down only once the slow request is in flight: written by the
	// client, and read by the server. Nothing outside the server shows the
	// read (net/http drops a request it reads after Shutdown began, so an
	// accepted connection is not enough): give it 300 ms, and the request
	// 1 s, so that 700 ms of it are left at the SIGTERM.
	select {
	case <-wrote:
	case a := <-answered:
		t.Fatalf("slow request ended before shutdown: %q, %v", a.body, a.err)
	}
	time.Sleep(300 * time.Millisecond)
	select {
	case a := <-answered:
		t.Fatalf("slow request ended before shutdown: %q, %v", a.body, a.err)
	default:
	}
	sigterm()

	a := <-answered
	if a.err != nil || a.body != "v1\n" {
		t.Fatalf("in-flight request during shutdown = %q, %v; want %q", a.body, a.err, "v1\n")
	}
	if code := <-exit; code != 0 {
		t.Fatalf("exit code after SIGTERM = %d, want 0", code)
	}
	if !strings.Contains(logs.String(), "testapp shutting down") {
		t.Fatalf("logs = %q, want the shutdown line", logs.String())
	}
}

func TestRunExitsWithCode3AfterEXIT_AFTER(t *testing.T) {
	t.Parallel()
	_, _, exit := startRun(t, map[string]string{"EXIT_AFTER": "100ms"}, io.Discard)
	select {
	case code := <-exit:
		if code != exitCodeCrash {
			t.Fatalf("exit code = %d, want %d", code, exitCodeCrash)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("EXIT_AFTER=100ms: still running after 10s")
	}
}

func TestRunLogsFailingHealthAtStartup(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	url, sigterm, exit := startRun(t, map[string]string{"HEALTH": "fail"}, logs)
	if !strings.Contains(logs.String(), "health check failing on purpose") {
		t.Fatalf("logs = %q, want the failing-health line", logs.String())
	}
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("GET /healthz = %d, want 500", resp.StatusCode)
	}
	sigterm()
	<-exit
}
