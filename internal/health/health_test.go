package health_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/health"
)

func TestProbePassesOnceTheAppAnswers(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound) // 3xx counts as up
	}))
	defer srv.Close()
	var seen []health.Answer
	err := health.Probe(context.Background(), srv.URL+"/healthz", 10*time.Second, nil, func(_ int, a health.Answer) {
		seen = append(seen, a)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 3 || seen[0].Status != 503 || seen[2].Status != 302 {
		t.Fatalf("answers %+v", seen)
	}
}

func TestProbeFailureCarriesTheLastAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "database unreachable", http.StatusInternalServerError)
	}))
	defer srv.Close()
	err := health.Probe(context.Background(), srv.URL+"/healthz", 700*time.Millisecond, nil, nil)
	var pe *health.ProbeError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v", err)
	}
	if pe.Last.Status != 500 || !strings.Contains(err.Error(), `HTTP 500 "database unreachable"`) || pe.Attempts < 2 {
		t.Fatalf("error %q (attempts %d)", err, pe.Attempts)
	}
}

func TestProbeStopsWhenTheContainerDies(t *testing.T) {
	start := time.Now()
	err := health.Probe(context.Background(), "http://127.0.0.1:1/healthz", time.Minute,
		func() error { return errors.New("container exited with code 3") }, nil)
	if err == nil || !strings.Contains(err.Error(), "exited with code 3") || !strings.Contains(err.Error(), "no answer") {
		t.Fatalf("got %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("the probe kept waiting for a dead container")
	}
}

func TestLiveness(t *testing.T) {
	up := func(context.Context) (health.State, error) { return health.State{Status: "running"}, nil }
	if err := health.Liveness(context.Background(), 300*time.Millisecond, 50*time.Millisecond, up); err != nil {
		t.Fatalf("a container that stays up: %v", err)
	}
	var n int
	crashing := func(context.Context) (health.State, error) {
		n++
		if n > 2 {
			return health.State{Status: "restarting", RestartCount: 1}, nil
		}
		return health.State{Status: "running"}, nil
	}
	err := health.Liveness(context.Background(), 5*time.Second, 10*time.Millisecond, crashing)
	if err == nil || !strings.Contains(err.Error(), "is restarting (restarted 1 times)") {
		t.Fatalf("a restarting container: %v", err)
	}
	exited := func(context.Context) (health.State, error) { return health.State{Status: "exited", ExitCode: 3}, nil }
	err = health.Liveness(context.Background(), 5*time.Second, 10*time.Millisecond, exited)
	if err == nil || !strings.Contains(err.Error(), "exited with code 3") {
		t.Fatalf("an exited container: %v", err)
	}
}

// TestProbeViaDialsThroughTheGivenDialer: the url's address is the one the
// dialer is asked for (a port on a remote host's loopback, reached over
// SSH), never dialled directly; every attempt opens a connection of its
// own.
func TestProbeViaDialsThroughTheGivenDialer(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 2 {
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	const remote = "127.0.0.1:1" // nothing listens there on this machine
	var asked []string
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		asked = append(asked, network+" "+addr)
		var d net.Dialer
		return d.DialContext(ctx, "tcp", srv.Listener.Addr().String())
	}
	if err := health.ProbeVia(context.Background(), dial, "http://"+remote+"/healthz", 10*time.Second, nil, nil); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 2 || asked[0] != "tcp "+remote || asked[1] != "tcp "+remote {
		t.Fatalf("the dialer was asked for %v, want %s once per attempt", asked, remote)
	}
	// Without a dialer, the same url is this machine's, where nothing answers.
	err := health.ProbeVia(context.Background(), nil, "http://"+remote+"/healthz", 300*time.Millisecond, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("a direct probe of %s: %v", remote, err)
	}
}
