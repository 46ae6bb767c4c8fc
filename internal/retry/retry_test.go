package retry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

var (
	errDown  = errors.New("connection refused")
	errRace  = errors.New("412 precondition failed")
	errFinal = errors.New("404 not found")
)

func classify(err error) Class {
	switch {
	case errors.Is(err, errDown):
		return Outage
	case errors.Is(err, errRace):
		return Contended
	}
	return Final
}

var fast = Policy{
	Classify:      classify,
	Outage:        300 * time.Millisecond,
	Tries:         4,
	OutageWait:    Backoff{First: 10 * time.Millisecond, Max: 40 * time.Millisecond},
	ContendedWait: Backoff{First: time.Millisecond, Max: 2 * time.Millisecond, Jitter: true},
	What:          "the test server",
}

// failing returns an op that fails with errs in turn, then succeeds, and
// counts its calls.
func failing(calls *int, errs ...error) func(context.Context) error {
	return func(context.Context) error {
		*calls++
		if *calls <= len(errs) {
			return errs[*calls-1]
		}
		return nil
	}
}

func TestDoRetriesByClass(t *testing.T) {
	for _, c := range []struct {
		name      string
		errs      []error
		wantCalls int
		wantErr   string // "" for success
	}{
		{"success at once", nil, 1, ""},
		{"final failure is not retried", []error{errFinal, errFinal}, 1, "404 not found"},
		{"outages then success", []error{errDown, errDown, errDown}, 4, ""},
		{"contended then success", []error{errRace, errRace, errRace}, 4, ""},
		{"contended tries are bounded", []error{errRace, errRace, errRace, errRace, errRace}, 4, "412 precondition failed (gave up after 4 tries)"},
		{"outages do not count as tries", []error{errRace, errDown, errRace, errDown, errRace}, 6, ""},
		{"a final failure after retries ends it", []error{errDown, errRace, errFinal}, 3, "404 not found"},
		{"Stop ends it whatever the class", []error{errDown, Stop(errDown)}, 2, "connection refused"},
	} {
		t.Run(c.name, func(t *testing.T) {
			calls := 0
			err := fast.Do(context.Background(), failing(&calls, c.errs...))
			if calls != c.wantCalls {
				t.Errorf("%d calls, want %d", calls, c.wantCalls)
			}
			switch {
			case c.wantErr == "" && err != nil:
				t.Errorf("Do = %v, want success", err)
			case c.wantErr != "" && (err == nil || err.Error() != c.wantErr):
				t.Errorf("Do = %v, want %q", err, c.wantErr)
			}
			var stop *stopError
			if errors.As(err, &stop) {
				t.Errorf("Do returned the Stop wrapper %v, want the error it wraps", err)
			}
		})
	}
}

// TestOutageIsBoundedByTime: an outage that lasts is given up after
// Policy.Outage, naming who kept failing, and logged on the way.
func TestOutageIsBoundedByTime(t *testing.T) {
	p := fast
	var logged []time.Duration
	p.Log = func(_ context.Context, err error, down time.Duration) {
		if !errors.Is(err, errDown) {
			t.Errorf("logged %v", err)
		}
		logged = append(logged, down)
	}
	start := time.Now()
	calls := 0
	err := p.Do(context.Background(), func(context.Context) error { calls++; return errDown })
	took := time.Since(start)
	if !errors.Is(err, errDown) || !strings.Contains(err.Error(), "the test server kept failing for 300ms, the retry timeout") {
		t.Fatalf("Do = %v", err)
	}
	if took < p.Outage || took > p.Outage+200*time.Millisecond {
		t.Fatalf("gave up after %s, want about %s", took, p.Outage)
	}
	// Waits of 10, 20, 40, 40, ... ms: about 9 calls in 300 ms.
	if calls < 5 || calls > 12 {
		t.Fatalf("%d calls in %s, want the waits to double up to 40 ms", calls, took)
	}
	if len(logged) == 0 || logged[0] <= 0 {
		t.Fatalf("logged %v, want the third failure logged with how long the outage lasted", logged)
	}
}

// TestContendedFailureRestartsTheOutage: the outage bound is of an unbroken
// run of outages.
func TestContendedFailureRestartsTheOutage(t *testing.T) {
	p := fast
	p.Outage = 100 * time.Millisecond
	p.Tries = 10
	calls := 0
	err := p.Do(context.Background(), func(context.Context) error {
		calls++
		switch {
		case calls == 30:
			return nil
		case calls%3 == 0:
			return errRace
		}
		// Two outages of 10+20 ms in a row: under the bound, always.
		return errDown
	})
	if err != nil || calls != 30 {
		t.Fatalf("Do = %v after %d calls", err, calls)
	}
}

// TestContextEndReturnsTheLastFailure: when ctx ends, the loop stops and
// returns what op last said, not the context's error; with no outage bound
// it runs until then.
func TestContextEndReturnsTheLastFailure(t *testing.T) {
	p := Policy{OutageWait: Backoff{First: 10 * time.Millisecond, Max: 20 * time.Millisecond}}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	calls := 0
	err := p.Do(ctx, func(context.Context) error { calls++; return errFinal })
	if err != errFinal || calls < 3 {
		t.Fatalf("Do = %v after %d calls, want the last failure after retries (nil Classify: all outages)", err, calls)
	}
}

// TestTryTimeoutBoundsEachTry: each try has a deadline of its own, so a
// try stuck until its context ends leaves the caller's context alive.
func TestTryTimeoutBoundsEachTry(t *testing.T) {
	p := Policy{TryTimeout: 50 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := p.Do(ctx, func(try context.Context) error {
		if dl, ok := try.Deadline(); !ok || time.Until(dl) > p.TryTimeout {
			return Stop(fmt.Errorf("the try's deadline is %v (set: %v), want within %s", dl, ok, p.TryTimeout))
		}
		<-try.Done()
		if ctx.Err() != nil {
			return Stop(errors.New("the stuck try used up the caller's context"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBackoffGrowsUpToMax(t *testing.T) {
	b := Backoff{First: 250 * time.Millisecond, Max: 2 * time.Second}
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 2 * time.Second}
	for i, w := range want {
		if got := b.wait(i + 1); got != w {
			t.Errorf("wait(%d) = %s, want %s", i+1, got, w)
		}
	}
	l := Backoff{First: 250 * time.Millisecond, Max: time.Second, Linear: true}
	want = []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, 750 * time.Millisecond, time.Second, time.Second}
	for i, w := range want {
		if got := l.wait(i + 1); got != w {
			t.Errorf("linear wait(%d) = %s, want %s", i+1, got, w)
		}
	}
	j := Backoff{First: 10 * time.Millisecond, Max: time.Second, Jitter: true}
	for n := 1; n < 12; n++ {
		full := min(10*time.Millisecond<<(n-1), time.Second)
		if got := j.wait(n); got < time.Millisecond || got > full {
			t.Errorf("jittered wait(%d) = %s, want 1 ms to %s", n, got, full)
		}
	}
}
