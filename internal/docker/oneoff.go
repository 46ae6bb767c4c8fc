package docker

import (
	"context"
	"fmt"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
)

// RunOptions say how a container runs to its end.
type RunOptions struct {
	// Timeout bounds the run; the container is killed once it passes.
	Timeout time.Duration
	// Tail is how many of the last output lines the result keeps.
	Tail int
	// Output, when set, gets each output line as it is written.
	Output func(LogLine)
}

// RunResult is how a run to the end went.
type RunResult struct {
	// ExitCode is the process's exit code; -1 when it timed out.
	ExitCode int
	// TimedOut says the run was killed at its Timeout.
	TimedOut bool
	// Tail are the last output lines, stdout and stderr as written.
	Tail []LogLine
	// Elapsed is from the start to the end of the process.
	Elapsed time.Duration
}

// RunToEnd starts a created container (a one-off: a release command),
// follows its output and waits for its process to end, or kills it at its
// timeout. It removes nothing: the caller removes the container, whatever
// the outcome. An exit code other than 0 is a result, not an error; an
// error is a run that could not be started or watched, or ctx ending.
func (c *Client) RunToEnd(ctx context.Context, id string, o RunOptions) (res RunResult, err error) {
	// Wait before the start, so that an exit right away is not missed;
	// the wait and the output end with watch.
	watch, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	exited, waitErr := c.api.ContainerWait(watch, id, container.WaitConditionNextExit)
	if err := c.StartContainer(ctx, id); err != nil {
		return res, err
	}
	start := time.Now()
	output := make(chan error, 1)
	ring := newLineRing(o.Tail)
	go func() {
		rc, err := c.api.ContainerLogs(watch, id, LogQuery{}.options(false, true))
		if err != nil {
			output <- err
			return
		}
		defer rc.Close()
		output <- readLogLines(rc, false, func(l LogLine) {
			ring.add(l)
			if o.Output != nil {
				o.Output(l)
			}
		})
	}()

	timeout := time.NewTimer(o.Timeout)
	defer timeout.Stop()
	select {
	case r := <-exited:
		res.ExitCode = int(r.StatusCode)
		if r.Error != nil && r.Error.Message != "" {
			err = fmt.Errorf("wait for container %s: %s", id, r.Error.Message)
		}
	case werr := <-waitErr:
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		return res, fmt.Errorf("wait for container %s: %w", id, classify(werr))
	case <-timeout.C:
		res.TimedOut, res.ExitCode = true, -1
		// Killed here rather than by the removal, so that its output is
		// whole when read.
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if kerr := c.api.ContainerKill(kctx, id, "KILL"); kerr != nil && !cerrdefs.IsNotFound(kerr) && !cerrdefs.IsConflict(kerr) {
			err = fmt.Errorf("kill container %s at its timeout: %w", id, kerr)
		}
		cancel()
	case <-ctx.Done():
		return res, ctx.Err()
	}
	res.Elapsed = time.Since(start)
	// The followed output ends with the process; the engine may take a
	// moment to hand over what it still holds.
	select {
	case oerr := <-output:
		if oerr != nil && err == nil {
			err = fmt.Errorf("output of container %s: %w", id, oerr)
		}
	case <-time.After(5 * time.Second):
	}
	res.Tail = ring.lines()
	return res, err
}

// lineRing keeps the last n lines; safe for one writer and readers.
type lineRing struct {
	mu   sync.Mutex
	n    int
	buf  []LogLine
	next int
	full bool
}

func newLineRing(n int) *lineRing { return &lineRing{n: max(n, 0)} }

func (r *lineRing) add(l LogLine) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == 0 {
		return
	}
	if len(r.buf) < r.n {
		r.buf = append(r.buf, l)
		return
	}
	r.buf[r.next] = l
	r.next = (r.next + 1) % r.n
	r.full = true
}

func (r *lineRing) lines() []LogLine {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]LogLine(nil), r.buf...)
	}
	return append(append([]LogLine(nil), r.buf[r.next:]...), r.buf[:r.next]...)
}
