package runner

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/image"
)

// These tests change the package's timeouts: not parallel.

// TestRetryBoundsEachAttempt: a call stuck until its context ends (a
// request on a connection that died without a word) does not use up the
// clean-up: the next call runs while the caller's context still lives.
func TestRetryBoundsEachAttempt(t *testing.T) {
	defer func(d time.Duration) { retryAttempt = d }(retryAttempt)
	retryAttempt = 50 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	calls := 0
	var firstEnded error
	err := Retry(ctx, func(attempt context.Context) error {
		calls++
		if calls == 1 {
			<-attempt.Done()
			firstEnded = attempt.Err()
			return attempt.Err()
		}
		return nil
	})
	if err != nil || calls != 2 {
		t.Fatalf("Retry = %v after %d calls, want success at the second", err, calls)
	}
	if !errors.Is(firstEnded, context.DeadlineExceeded) || ctx.Err() != nil {
		t.Fatalf("the stuck call ended with %v while the caller's context says %v: want its own bound, the caller's still alive", firstEnded, ctx.Err())
	}
}

// TestRetryReturnsTheLastError: when the context ends first, Retry returns
// the last call's error.
func TestRetryReturnsTheLastError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	calls := 0
	err := Retry(ctx, func(context.Context) error {
		calls++
		return errors.New("engine unreachable")
	})
	if err == nil || err.Error() != "engine unreachable" || calls < 2 {
		t.Fatalf("Retry = %v after %d calls, want the last error after retries", err, calls)
	}
}

// unreachableHost creates containers, then loses the engine: every start
// and removal fails.
type unreachableHost struct {
	ContainerHost
	removals int
}

func (h *unreachableHost) EnsureNetwork(context.Context, string, map[string]string) (string, error) {
	return "net", nil
}
func (h *unreachableHost) CreateContainer(context.Context, docker.ContainerSpec) (string, error) {
	return "c1", nil
}
func (h *unreachableHost) StartContainer(context.Context, string) error { return errors.New("EOF") }
func (h *unreachableHost) RemoveContainer(context.Context, string) error {
	h.removals++
	return errors.New("engine unreachable")
}

// TestStartNamesAContainerItCouldNotRemove: a failed start whose clean-up
// fails too says so (the next apply removes the stray), after retrying.
func TestStartNamesAContainerItCouldNotRemove(t *testing.T) {
	defer func(d time.Duration) { cleanupTimeout = d }(cleanupTimeout)
	cleanupTimeout = 600 * time.Millisecond
	host := &unreachableHost{}
	c := &Containers{Docker: host, Network: "n", PublishAddress: "127.0.0.1"}
	spec := workload.Spec{Name: "web", Source: &image.Config{Ref: "example/web:1", Port: 8080}}
	_, err := c.Start(context.Background(), spec, plugin.Artifact{Image: "example/web:1"}, 1)
	if err == nil || !strings.Contains(err.Error(), "start container web-1-") || !strings.Contains(err.Error(), "EOF") ||
		!strings.Contains(err.Error(), "the container was not removed: engine unreachable") {
		t.Fatalf("Start = %v, want the start's failure and the failed removal", err)
	}
	if host.removals < 2 {
		t.Fatalf("the removal was tried %d times, want retries", host.removals)
	}
}
