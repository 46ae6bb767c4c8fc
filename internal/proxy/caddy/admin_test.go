package caddy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestReadsSurviveADroppedConnection: Caddy restarts its admin server on
// every config change and drops the connections it holds; a read caught in
// that must be resent, a write must not (its round redoes it from a read).
func TestReadsSurviveADroppedConnection(t *testing.T) {
	var gets, posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := gets.Load()
		if r.Method == http.MethodPost {
			posts.Add(1)
		} else {
			n = gets.Add(1)
		}
		if r.Method == http.MethodPost || n <= 2 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close() // as Caddy's restarting admin server does
			}
			return
		}
		w.Write([]byte(`{"listen":[":80"]}`))
	}))
	defer srv.Close()
	a := &adminClient{base: srv.URL, client: srv.Client()}
	r, err := a.do(context.Background(), http.MethodGet, "/config/apps/http/servers/x", nil, "")
	if err != nil {
		t.Fatalf("a read after two dropped connections: %v", err)
	}
	if string(r.body) != `{"listen":[":80"]}` || gets.Load() != 3 {
		t.Fatalf("body %q after %d GETs", r.body, gets.Load())
	}
	if _, err := a.do(context.Background(), http.MethodPost, "/config/apps/http/servers/x/routes", map[string]any{}, "etag"); err == nil {
		t.Fatal("a dropped write must be reported, not hidden")
	}
	if posts.Load() != 1 {
		t.Fatalf("a write was sent %d times; the caller's round must redo it, not the client", posts.Load())
	}
}
