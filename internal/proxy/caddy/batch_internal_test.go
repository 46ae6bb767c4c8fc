package caddy

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
)

// TestALoneRouteWriteDoesNotWaitForCompany: on a real Caddy, a route write
// after a quiet second is written at once; one that follows another within
// burstGap waits batchGather for more changes to share its load.
func TestALoneRouteWriteDoesNotWaitForCompany(t *testing.T) {
	t.Parallel()
	c := acctest.StartCaddy(t)
	r, err := New(Config{AdminURL: c.AdminURL, Listen: []string{"127.0.0.1:" + strconv.Itoa(c.HTTPPort)}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var pauses []time.Duration
	r.batch.sleep = func(d time.Duration) {
		mu.Lock()
		pauses = append(pauses, d)
		mu.Unlock()
		time.Sleep(d)
	}
	ctx := context.Background()
	write := func(name string) []time.Duration {
		t.Helper()
		if err := r.Upsert(ctx, proxy.Route{Workload: name, Domains: []string{name + ".test"}, Upstreams: []string{"127.0.0.1:9"}}); err != nil {
			t.Fatal(err)
		}
		// The batch's goroutine ends once nothing is pending.
		acctest.Eventually(t, 5*time.Second, 5*time.Millisecond, "the batch writer did not end", func() bool {
			r.batch.mu.Lock()
			defer r.batch.mu.Unlock()
			return !r.batch.writing
		})
		mu.Lock()
		defer mu.Unlock()
		return append([]time.Duration(nil), pauses...)
	}

	if got := write("first"); len(got) != 0 {
		t.Fatalf("the first write on an idle router waited %v for company", got)
	}
	// A batch was just taken (set here, so that a slow host's first write
	// cannot make the second one a second later).
	r.batch.mu.Lock()
	r.batch.last = time.Now()
	r.batch.mu.Unlock()
	if got := write("second"); len(got) != 1 || got[0] != batchGather {
		t.Fatalf("a write right after another waited %v, want one wait of %s", got, batchGather)
	}
	r.batch.mu.Lock()
	r.batch.last = time.Now().Add(-burstGap - time.Millisecond) // a quiet second has passed
	r.batch.mu.Unlock()
	if got := write("third"); len(got) != 1 {
		t.Fatalf("a write after a quiet second waited: all waits %v", got)
	}
	routes, err := r.Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) != 3 {
		t.Fatalf("%d routes after 3 writes: %+v", len(routes), routes)
	}
}
