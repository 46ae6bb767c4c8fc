package rollout

import (
	"context"
	"slices"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/runner"
)

// drainPoll is how often the drain asks the proxy what is in flight, and
// drainSettled how many answers in a row must say "nothing" before the old
// instances go: a request the old config accepted just before the swap is
// counted a few microseconds after, so one answer could come too early.
const (
	drainPoll    = 50 * time.Millisecond
	drainSettled = 2
)

// toDrain returns the upstreams of the old instances that the swap should
// park in the route for an in-flight drain: none when the proxy cannot
// count requests (then the drain is timed), when there is no drain, or when
// nothing runs to drain.
func (d *deployment) toDrain(old, next []runner.Instance) []string {
	if _, ok := d.Router.(proxy.Drainer); !ok || d.spec.DrainTimeout <= 0 || d.cur.Status() != StatusRunning {
		return nil
	}
	var out []string
	keep := upstreams(next)
	for _, up := range upstreams(old) {
		if !slices.Contains(keep, up) && !slices.Contains(out, up) {
			out = append(out, up)
		}
	}
	return out
}

// drain lets the old instances finish the requests they have in flight
// before they are stopped. It starts only once the swap's route write is
// confirmed, so the proxy sends them nothing new. When the proxy counts
// in-flight requests (draining is set), the drain ends as soon as nothing
// is in flight to them, bounded by drain_timeout; otherwise it waits
// drain_timeout. A count that cannot be read is no answer: the drain warns
// once and asks again, so one failed read does not cost the rest of
// drain_timeout.
func (d *deployment) drain(ctx context.Context, draining []string) {
	timeout := d.spec.DrainTimeout
	if timeout <= 0 {
		return
	}
	log := d.log().With("workload", d.spec.Name)
	counter, ok := d.Router.(proxy.Drainer)
	if !ok || len(draining) == 0 {
		log.InfoContext(ctx, "draining the old containers for drain_timeout", "drain_timeout", timeout.String())
		sleep(ctx, timeout)
		return
	}
	log.InfoContext(ctx, "draining the old containers until no request is in flight to them",
		"upstreams", draining, "drain_timeout", timeout.String())
	start := time.Now()
	deadline := start.Add(timeout)
	lastLog, idle, warned := start, 0, false
	for {
		n, err := inFlightBy(ctx, counter, draining, deadline)
		inFlight := 0
		for _, c := range n {
			inFlight += c
		}
		switch {
		case err != nil:
			idle = 0
			if !warned {
				log.WarnContext(ctx, "could not read the requests in flight; asking again until drain_timeout", "error", err.Error())
				warned = true
			}
		case inFlight == 0:
			idle++
		default:
			idle = 0
		}
		elapsed := time.Since(start).Round(time.Millisecond).String()
		switch {
		case idle >= drainSettled:
			log.InfoContext(ctx, "the old containers drained: no request in flight to them", "elapsed", elapsed)
			return
		case time.Now().After(deadline) && err != nil:
			log.WarnContext(ctx, "drain_timeout reached without a count of the requests in flight", "elapsed", elapsed)
			return
		case time.Now().After(deadline):
			log.InfoContext(ctx, "drain_timeout reached with requests still in flight to the old containers",
				"in_flight", inFlight, "elapsed", elapsed)
			return
		case err == nil && time.Since(lastLog) >= time.Second:
			log.InfoContext(ctx, "requests still in flight to the old containers", "in_flight", inFlight, "elapsed", elapsed)
			lastLog = time.Now()
		}
		if !sleep(ctx, min(drainPoll, time.Until(deadline))) {
			return
		}
	}
}

// inFlightBy asks counter what is in flight to upstreams, giving up at
// deadline: a proxy that retries its own reads must not hold the drain
// past drain_timeout.
func inFlightBy(ctx context.Context, counter proxy.Drainer, upstreams []string, deadline time.Time) (map[string]int, error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	return counter.InFlight(ctx, upstreams)
}

// unpark writes the route without the drained upstreams, best effort: a
// route left parking them is harmless (the parked upstreams are never
// sent a request) and the next route write, or converge, cleans it.
func (d *deployment) unpark(ctx context.Context, live []runner.Instance, draining []string) {
	if len(draining) == 0 {
		return
	}
	if err := d.route(ctx, d.spec, live); err != nil {
		d.log().WarnContext(ctx, "could not take the drained upstreams out of the route", "workload", d.spec.Name, "error", err.Error())
	}
}

// sleep waits d or until ctx ends, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
