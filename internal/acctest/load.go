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

// Stats is what a Run saw. Counts cover every finished request; latencies,
// Window, Sequence and Samples cover the kept samples (all of them unless
// Dropped > 0).
type Stats struct {
	Total  int // requests finished
	Failed int // transport errors and non-2xx answers
	// Connections is how many connections the clients opened: over
	// HTTPS, how many TLS handshakes they began.
	Connections int
	// Retried is how many requests were sent again after a reset
	// (Load.RetryResets).
	Retried int
	// Bodies counts the ok (2xx) answers by trimmed body.
	Bodies map[string]int
	// FirstFailures are the earliest failure messages ("+1.2s: status 502:
	// ..."), at most 5.
	FirstFailures []string
	// Latency is over all kept requests, failed ones included (a timeout
	// is a slow request too).
	Latency Latency
	// Start and End are when the Run started and stopped.
	Start, End time.Time
	// Dropped is how many requests were counted but not kept as samples.
	Dropped int

	samples   []sample // in start order
	bodyNames []string
	failures  []loadFailure // in time order, up to 5 per client
}

// Latency summarises request latencies (nearest-rank percentiles).
type Latency struct {
	P50, P99, Max time.Duration
}

// Sample is one request as Samples reports it.
type Sample struct {
	Start   time.Time
	Latency time.Duration
	OK      bool
	Body    string // trimmed body of an ok answer, "" for a failure
}

// Window is the Stats of the requests that started in [from, to): the swap
// of a deploy against the steady state around it. Its FirstFailures come
// only from the failures the Run kept (up to 5 per client), and Dropped is
// 0.
func (s Stats) Window(from, to time.Time) Stats {
	lo, hi := from.Sub(s.Start), to.Sub(s.Start)
	first, _ := slices.BinarySearchFunc(s.samples, lo, func(smp sample, at time.Duration) int { return cmp.Compare(smp.at, at) })
	last, _ := slices.BinarySearchFunc(s.samples, hi, func(smp sample, at time.Duration) int { return cmp.Compare(smp.at, at) })
	if last < first {
		last = first
	}
	w := Stats{
		Bodies:    map[string]int{},
		Start:     from,
		End:       to,
		samples:   s.samples[first:last],
		bodyNames: s.bodyNames,
	}
	for _, smp := range w.samples {
		w.Total++
		if smp.ok {
			w.Bodies[s.bodyNames[smp.body]]++
		} else {
			w.Failed++
		}
	}
	for _, f := range s.failures {
		if f.at >= lo && f.at < hi {
			w.failures = append(w.failures, loadFailure{f.at - lo, f.msg})
		}
	}
	// Re-base the samples on the window's start, so that Window of a
	// Window and Samples keep meaning what they say.
	rebased := make([]sample, len(w.samples))
	for i, smp := range w.samples {
		smp.at -= lo
		rebased[i] = smp
	}
	w.samples = rebased
	w.FirstFailures = firstFailures(w.failures)
	w.Latency = latencyOf(w.samples)
	return w
}

// Sequence is the order in which the ok bodies changed, by request start:
// consecutive repeats collapse, so a clean blue-green swap reads
// ["v1", "v2"] and a flapping one ["v1", "v2", "v1", "v2"]. With several
// clients, requests that start within microseconds of each other may reach
// the server in the other order: assert on a swap that is not that close,
// or use Window.
func (s Stats) Sequence() []string {
	var seq []string
	for _, smp := range s.samples {
		if !smp.ok {
			continue
		}
		if body := s.bodyNames[smp.body]; len(seq) == 0 || seq[len(seq)-1] != body {
			seq = append(seq, body)
		}
	}
	return seq
}

// Samples returns the kept requests in start order.
func (s Stats) Samples() []Sample {
	out := make([]Sample, len(s.samples))
	for i, smp := range s.samples {
		out[i] = Sample{
			Start:   s.Start.Add(smp.at),
			Latency: time.Duration(smp.latency) * time.Microsecond,
			OK:      smp.ok,
		}
		if smp.ok {
			out[i].Body = s.bodyNames[smp.body]
		}
	}
	return out
}

func firstFailures(failures []loadFailure) []string {
	var out []string
	for _, f := range failures[:min(len(failures), keptFailures)] {
		out = append(out, fmt.Sprintf("+%s: %s", f.at.Round(time.Millisecond), f.msg))
	}
	return out
}

func latencyOf(samples []sample) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	lat := make([]uint32, len(samples))
	for i, smp := range samples {
		lat[i] = smp.latency
	}
	slices.Sort(lat)
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(lat)))) - 1
		return time.Duration(lat[max(i, 0)]) * time.Microsecond
	}
	return Latency{P50: rank(0.50), P99: rank(0.99), Max: time.Duration(lat[len(lat)-1]) * time.Microsecond}
}
