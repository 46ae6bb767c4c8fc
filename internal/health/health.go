// Package health gates a freshly started container before it takes traffic:
// an HTTP readiness probe when the workload names a health path, else a
// liveness window during which the container must stay up. rollout runs the
// gate between "start" and "route"; a gate that fails says why in words a
// user can act on (the probe's last answer, or how the container died).
package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Answer is the outcome of one probe attempt.
type Answer struct {
	// Status is the HTTP status code, 0 when no answer came.
	Status int
	// Body is the start of the answer's body, trimmed.
	Body string
	// Err is the transport error when no answer came.
	Err error
}

func (a Answer) ok() bool { return a.Err == nil && a.Status >= 200 && a.Status < 400 }

// String describes the answer for an error message.
func (a Answer) String() string {
	if a.Err != nil {
		return "no answer: " + a.Err.Error()
	}
	if a.Body == "" {
		return fmt.Sprintf("HTTP %d", a.Status)
	}
	return fmt.Sprintf("HTTP %d %q", a.Status, a.Body)
}

// ProbeError is a readiness probe that never passed.
type ProbeError struct {
	URL      string
	Timeout  time.Duration
	Attempts int
	Last     Answer
}

func (e *ProbeError) Error() string {
	return fmt.Sprintf("GET %s did not answer 2xx/3xx within %s (%d attempts); last answer: %s",
		e.URL, e.Timeout, e.Attempts, e.Last)
}

// Probe GETs url until it answers 2xx or 3xx, or until timeout passes or
// stop reports that waiting is pointless (the container died). Redirects are
// not followed: a 3xx means the app is up. attempt, when not nil, sees every
// answer, for progress logs.
func Probe(ctx context.Context, url string, timeout time.Duration, stop func() error, attempt func(n int, a Answer)) error {
	return ProbeVia(ctx, nil, url, timeout, stop, attempt)
}

// Dialer opens a connection, as net.Dialer.DialContext does.
type Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

// ProbeVia is Probe with the probe's connections opened by dial: for a
// Docker host reached over SSH, a channel of that connection, so that the
// url's address is the host's (its loopback, say), not this machine's. A
// nil dial dials directly.
func ProbeVia(ctx context.Context, dial Dialer, url string, timeout time.Duration, stop func() error, attempt func(n int, a Answer)) error {
	client := &http.Client{
		Timeout:       2 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		// A fresh connection per attempt: a kept-alive connection to a
		// dying process would tell nothing about the new one.
		Transport: &http.Transport{DisableKeepAlives: true, DialContext: dial},
	}
	deadline := time.Now().Add(timeout)
	interval := firstProbeInterval
	var last Answer
	for n := 1; ; n++ {
		last = get(ctx, client, url)
		if attempt != nil {
			attempt(n, last)
		}
		if last.ok() {
			return nil
		}
		if stop != nil {
			if err := stop(); err != nil {
				return fmt.Errorf("%w (last answer of GET %s: %s)", err, url, last)
			}
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return &ProbeError{URL: url, Timeout: timeout, Attempts: n, Last: last}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("probe %s: %w (last answer: %s)", url, ctx.Err(), last)
		case <-time.After(min(interval, remaining)):
		}
		interval = nextProbeInterval(interval)
	}
}

// A probe waits firstProbeInterval after its first attempt, then 1.5 times
// longer after each, up to maxProbeInterval. Most apps listen within tens of
// milliseconds of their start, so the first waits are short: a gate that
// waited 100 ms first spent about as long waiting as the app took to start.
// An attempt on a port nobody listens on yet costs one refused connection.
const (
	firstProbeInterval = 20 * time.Millisecond
	maxProbeInterval   = time.Second
)

func nextProbeInterval(d time.Duration) time.Duration {
	return min(d*3/2, maxProbeInterval)
}

func get(ctx context.Context, client *http.Client, url string) Answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Answer{Err: err}
	}
	resp, err := client.Do(req)
	if err != nil {
		return Answer{Err: errors.Unwrap(err)}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	return Answer{Status: resp.StatusCode, Body: strings.TrimSpace(string(b))}
}

// State is what the liveness window watches of a container.
type State struct {
	// Status is the engine's state word ("running", "restarting", "exited").
	Status       string
	RestartCount int
	ExitCode     int
}

// LivenessError is a container that did not stay up for the window.
type LivenessError struct {
	Window time.Duration
	After  time.Duration
	State  State
}

func (e *LivenessError) Error() string {
	how := fmt.Sprintf("is %s", e.State.Status)
	if e.State.Status == "exited" || e.State.Status == "dead" {
		how = fmt.Sprintf("exited with code %d", e.State.ExitCode)
	}
	if e.State.RestartCount > 0 {
		how += fmt.Sprintf(" (restarted %d times)", e.State.RestartCount)
	}
	return fmt.Sprintf("container did not stay up for the %s liveness window: after %s it %s",
		e.Window, e.After.Round(100*time.Millisecond), how)
}

// Liveness watches a container for window: it must stay running, and not
// restart, the whole time. state is polled every poll.
func Liveness(ctx context.Context, window, poll time.Duration, state func(context.Context) (State, error)) error {
	start := time.Now()
	first := true
	var base int
	for {
		s, err := state(ctx)
		if err != nil {
			return fmt.Errorf("watch container: %w", err)
		}
		if first {
			base, first = s.RestartCount, false
		}
		if s.Status != "running" || s.RestartCount != base {
			return &LivenessError{Window: window, After: time.Since(start), State: s}
		}
		if time.Since(start) >= window {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}
