package rollout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
)

// lockedBuffer collects the engine's log across goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// stepTimes records when each step of a deploy completed.
func (f *fixture) stepTimes() func(Step) time.Time {
	var mu sync.Mutex
	at := map[Step]time.Time{}
	f.engine.AfterStep = func(_ context.Context, _ string, s Step) {
		mu.Lock()
		at[s] = time.Now()
		mu.Unlock()
	}
	return func(s Step) time.Time {
		mu.Lock()
		defer mu.Unlock()
		return at[s]
	}
}

// TestDrainEndsWhenNothingIsInFlight: with drain_timeout 10 minutes and no
// request in flight, a blue-green redeploy through Caddy drains in a moment
// (Caddy reports nothing in flight to blue), not in 10 minutes; the log
// says why it ended, and the route is left without the parked upstream. A
// timed drain would hit the test's 2-minute deadline.
func TestDrainEndsWhenNothingIsInFlight(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	logs := &lockedBuffer{}
	f.engine.Log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	name := f.name("drain-idle")
	spec := f.spec(name, f.images.V1)
	spec.DrainTimeout = 10 * time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := f.engine.Apply(ctx, spec, Intent{Redeploy: true, Generation: 1, Create: true}); err != nil {
		t.Fatal(err)
	}
	at := f.stepTimes()
	spec.Source = f.spec(name, f.images.V2).Source
	if _, err := f.engine.Apply(ctx, spec, Intent{Redeploy: true, Generation: 2}); err != nil {
		t.Fatal(err)
	}
	drained := at(StepDrain).Sub(at(StepSwap))
	t.Logf("drain with nothing in flight took %s (drain_timeout %s)", drained, spec.DrainTimeout)
	if at(StepDrain).IsZero() || drained > time.Minute {
		t.Fatalf("the drain took %s of its %s timeout with nothing in flight", drained, spec.DrainTimeout)
	}
	if !strings.Contains(logs.String(), "no request in flight to them") {
		t.Fatalf("the log does not say the drain ended on an idle count:\n%s", logs.String())
	}
	if f.through(name, "v2") != "v2" || len(containerNames(t, name)) != 1 {
		t.Fatalf("after the redeploy: %q through Caddy, containers %v", f.through(name, "v2"), containerNames(t, name))
	}
	routes, err := f.engine.Router.Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if r.Workload == name && len(r.Draining) > 0 {
			t.Fatalf("the route still parks %v after the reap", r.Draining)
		}
	}
}

// TestDrainLetsALongRequestFinish: a 10-second request to blue is in flight
// through Caddy when a blue-green redeploy swaps to green. The drain waits
// for it (blue's stop timeout is 1 s, so stopping blue at the swap would
// kill it): the request answers 200 from blue, the drain ends after it did
// and well before drain_timeout, and blue is gone afterwards.
func TestDrainLetsALongRequestFinish(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	name := f.name("drain-long")
	spec := f.spec(name, f.images.V1)
	spec.DrainTimeout = 90 * time.Second
	spec.Run.StopTimeout = time.Second // a stop cuts the request off
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := f.engine.Apply(ctx, spec, Intent{Redeploy: true, Generation: 1, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	blue := res.Primary()

	type answer struct {
		got string
		at  time.Time
	}
	done := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.caddy.HTTPURL+"/slow?ms=10000", nil)
		req.Host = name + ".test"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- answer{got: err.Error(), at: time.Now()}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- answer{got: fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b))), at: time.Now()}
	}()
	counter := f.engine.Router.(proxy.Drainer)
	acctest.Eventually(t, 10*time.Second, 20*time.Millisecond, "caddy never counted the long request", func() bool {
		n, err := counter.InFlight(ctx, []string{blue.Upstream})
		return err == nil && n[blue.Upstream] == 1
	})

	at := f.stepTimes()
	spec.Source = f.spec(name, f.images.V2).Source
	if _, err := f.engine.Apply(ctx, spec, Intent{Redeploy: true, Generation: 2}); err != nil {
		t.Fatal(err)
	}
	a := <-done
	if a.got != "200 v1" {
		t.Fatalf("the request in flight during the redeploy got %q, want 200 v1 (cut off)", a.got)
	}
	t.Logf("request answered %s after the swap; drain ended %s after the swap", a.at.Sub(at(StepSwap)), at(StepDrain).Sub(at(StepSwap)))
	if at(StepDrain).Before(a.at.Add(-time.Second)) {
		t.Fatalf("the drain ended at %s, before the request in flight answered at %s", at(StepDrain), a.at)
	}
	if took := at(StepDrain).Sub(at(StepSwap)); took > spec.DrainTimeout/2 {
		t.Fatalf("the drain took %s: it waited for its timeout, not for the request; the engine's log:\n%s", took, f.logs.String())
	}
	if f.through(name, "v2") != "v2" || len(containerNames(t, name)) != 1 {
		t.Fatalf("after the redeploy: %q through Caddy, containers %v", f.through(name, "v2"), containerNames(t, name))
	}
}

// flakyCounter is a proxy that counts requests in flight, whose reads
// answer, in order, as answers says: an error, or a count.
type flakyCounter struct {
	proxy.Router
	mu      sync.Mutex
	answers []any
	asked   int
}

func (c *flakyCounter) InFlight(ctx context.Context, upstreams []string) (map[string]int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.answers[min(c.asked, len(c.answers)-1)]
	c.asked++
	if err, ok := a.(error); ok {
		return nil, err
	}
	return map[string]int{upstreams[0]: a.(int)}, nil
}

// TestDrainAsksAgainAfterAFailedRead: a read of the in-flight count that
// fails (the proxy's admin API dropping a connection) is no answer: the
// drain warns once and asks again, and ends once the count says nothing is
// in flight, not at drain_timeout.
func TestDrainAsksAgainAfterAFailedRead(t *testing.T) {
	t.Parallel()
	dropped := errors.New("read caddy's upstreams: EOF")
	counter := &flakyCounter{answers: []any{dropped, 1, dropped, 1, 0, 0}}
	logs := &lockedBuffer{}
	d := &deployment{Engine: &Engine{Router: counter, Log: slog.New(slog.NewTextHandler(logs, nil))},
		spec: workload.Spec{Name: "web", DrainTimeout: time.Minute}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	d.drain(ctx, []string{"web-1:80"})
	took := time.Since(start)
	if took > 5*time.Second || counter.asked != 6 {
		t.Fatalf("the drain took %s and asked %d times, want it to end on the 6th answer (two zeros in a row), well before drain_timeout", took, counter.asked)
	}
	if n := strings.Count(logs.String(), "could not read the requests in flight"); n != 1 {
		t.Fatalf("the log warns %d times of the failed reads, want once:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "no request in flight to them") {
		t.Fatalf("the log does not say the drain ended on an idle count:\n%s", logs.String())
	}
}

// TestDrainEndsAtItsTimeoutWhenNoReadSucceeds: a proxy whose count can
// never be read makes the drain last drain_timeout, as a proxy that cannot
// count does, and the log says so.
func TestDrainEndsAtItsTimeoutWhenNoReadSucceeds(t *testing.T) {
	t.Parallel()
	counter := &flakyCounter{answers: []any{errors.New("read caddy's upstreams: connection refused")}}
	logs := &lockedBuffer{}
	d := &deployment{Engine: &Engine{Router: counter, Log: slog.New(slog.NewTextHandler(logs, nil))},
		spec: workload.Spec{Name: "web", DrainTimeout: 400 * time.Millisecond}}
	start := time.Now()
	d.drain(context.Background(), []string{"web-1:80"})
	if took := time.Since(start); took < 400*time.Millisecond || took > 5*time.Second {
		t.Fatalf("the drain took %s, want its drain_timeout of 400ms", took)
	}
	if !strings.Contains(logs.String(), "drain_timeout reached without a count") {
		t.Fatalf("the log does not say the drain ended uncounted:\n%s", logs.String())
	}
}
