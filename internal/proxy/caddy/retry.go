package caddy

import (
	"context"
	"errors"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/retry"
)

// maxAttempts bounds the read-then-write rounds of one operation. Each lost
// round means another writer succeeded, so with N concurrent writers a round
// is lost at most N-1 times in a row; the bound only stops a runaway loop.
const maxAttempts = 100

// errRedo ends a round that brought the server's settings in line: the
// server's Etag changed with it, so the next round reads it again.
var errRedo = errors.New("the server's settings were brought in line; read it again")

// retryPolicy is how the rounds of one operation are retried (its bounds
// are listed with the others in package retry): a round that lost a race
// (412) or returned errRedo runs again, up to maxAttempts; one that met a
// transient failure (isTransient) runs again until the retry timeout has
// passed since the first such failure in a row; any other error ends it.
// Caddy's own admin restarts take milliseconds, a restart of Caddy longer.
func (r *Router) retryPolicy(timeout time.Duration) retry.Policy {
	return retry.Policy{
		Classify: func(err error) retry.Class {
			switch {
			case isTransient(err):
				return retry.Outage
			case isConflict(err), errors.Is(err, errRedo):
				return retry.Contended
			}
			return retry.Final
		},
		Outage:     timeout,
		Tries:      maxAttempts,
		OutageWait: retry.Backoff{First: 10 * time.Millisecond, Max: 640 * time.Millisecond, Jitter: true},
		// Writers who lost a race together do not collide again together.
		ContendedWait: retry.Backoff{First: 5 * time.Millisecond, Max: 100 * time.Millisecond, Linear: true, Jitter: true},
		What:          "Caddy's admin API",
		Log: func(ctx context.Context, err error, down time.Duration) {
			r.log(ctx, "Caddy's admin API does not answer; retrying", map[string]any{
				"error": err.Error(), "for": down.Round(time.Millisecond).String(), "retry_timeout": timeout.String(),
			})
		},
	}
}

// retry runs one read-then-write round until it succeeds, as retryPolicy
// says.
func (r *Router) retry(ctx context.Context, round func() error) error {
	return r.retries.Do(ctx, func(context.Context) error { return round() })
}
