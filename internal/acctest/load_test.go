package acctest

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingServer answers GET / with answer(n), n counting requests from 1,
// and counts the TCP connections clients opened.
type countingServer struct {
	*httptest.Server
	requests, conns atomic.Int64
	lastHost        atomic.Value
}

func newCountingServer(t *testing.T, answer func(n int64, w http.ResponseWriter)) *countingServer {
	t.Helper()
	s := &countingServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.lastHost.Store(r.Host)
		answer(s.requests.Add(1), w)
	}))
	s.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// runUntil runs l until it has at least n answers.
func runUntil(t *testing.T, l *Load, s *countingServer, n int64) Stats {
	t.Helper()
	run := l.Start(context.Background())
	// Each client may have a request in flight when Stop cuts it off, one
	// the server has counted and the load does not: wait for n more than
	// that, so that the load has at least n answers.
	Eventually(t, 20*time.Second, 5*time.Millisecond, "the load never reached the server", func() bool {
		return s.requests.Load() >= n+int64(l.Clients)
	})
	return run.Stop()
}

func TestLoadCountsBodiesOverKeepAliveConnections(t *testing.T) {
	t.Parallel()
	s := newCountingServer(t, func(n int64, w http.ResponseWriter) { w.Write([]byte("v1\n")) })
	l := &Load{URL: s.URL + "/", Host: "web.example.test", Clients: 3}
	st := runUntil(t, l, s, 300)

	if st.Failed != 0 || st.Total < 300 || st.Bodies["v1"] != st.Total {
		t.Fatalf("Total %d, Failed %d, Bodies %v; want >= 300 all v1 (body trimmed)", st.Total, st.Failed, st.Bodies)
	}
	if int64(st.Total) > s.requests.Load() {
		t.Fatalf("Total %d > %d requests the server saw", st.Total, s.requests.Load())
	}
	if host := s.lastHost.Load(); host != "web.example.test" {
		t.Errorf("Host header = %v, want web.example.test", host)
	}
	if got := s.conns.Load(); got != 3 {
		t.Errorf("clients opened %d connections, want 3 (one keep-alive connection each)", got)
	}
	if seq := st.Sequence(); !slices.Equal(seq, []string{"v1"}) {
		t.Errorf("Sequence = %v, want [v1]", seq)
	}
	if st.Latency.P50 > st.Latency.P99 || st.Latency.P99 > st.Latency.Max || st.Latency.Max == 0 {
		t.Errorf("Latency = %+v, want 0 < p50 <= p99 <= max", st.Latency)
	}
	if samples := st.Samples(); len(samples) != st.Total || st.Dropped != 0 {
		t.Errorf("%d samples, %d dropped for %d requests; want all kept", len(samples), st.Dropped, st.Total)
	}
	if !st.Start.Before(st.End) {
		t.Errorf("Start %v, End %v", st.Start, st.End)
	}
}

func TestLoadRecordsNon2xxAsFailures(t *testing.T) {
	t.Parallel()
	// Every fourth request fails; from request 100 on the body is v2.
	s := newCountingServer(t, func(n int64, w http.ResponseWriter) {
		switch {
		case n%4 == 0:
			http.Error(w, "upstream down", http.StatusBadGateway)
		case n < 100:
			w.Write([]byte("v1"))
		default:
			w.Write([]byte("v2"))
		}
	})
	// One client: the server's order is then the start order, and the
	// sequence is exact.
	st := runUntil(t, &Load{URL: s.URL, Clients: 1}, s, 200)

	if st.Failed != st.Total/4 {
		t.Errorf("Failed %d of %d, want every fourth", st.Failed, st.Total)
	}
	if st.Bodies["v1"]+st.Bodies["v2"] != st.Total-st.Failed || st.Bodies["v1"] == 0 || st.Bodies["v2"] == 0 {
		t.Errorf("Bodies %v, Total %d, Failed %d; want ok answers split into v1 and v2", st.Bodies, st.Total, st.Failed)
	}
	if len(st.FirstFailures) != 5 {
		t.Fatalf("FirstFailures = %q, want 5", st.FirstFailures)
	}
	if !strings.Contains(st.FirstFailures[0], `status 502: "upstream down"`) {
		t.Errorf("FirstFailures[0] = %q, want the status and body", st.FirstFailures[0])
	}
	if seq := st.Sequence(); !slices.Equal(seq, []string{"v1", "v2"}) {
		t.Errorf("Sequence = %v, want [v1 v2] (failures do not split it)", seq)
	}
}

func TestLoadRecordsTransportErrorsAndTimeouts(t *testing.T) {
	t.Parallel()
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		url := "http://" + ln.Addr().String()
		ln.Close() // nothing listens there now
		run := (&Load{URL: url, Clients: 2}).Start(context.Background())
		time.Sleep(time.Second) // failures are not counted live: give a loaded machine time for some
		st := run.Stop()
		if st.Total == 0 || st.Failed != st.Total || len(st.Bodies) != 0 {
			t.Fatalf("Total %d, Failed %d, Bodies %v; want only failures", st.Total, st.Failed, st.Bodies)
		}
		// Refused, or reset when a parallel test's listener took the
		// freed port for a moment.
		if f := st.FirstFailures[0]; !strings.Contains(f, "connection refused") && !strings.Contains(f, "connection reset by peer") {
			t.Errorf("FirstFailures[0] = %q, want the transport error", st.FirstFailures[0])
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		s := newCountingServer(t, func(n int64, w http.ResponseWriter) { <-release })
		t.Cleanup(func() { close(release) }) // before s.Close, which waits for handlers
		run := (&Load{URL: s.URL, Timeout: 100 * time.Millisecond}).Start(context.Background())
		Eventually(t, 20*time.Second, 10*time.Millisecond, "no request timed out", func() bool {
			return s.requests.Load() >= 3
		})
		st := run.Stop()
		if st.Failed == 0 || st.Failed != st.Total {
			t.Fatalf("Total %d, Failed %d; want every finished request a failure", st.Total, st.Failed)
		}
		if st.Latency.Max < 100*time.Millisecond {
			t.Errorf("Latency.Max = %s, want at least the 100ms timeout", st.Latency.Max)
		}
		if !strings.Contains(st.FirstFailures[0], "Timeout") {
			t.Errorf("FirstFailures[0] = %q, want a timeout", st.FirstFailures[0])
		}
	})
}

func TestLoadCapsSamplesButCountsEverything(t *testing.T) {
	t.Parallel()
	s := newCountingServer(t, func(n int64, w http.ResponseWriter) { w.Write([]byte("v1")) })
	st := runUntil(t, &Load{URL: s.URL, Clients: 2, MaxSamples: 10}, s, 100)
	if got := len(st.Samples()); got != 10 {
		t.Errorf("kept %d samples, want the cap of 10", got)
	}
	if st.Dropped != st.Total-10 || st.Bodies["v1"] != st.Total {
		t.Errorf("Total %d, Dropped %d, Bodies %v; want all counted, all but 10 dropped", st.Total, st.Dropped, st.Bodies)
	}
}

func TestRunSeenIsLive(t *testing.T) {
	t.Parallel()
	s := newCountingServer(t, func(n int64, w http.ResponseWriter) { w.Write([]byte("v3\n")) })
	run := (&Load{URL: s.URL, Interval: time.Millisecond}).Start(context.Background())
	defer run.Stop()
	Eventually(t, 20*time.Second, 5*time.Millisecond, "Seen(v3) stayed 0 while the load ran", func() bool {
		return run.Seen("v3") > 0
	})
	if run.Seen("v1") != 0 {
		t.Errorf("Seen(v1) = %d, want 0", run.Seen("v1"))
	}
	first := run.Stop()
	if again := run.Stop(); again.Total != first.Total {
		t.Errorf("second Stop Total = %d, want %d", again.Total, first.Total)
	}
}

// syntheticStats is a Run's Stats with 100 requests, one every 10ms, the
// i-th (from 1) taking i ms; requests 41..60 are v2, 50 failed.
func syntheticStats() Stats {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := Stats{Start: start, End: start.Add(time.Second), Bodies: map[string]int{}, bodyNames: []string{"v1", "v2"}}
	for i := 1; i <= 100; i++ {
		smp := sample{at: time.Duration(i) * 10 * time.Millisecond, latency: uint32(i * 1000), ok: i != 50}
		if i > 40 && i <= 60 {
			smp.body = 1
		}
		s.samples = append(s.samples, smp)
	}
	s.failures = []loadFailure{{500 * time.Millisecond, "status 502"}}
	s.Latency = latencyOf(s.samples)
	return s
}

func TestStatsPercentilesAndWindow(t *testing.T) {
	t.Parallel()
	s := syntheticStats()
	if want := (Latency{P50: 50 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}); s.Latency != want {
		t.Fatalf("Latency = %+v, want %+v", s.Latency, want)
	}
	// Requests 41..60 started in [410ms, 610ms).
	w := s.Window(s.Start.Add(410*time.Millisecond), s.Start.Add(610*time.Millisecond))
	if w.Total != 20 || w.Failed != 1 || w.Bodies["v2"] != 19 || len(w.Bodies) != 1 {
		t.Fatalf("Window: Total %d, Failed %d, Bodies %v; want 20, 1, v2:19", w.Total, w.Failed, w.Bodies)
	}
	if want := (Latency{P50: 50 * time.Millisecond, P99: 60 * time.Millisecond, Max: 60 * time.Millisecond}); w.Latency != want {
		t.Errorf("Window latency = %+v, want %+v", w.Latency, want)
	}
	if len(w.FirstFailures) != 1 || !strings.Contains(w.FirstFailures[0], "status 502") {
		t.Errorf("Window FirstFailures = %q, want the one failure in it", w.FirstFailures)
	}
	if got := w.Samples()[0].Start; !got.Equal(s.Start.Add(410 * time.Millisecond)) {
		t.Errorf("first window sample starts at %v, want start+410ms", got)
	}
	if seq := w.Sequence(); !slices.Equal(seq, []string{"v2"}) {
		t.Errorf("Window Sequence = %v, want [v2]", seq)
	}
	if empty := s.Window(s.End.Add(time.Millisecond), s.End.Add(time.Second)); empty.Total != 0 || empty.Latency != (Latency{}) {
		t.Errorf("empty window = %+v", empty)
	}
	if seq := s.Sequence(); !slices.Equal(seq, []string{"v1", "v2", "v1"}) {
		t.Errorf("Sequence = %v, want [v1 v2 v1]", seq)
	}
}

// TestLoadOverHTTPSMakesNewHandshakes: over HTTPS the clients verify the
// server against the roots given (a server under another CA fails every
// request), send the Host as server name, and with NewConnectionEvery they
// open a connection per that many requests, each a new TLS handshake.
func TestLoadOverHTTPSMakesNewHandshakes(t *testing.T) {
	t.Parallel()
	ca := MustTestCA(t, "load test CA")
	leaf := ca.MustIssue(t, LeafOptions{DNSNames: []string{"secure.example.test"}})
	pair, err := tls.X509KeyPair([]byte(leaf.CertPEM), []byte(leaf.KeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	var handshakes atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	srv.TLS = &tls.Config{GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if hello.ServerName != "secure.example.test" {
			return nil, errors.New("unknown name")
		}
		handshakes.Add(1)
		return &pair, nil
	}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "https://")

	l := &Load{URL: "https://secure.example.test/", Host: "secure.example.test", Addr: addr, Clients: 2, Interval: time.Millisecond,
		TLS: &tls.Config{RootCAs: ca.Pool()}, NewConnectionEvery: 5}
	run := l.Start(context.Background())
	Eventually(t, 5*time.Second, 10*time.Millisecond, "no answers", func() bool { return run.Answers() >= 100 })
	st := run.Stop()
	if st.Failed != 0 || st.Bodies["ok"] != st.Total {
		t.Fatalf("stats %+v, want every request ok", st)
	}
	// A client's connection that Stop cut between its dial and its
	// ClientHello never reaches the server's certificate callback: each
	// of the 2 clients may have one such.
	if h := int(handshakes.Load()); st.Connections < st.Total/5 || st.Connections > st.Total/5+2 || h > st.Connections || h < st.Connections-2 {
		t.Fatalf("%d requests made %d connections and %d handshakes, want one of each per 5 requests", st.Total, st.Connections, h)
	}

	other := MustTestCA(t, "another CA")
	l.TLS = &tls.Config{RootCAs: other.Pool()}
	run = l.Start(context.Background())
	time.Sleep(time.Second) // as above: no live count of failures
	if st := run.Stop(); st.Total == 0 || st.Failed != st.Total || !strings.Contains(strings.Join(st.FirstFailures, " "), "certificate signed by unknown authority") {
		t.Fatalf("a server under another CA: %+v", st)
	}
}
