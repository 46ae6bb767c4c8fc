package npm

import (
	"context"
	"net/http"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/retry"
)

// DefaultRetryTimeout is how long a call retries an NPM that does not
// answer: long enough for NPM to restart.
const DefaultRetryTimeout = 30 * time.Second

// maxAttempts bounds the tries of a call that NPM answers with its own 5xx.
const maxAttempts = 3

// retryPolicy is how a call to NPM is retried (its bounds are listed with
// the others in package retry). Only answers that may hide a stored change
// (mayBeStored) are retried, and a caller whose request is not harmless to
// repeat looks the change up before each retry: a transient failure (no
// answer, 502, 503, 504: NPM restarting, or a gateway in front of it) until
// the retry timeout has passed; another 5xx (NPM's own 500, e.g. with nginx
// down) maxAttempts times in all.
func (r *Router) retryPolicy(timeout time.Duration) retry.Policy {
	wait := retry.Backoff{First: 250 * time.Millisecond, Max: 2 * time.Second, Linear: true}
	return retry.Policy{
		Classify: func(err error) retry.Class {
			switch {
			case transient(err):
				return retry.Outage
			case statusOf(err) >= 500:
				return retry.Contended
			}
			return retry.Final
		},
		Outage:        timeout,
		Tries:         maxAttempts,
		OutageWait:    wait,
		ContendedWait: wait,
		What:          "NPM",
		Log: func(ctx context.Context, err error, down time.Duration) {
			r.log(ctx, "NPM does not answer; retrying", map[string]any{
				"error": err.Error(), "for": down.Round(time.Millisecond).String(), "retry_timeout": timeout.String(),
			})
		},
	}
}

// transient reports a failure that passes by itself: no answer at all (a
// refused, reset or dropped connection) or a gateway's 502, 503 or 504.
func transient(err error) bool {
	switch statusOf(err) {
	case 0, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// mayBeStored reports an outcome that does not say whether NPM applied the
// request: a 5xx (NPM stores a change before nginx runs) or no answer at all.
func mayBeStored(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	st := statusOf(err)
	return st >= 500 || st == 0
}

// cleanupContext is for putting things back after a failure: it outlives a
// cancelled ctx (an interrupted apply must not leave traffic on a container
// the engine is about to remove) but is bounded.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}
