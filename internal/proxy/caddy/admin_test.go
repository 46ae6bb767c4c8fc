package caddy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestAdminClientSendsEachRequestOnce: the client never resends, a read nor
// a write; the Router redoes whole read-then-write rounds instead, which is
// what makes a dropped write safe to redo (see Router.retry).
func TestAdminClientSendsEachRequestOnce(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close() // as Caddy's restarting admin server does
		}
	}))
	defer srv.Close()
	a := &adminClient{base: srv.URL, client: srv.Client()}
	if _, err := a.do(context.Background(), http.MethodGet, "/config/apps/http/servers/x", nil, ""); err == nil || !isTransient(err) {
		t.Fatalf("a dropped read: %v; want a transient error", err)
	}
	if _, err := a.do(context.Background(), http.MethodPost, "/config/apps/http/servers/x/routes", map[string]any{}, "etag"); err == nil || !isTransient(err) {
		t.Fatalf("a dropped write: %v; want a transient error", err)
	}
	if calls.Load() != 2 {
		t.Fatalf("%d requests for two calls", calls.Load())
	}
}
