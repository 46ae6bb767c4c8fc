package acctest

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Failure is how a Front fails a request.
type Failure int

const (
	// Drop closes the connection without an answer, as a server that
	// restarts under a request does.
	Drop Failure = iota
	// BadGateway, Unavailable and GatewayTimeout answer 502, 503 and 504,
	// as a gateway in front of a server that is down does.
	BadGateway
	Unavailable
	GatewayTimeout
)

// Front is an HTTP reverse proxy on 127.0.0.1 in front of a real server (a
// proxy's admin API), which a test makes fail the ways a network and a
// restarting server do: it answers 502, 503 or 504, drops connections, or
// closes its port so that connections are refused. Without a failure
// asked for, it forwards every request unchanged.
type Front struct {
	// URL is where to send requests instead of the target:
	// http://127.0.0.1:<port>.
	URL string

	addr    string
	handler http.Handler

	mu          sync.Mutex
	srv         *http.Server
	failNext    []Failure
	downOnWrite time.Duration
	upLater     *time.Timer // brings the port back after DownOnNextWrite
	closed      bool

	requests, failed atomic.Int64
}

// StartFront starts a Front for target (an http:// base URL) that lives
// until the test ends.
func StartFront(t testing.TB, target string) *Front {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("front for %q: %v", target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("front: %v", err)
	}
	f := &Front{addr: ln.Addr().String()}
	f.URL = "http://" + f.addr
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = u.Host // Caddy's admin API checks the Host it is called by
		},
		FlushInterval: -1, // Caddy 2.6 sends its Etag as a trailer
	}
	f.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		if how, down, ok := f.failure(r); ok {
			f.failed.Add(1)
			fail(w, how)
			if down != 0 {
				f.downFor(down)
			}
			return
		}
		proxy.ServeHTTP(w, r)
	})
	f.serve(ln)
	t.Cleanup(f.close)
	return f
}

func (f *Front) serve(ln net.Listener) {
	srv := &http.Server{Handler: f.handler, ReadHeaderTimeout: 10 * time.Second}
	f.srv = srv
	go srv.Serve(ln)
}

// failure pops the failure this request meets, if any; a write that meets
// DownOnNextWrite also gets how long the port goes down.
func (f *Front) failure(r *http.Request) (how Failure, down time.Duration, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.downOnWrite != 0 && r.Method != http.MethodGet && r.Method != http.MethodHead {
		down, f.downOnWrite = f.downOnWrite, 0
		return Drop, down, true
	}
	if len(f.failNext) > 0 {
		how, f.failNext = f.failNext[0], f.failNext[1:]
		return how, 0, true
	}
	return 0, 0, false
}

func fail(w http.ResponseWriter, how Failure) {
	switch how {
	case BadGateway:
		http.Error(w, "bad gateway", http.StatusBadGateway)
	case Unavailable:
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
	case GatewayTimeout:
		http.Error(w, "gateway timeout", http.StatusGatewayTimeout)
	default:
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	}
}

// FailNext makes the next requests fail, one failure each, in order.
func (f *Front) FailNext(failures ...Failure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext = append(f.failNext, failures...)
}

// DownOnNextWrite makes the next request that is not a GET (a proxy's route
// swap) meet a dropped connection, and the Front's port refuse connections
// for d from then on; d < 0 keeps it down until Up.
func (f *Front) DownOnNextWrite(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.downOnWrite = d
}

// Down closes the Front's port: connections are refused until Up.
func (f *Front) Down() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down()
}

func (f *Front) down() {
	if f.upLater != nil {
		f.upLater.Stop()
		f.upLater = nil
	}
	if f.srv != nil {
		f.srv.Close()
		f.srv = nil
	}
}

// Up opens the Front's port again, on the same address.
func (f *Front) Up() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.upLater = nil
	if f.srv != nil || f.closed {
		return nil
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("front: reopen %s: %w", f.addr, err)
	}
	f.serve(ln)
	return nil
}

// downFor closes the port now and, for d > 0, opens it again after d.
func (f *Front) downFor(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down()
	if d > 0 {
		f.upLater = time.AfterFunc(d, func() { _ = f.Up() })
	}
}

// Requests returns how many requests reached the Front, and how many of
// them it failed on purpose.
func (f *Front) Requests() (total, failed int64) { return f.requests.Load(), f.failed.Load() }

func (f *Front) close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.Down()
}
