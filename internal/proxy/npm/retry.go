package npm

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Retry policy for answers that may hide a stored change (5xx, no answer),
// the change looked up before each retry: a transient failure (no answer,
// 502, 503, 504: NPM restarting, or a gateway in front of it) is retried
// until the retry timeout has passed; another 5xx (NPM's own 500, e.g. with
// nginx down) three times in all.
const (
	maxAttempts         = 3
	retryBackoff        = 250 * time.Millisecond
	maxRetryBackoff     = 2 * time.Second
	DefaultRetryTimeout = 30 * time.Second
)

// retrier paces the retries of one call.
type retrier struct {
	r        *Router
	first    time.Time
	attempts int
	timedOut bool
}

func (r *Router) retrier() *retrier { return &retrier{r: r} }

// next reports whether the call that failed with err is tried again, after
// waiting its backoff: a transient failure until the retry timeout has
// passed since the first failure, another answer that may hide a stored
// change up to maxAttempts attempts in all.
func (t *retrier) next(ctx context.Context, err error) bool {
	if !mayBeStored(ctx, err) {
		return false
	}
	t.attempts++
	if t.first.IsZero() {
		t.first = time.Now()
	}
	if transient(err) {
		if time.Since(t.first) >= t.r.retryTimeout {
			t.timedOut = true
			return false
		}
	} else if t.attempts >= maxAttempts {
		return false
	}
	if t.attempts == 3 || t.attempts%10 == 0 {
		t.r.log(ctx, "NPM does not answer; retrying", map[string]any{
			"error": err.Error(), "for": time.Since(t.first).Round(time.Millisecond).String(), "retry_timeout": t.r.retryTimeout.String(),
		})
	}
	return sleep(ctx, min(retryBackoff*time.Duration(t.attempts), maxRetryBackoff)) == nil
}

// explain says, on an error the retries gave up on, that they did.
func (t *retrier) explain(err error) error {
	if err != nil && t.timedOut {
		return fmt.Errorf("%w (NPM kept failing for %s, the retry timeout)", err, t.r.retryTimeout.Round(time.Second))
	}
	return err
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

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
