package rollout

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/runner"
)

// withRelease adds the release step to a pipeline's steps when spec has a
// release command: right after produce, before anything that runs is
// stopped or started, so that its failure changes nothing that runs.
func withRelease(spec workload.Spec, steps []Step) []Step {
	if !spec.Release.Set() {
		return steps
	}
	return withStep(steps, StepRelease)
}

// ReleaseError is a release command that failed: it exited with another
// code than 0, or ran past its timeout and was killed. Nothing that runs
// was touched.
type ReleaseError struct {
	Workload string
	// Name is the one-off container's (or the Swarm job's).
	Name    string
	Command []string
	// ExitCode is the command's exit code (-1 when it was killed at its
	// timeout).
	ExitCode int
	TimedOut bool
	Timeout  time.Duration
	Elapsed  time.Duration
	// Tail are its last output lines, secrets masked.
	Tail []string
}

func (e *ReleaseError) Error() string {
	var b strings.Builder
	if e.TimedOut {
		fmt.Fprintf(&b, "release command %q of workload %q did not end within its release_timeout of %s and was killed",
			e.Command, e.Workload, e.Timeout)
	} else {
		fmt.Fprintf(&b, "release command %q of workload %q exited with code %d after %s",
			e.Command, e.Workload, e.ExitCode, e.Elapsed.Round(time.Millisecond))
	}
	b.WriteString("; nothing that runs was changed, and the one-off " + e.Name + " was removed")
	if len(e.Tail) == 0 {
		b.WriteString("; it wrote no output")
		return b.String()
	}
	fmt.Fprintf(&b, "; its last %d lines of output:\n  %s", len(e.Tail), strings.Join(e.Tail, "\n  "))
	return b.String()
}

// release runs the spec's release command once, by run (the runtime's
// one-off of the new artifact), and fails the deploy when it fails. Its
// output goes to the log as it comes (at info, secrets masked), so that
// TF_LOG=info shows a migration's progress.
func (d *deployment) release(ctx context.Context, run func(ctx context.Context, output func(docker.LogLine)) (runner.ReleaseRun, error)) error {
	mask := d.spec.Masker()
	command := mask.MaskLines(d.spec.Release.Command)
	log := d.log().With("workload", d.spec.Name)
	log.InfoContext(ctx, "release command running", "command", command, "generation", d.gen,
		"timeout", d.spec.Release.Limit().String())
	r, err := run(ctx, func(l docker.LogLine) {
		log.InfoContext(ctx, "release: "+mask.Mask(l.Text), "stream", l.Stream)
	})
	if err != nil {
		return fmt.Errorf("workload %q: %w", d.spec.Name, err)
	}
	if r.ExitCode == 0 && !r.TimedOut {
		log.InfoContext(ctx, "release command passed", "one_off", r.Name, "elapsed", r.Elapsed.Round(time.Millisecond).String())
		return nil
	}
	tail := make([]string, 0, len(r.Tail))
	for _, l := range r.Tail {
		tail = append(tail, mask.Mask(l.Text))
	}
	return &ReleaseError{Workload: d.spec.Name, Name: r.Name, Command: command, ExitCode: r.ExitCode, TimedOut: r.TimedOut,
		Timeout: d.spec.Release.Limit(), Elapsed: r.Elapsed, Tail: tail}
}

// releaseContainer is the release step of the containers pipeline: a
// one-off container of the new image.
func (d *deployment) releaseContainer(ctx context.Context) error {
	return d.release(ctx, func(ctx context.Context, output func(docker.LogLine)) (runner.ReleaseRun, error) {
		return d.containers.Release(ctx, d.spec, d.art, d.gen, output)
	})
}
