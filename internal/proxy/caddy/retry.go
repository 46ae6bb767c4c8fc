package caddy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// maxAttempts bounds the read-then-write rounds of one operation. Each lost
// round means another writer succeeded, so with N concurrent writers a round
// is lost at most N-1 times in a row; the bound only stops a runaway loop.
const maxAttempts = 100

// retry runs one read-then-write round until it reports done. A round that
// lost a race (412) or made an intermediate change (done == false) runs
// again, up to maxAttempts; a round that met a transient failure (see
// isTransient) runs again until the retry timeout has passed since the
// first such failure in a row; any other error ends the loop.
func (r *Router) retry(ctx context.Context, round func() (done bool, err error)) error {
	var downSince time.Time
	for attempt, failures := 1, 0; ; attempt++ {
		done, err := round()
		var backoff time.Duration
		switch {
		case err == nil && done:
			return nil
		case err != nil && isTransient(err):
			failures++
			if downSince.IsZero() {
				downSince = time.Now()
			}
			down := time.Since(downSince)
			if down >= r.retryTimeout {
				return fmt.Errorf("%w (Caddy's admin API kept failing for %s, the retry timeout)", err, r.retryTimeout.Round(time.Second))
			}
			if failures == 3 || failures%20 == 0 {
				r.log(ctx, "Caddy's admin API does not answer; retrying", map[string]any{
					"error": err.Error(), "for": down.Round(time.Millisecond).String(), "retry_timeout": r.retryTimeout.String(),
				})
			}
			// Caddy's own admin restarts take milliseconds, a restart of
			// Caddy longer: back off from 10 ms up to 1 s.
			backoff = min(time.Duration(1<<min(failures, 7))*5*time.Millisecond, time.Second)
			attempt-- // an outage is bounded by time, not by rounds
		case err != nil && !isConflict(err):
			return err
		case attempt >= maxAttempts:
			return fmt.Errorf("gave up after %d attempts: the config kept changing underneath (last: %v)", attempt, err)
		default:
			downSince, failures = time.Time{}, 0
			if err != nil {
				// Lost the race: back off a little, at random, so that the
				// writers who lost together do not collide again together.
				backoff = time.Duration(min(attempt, 20)) * 5 * time.Millisecond
			}
		}
		if backoff > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(rand.N(backoff) + time.Millisecond):
			}
		}
	}
}
