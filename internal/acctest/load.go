package acctest

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultMaxSamples bounds the per-request samples a Run keeps (16 bytes
// each, so 32 MB): a benchmark can run for minutes without growing without
// bound.
const DefaultMaxSamples = 2_000_000

// Load is a bounded HTTP load generator: Clients goroutines each GET URL in a
// loop until the Run is stopped. Zero-downtime tests run it across a deploy
// and assert no request failed and the bodies moved from the old version to
// the new; the benchmark compares latencies during a swap with steady state.
//
// Each client has its own http.Transport holding one keep-alive connection,
// like a browser tab: a reverse proxy keeps that downstream connection
// across an upstream swap, which is exactly what must not drop a request,
// and no client ever waits on another's connection pool.
type Load struct {
	URL     string
	Host    string        // Host header (the proxy routes on it); empty means URL's host
	Clients int           // concurrent clients; 0 means 1
	Timeout time.Duration // per request, body included; 0 means 5 s

	// Interval is each client's pause between requests; 0 means back to
	// back. The engine, the proxy and the test share two cores here: a
	// small pause keeps the load from starving the deploy it measures.
	Interval time.Duration
	// MaxSamples caps the samples kept for percentiles, Window and
	// Sequence; requests past it are still counted. 0 means
	// DefaultMaxSamples.
	MaxSamples int

	// TLS, for an https URL, is the clients' TLS config: the roots they
	// trust (never InsecureSkipVerify). The server name is the Host (or
	// the URL's host).
	TLS *tls.Config
	// Addr, when set, is where every connection goes ("127.0.0.1:port"),
	// so that URL can name the domain: https://<domain>/ with its SNI.
	Addr string
	// NewConnectionEvery, when > 0, closes each client's connection after
	// that many requests, so that the load keeps making new connections
	// (over HTTPS, new TLS handshakes) while a keep-alive client would
	// hold one.
	NewConnectionEvery int
	// RetryResets sends a request once more when its connection was reset
	// before any answer came, as a browser does: Caddy 2.6 opens new
	// listening sockets on every config load (SO_REUSEPORT) and closes the
	// old ones, resetting the connections still queued on them. The
	// retries are counted apart (Stats.Retried), never hidden.
	RetryResets bool
}

// failureBackoff is the least pause after a failed request: a refused
// connection fails in microseconds, and a tight loop of them would take the
// CPU from the deploy that is supposed to fix it.
const failureBackoff = 10 * time.Millisecond

// maxBodyKinds bounds the distinct bodies a Run tells apart; the test app
// answers a handful, so more means the URL is not the test app.
const maxBodyKinds = 1000

// otherBodies is where bodies past maxBodyKinds are counted.
const otherBodies = "<other bodies>"

// keptFailures is how many failure messages each client keeps.
const keptFailures = 5

// Run is a Load in progress.
type Run struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	start   time.Time
	clients []*loadClient

	liveMu sync.Mutex
	live   map[string]int // ok answers by body, for Seen

	stopOnce sync.Once
	stats    Stats
}

// Start starts the clients; they run until Stop (or until ctx ends, after
// which Stop still collects the Stats).
func (l *Load) Start(ctx context.Context) *Run {
	clients := max(l.Clients, 1)
	timeout := cmp.Or(l.Timeout, 5*time.Second)
	maxSamples := cmp.Or(l.MaxSamples, DefaultMaxSamples)

	ctx, cancel := context.WithCancel(ctx)
	r := &Run{cancel: cancel, start: time.Now(), live: map[string]int{}}
	for range clients {
		dialer := &net.Dialer{Timeout: timeout}
		c := &loadClient{
			load:       l,
			run:        r,
			maxSamples: max(maxSamples/clients, 1),
			bodies:     map[string]int{},
			bodyIDs:    map[string]int16{},
		}
		transport := &http.Transport{
			Proxy: nil, // test traffic goes to 127.0.0.1, never through $HTTP_PROXY
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				conn, err := dialer.DialContext(ctx, network, cmp.Or(l.Addr, addr))
				if err == nil {
					c.connections.Add(1)
				}
				return conn, err
			},
			MaxIdleConns:        1,
			MaxIdleConnsPerHost: 1,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		}
		if l.TLS != nil {
			cfg := l.TLS.Clone()
			if cfg.ServerName == "" {
				cfg.ServerName = l.Host
			}
			transport.TLSClientConfig = cfg
		}
		c.http, c.transport = &http.Client{Transport: transport, Timeout: timeout}, transport
		r.clients = append(r.clients, c)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			c.loop(ctx)
		}()
	}
	return r
}

// Seen is how many ok answers with body (trimmed) the clients have had so
// far; tests poll it, for example to know the load runs before deploying.
func (r *Run) Seen(body string) int {
	r.liveMu.Lock()
	defer r.liveMu.Unlock()
	return r.live[body]
}

// Answers is how many ok answers the clients have had so far, whatever
// their body.
func (r *Run) Answers() int {
	r.liveMu.Lock()
	defer r.liveMu.Unlock()
	n := 0
	for _, c := range r.live {
		n += c
	}
	return n
}

// Stop stops the clients and returns what they saw. A request cut short by
// Stop counts neither as ok nor as failed. Stop may be called more than
// once; later calls return the same Stats.
func (r *Run) Stop() Stats {
	r.stopOnce.Do(func() {
		r.cancel()
		r.wg.Wait()
		end := time.Now()
		r.stats = r.merge()
		r.stats.End = end
	})
	return r.stats
}

// merge gathers the clients' records into one time-ordered Stats, mapping
// each client's body IDs onto one table.
func (r *Run) merge() Stats {
	s := Stats{Start: r.start, Bodies: map[string]int{}}
	ids := map[string]int16{}
	for _, c := range r.clients {
		c.transport.CloseIdleConnections()
		s.Total += c.total
		s.Failed += c.failed
		s.Connections += int(c.connections.Load())
		s.Retried += c.retried
		s.Dropped += c.dropped
		remap := make([]int16, len(c.bodyNames))
		for i, name := range c.bodyNames {
			id, ok := ids[name]
			if !ok {
				id = int16(len(s.bodyNames))
				ids[name] = id
				s.bodyNames = append(s.bodyNames, name)
			}
			remap[i] = id
		}
		for name, n := range c.bodies {
			s.Bodies[name] += n
		}
		for _, smp := range c.samples {
			if smp.ok {
				smp.body = remap[smp.body]
			}
			s.samples = append(s.samples, smp)
		}
		s.failures = append(s.failures, c.failures...)
	}
	slices.SortStableFunc(s.samples, func(a, b sample) int { return cmp.Compare(a.at, b.at) })
	slices.SortStableFunc(s.failures, func(a, b loadFailure) int { return cmp.Compare(a.at, b.at) })
	s.FirstFailures = firstFailures(s.failures)
	s.Latency = latencyOf(s.samples)
	return s
}

// loadClient is one client's loop and its private records (no locks on the
// hot path but the one behind Seen).
type loadClient struct {
	load       *Load
	run        *Run
	http       *http.Client
	transport  *http.Transport
	maxSamples int

	total, failed, dropped int
	retried                int
	connections            atomic.Int64 // connections opened
	bodies                 map[string]int
	bodyIDs                map[string]int16
	bodyNames              []string
	samples                []sample
	failures               []loadFailure
}

// sample is one request, packed into 16 bytes so that DefaultMaxSamples of
// them stay small.
type sample struct {
	at      time.Duration // request start, since the Run started
	latency uint32        // microseconds; 71 minutes fit
	body    int16         // index into the body names, for ok samples
	ok      bool
}

type loadFailure struct {
	at  time.Duration
	msg string
}

func (c *loadClient) loop(ctx context.Context) {
	for ctx.Err() == nil {
		start := time.Now()
		body, failure := c.get(ctx)
		latency := time.Since(start)
		if ctx.Err() != nil {
			return // cut short by Stop: says nothing about the server
		}
		c.record(start.Sub(c.run.start), latency, body, failure)

		pause := c.load.Interval
		if failure != "" {
			pause = max(pause, failureBackoff)
		}
		if pause > 0 {
			t := time.NewTimer(pause)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
	}
}

// get does one request and returns the trimmed body of a 2xx answer, or a
// failure message.
func (c *loadClient) get(ctx context.Context) (body, failure string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.load.URL, nil)
	if err != nil {
		return "", fmt.Sprintf("load URL %q: %v", c.load.URL, err)
	}
	if c.load.Host != "" {
		req.Host = c.load.Host
	}
	if n := c.load.NewConnectionEvery; n > 0 && (c.total+1)%n == 0 {
		// The last request of this connection: the server gets
		// "Connection: close" and the next one dials again.
		req.Close = true
	}
	resp, err := c.http.Do(req)
	if err != nil && c.load.RetryResets && ctx.Err() == nil && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF)) {
		c.retried++
		resp, err = c.http.Do(req)
	}
	if err != nil {
		return "", err.Error()
	}
	defer resp.Body.Close()
	// Read to the end (bodies here are tiny), or the connection is not
	// reused and every request would pay for a new one.
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Sprintf("status %d, read body: %v", resp.StatusCode, err)
	}
	body = strings.TrimSpace(string(b))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if len(body) > 200 {
			body = body[:200] + "..."
		}
		return "", fmt.Sprintf("status %d: %q", resp.StatusCode, body)
	}
	return body, ""
}

func (c *loadClient) record(at, latency time.Duration, body, failure string) {
	c.total++
	ok := failure == ""
	if !ok {
		c.failed++
		if len(c.failures) < keptFailures {
			c.failures = append(c.failures, loadFailure{at, failure})
		}
	} else {
		if _, known := c.bodies[body]; !known && len(c.bodies) >= maxBodyKinds {
			body = otherBodies
		}
		c.bodies[body]++
		c.run.liveMu.Lock()
		c.run.live[body]++
		c.run.liveMu.Unlock()
	}
	if len(c.samples) >= c.maxSamples {
		c.dropped++
		return
	}
	smp := sample{at: at, latency: uint32(min(latency.Microseconds(), math.MaxUint32)), ok: ok}
	if ok {
		id, known := c.bodyIDs[body]
		if !known {
			id = int16(len(c.bodyNames))
			c.bodyIDs[body] = id
			c.bodyNames = append(c.bodyNames, body)
		}
		smp.body = id
	}
	c.samples = append(c.samples, smp)
}
