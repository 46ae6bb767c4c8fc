// Package retry is the one loop that tries an operation again. A caller
// says which of its failures may pass (Policy.Classify); the Policy bounds
// how long and how often, and the loop waits between tries and ends with
// its context. It knows nothing of its callers and imports only the
// standard library.
//
// The policies in use, and their bounds:
//
//	caller           outage: bound, waits                contended: what, bound, waits
//	proxy/caddy      retry_timeout (default 30 s);        a lost race (412) or a settings fix:
//	admin API        10 ms doubling to 640 ms, jittered   100 tries; 5 ms more each to 100 ms, jittered
//	proxy/npm        retry_timeout (default 30 s);        NPM's own 5xx: 3 tries;
//	REST API         250 ms more each to 2 s              250 ms more each to 2 s
//	workload/runner  until the clean-up's context ends    none
//	clean-ups        (30 s); 250 ms doubling to 2 s;
//	                 each try at most 10 s
//	docker           none                                 a network name two networks have
//	StartContainer                                        (after converging them): 4 tries;
//	                                                      100 ms more each to 300 ms
//	docker builds    none                                 the engine's build-cache race
//	(BuildCacheRace-                                      (an image removed during its
//	Retry: Git                                            cache lookup): 3 builds (or
//	sources, compose)                                     compose Ups) in all; no wait
package retry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Class is what a failure says about trying again.
type Class int

const (
	// Final failures end the loop at once: trying again cannot help.
	Final Class = iota
	// Outage failures pass by themselves (no answer, a dropped connection,
	// a gateway's 502, 503 or 504): tried again until an unbroken run of
	// them has lasted Policy.Outage.
	Outage
	// Contended failures may pass on a fresh try (a write that lost a race
	// with another writer, or that may have been applied in part): tried
	// again up to Policy.Tries such tries in all.
	Contended
)

// Policy bounds the tries of one operation.
type Policy struct {
	// Classify says what a failure is; nil makes every failure an Outage.
	// An error wrapped by Stop is Final whatever Classify says.
	Classify func(error) Class
	// Outage bounds an unbroken run of Outage failures, from its first;
	// 0 retries them until ctx ends.
	Outage time.Duration
	// Tries bounds the tries that end in a Contended failure; 0 makes
	// every Contended failure final.
	Tries int
	// OutageWait and ContendedWait are the waits before the next try.
	OutageWait, ContendedWait Backoff
	// TryTimeout bounds one try, so that a call stuck on a connection that
	// died without a word does not use up ctx; 0: no bound of its own.
	TryTimeout time.Duration
	// What names who kept failing, in the error that ends an outage:
	// "NPM", "Caddy's admin API".
	What string
	// Log, when set, hears of a long outage: at its third failure and
	// every tenth after, with how long it has lasted.
	Log func(ctx context.Context, err error, down time.Duration)
}

// Backoff is a wait that starts at First and doubles after each failure of
// its kind (Linear: grows by First), up to Max. With Jitter the wait is a
// random part of that (at least 1 ms), so that callers that failed
// together do not try again together.
type Backoff struct {
	First, Max time.Duration
	Linear     bool
	Jitter     bool
}

// wait is the wait after the n-th failure of its kind (n >= 1).
func (b Backoff) wait(n int) time.Duration {
	d := b.First
	for i := 1; i < n && d < b.Max; i++ {
		if b.Linear {
			d += b.First
		} else {
			d *= 2
		}
	}
	d = min(d, b.Max)
	if b.Jitter && d > time.Millisecond {
		// 1 ms to d, both included.
		return time.Millisecond + rand.N(d-time.Millisecond+1)
	}
	if b.Jitter && d > 0 {
		return time.Millisecond
	}
	return d
}

// Stop marks err as final: Do returns err without trying again. Stop(nil)
// is nil.
func Stop(err error) error {
	if err == nil {
		return nil
	}
	return &stopError{err}
}

type stopError struct{ err error }

func (e *stopError) Error() string { return e.err.Error() }
func (e *stopError) Unwrap() error { return e.err }

// Do calls op until it returns nil or a failure the policy does not try
// again, and returns that. When ctx ends, it returns op's last failure. A
// run of outages that lasted Policy.Outage, or Policy.Tries contended
// tries, end with op's last failure, saying so.
func (p Policy) Do(ctx context.Context, op func(ctx context.Context) error) error {
	var downSince time.Time
	outages, contended := 0, 0
	for {
		err := p.try(ctx, op)
		if err == nil {
			return nil
		}
		if stop := (*stopError)(nil); errors.As(err, &stop) {
			return stop.err
		}
		if ctx.Err() != nil {
			return err
		}
		var wait time.Duration
		switch p.classify(err) {
		case Outage:
			outages++
			if downSince.IsZero() {
				downSince = time.Now()
			}
			down := time.Since(downSince)
			if p.Outage > 0 && down >= p.Outage {
				return fmt.Errorf("%w (%s kept failing for %s, the retry timeout)", err, p.What, p.Outage.Round(time.Millisecond))
			}
			if p.Log != nil && (outages == 3 || outages%10 == 0) {
				p.Log(ctx, err, down)
			}
			wait = p.OutageWait.wait(outages)
		case Contended:
			downSince, outages = time.Time{}, 0
			contended++
			if contended >= p.Tries {
				if p.Tries > 1 {
					return fmt.Errorf("%w (gave up after %d tries)", err, p.Tries)
				}
				return err
			}
			wait = p.ContendedWait.wait(contended)
		default:
			return err
		}
		if Sleep(ctx, wait) != nil {
			return err
		}
	}
}

func (p Policy) try(ctx context.Context, op func(ctx context.Context) error) error {
	if p.TryTimeout <= 0 {
		return op(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, p.TryTimeout)
	defer cancel()
	return op(ctx)
}

func (p Policy) classify(err error) Class {
	if p.Classify == nil {
		return Outage
	}
	return p.Classify(err)
}

// Sleep waits d, or until ctx ends: then it returns ctx's error.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
