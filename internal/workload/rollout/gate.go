package rollout

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/health"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/runner"
)

// gate lets the new instance take traffic only once it is ready: the HTTP
// probe on the health path when there is one, else the liveness window. An
// instance that fails is removed when discard says so (a stack's
// container is compose's to keep), and the error carries the probe's last
// answer and the instance's last log lines.
func (d *deployment) gate(ctx context.Context, in runner.Instance, discard bool) error {
	c := d.spec.Source.Container()
	log := d.log().With("workload", d.spec.Name, "container", in.Name)
	var err error
	if c.Healthcheck != "" {
		err = d.probe(ctx, in, c.Healthcheck, log)
	} else {
		log.InfoContext(ctx, "gate: liveness window", "window", d.livenessWindow().String())
		err = health.Liveness(ctx, d.livenessWindow(), 250*time.Millisecond, func(ctx context.Context) (health.State, error) {
			h, err := d.containers.Inspect(ctx, in)
			if err != nil {
				return health.State{}, err
			}
			return health.State{Status: string(h.State), RestartCount: h.Restarts, ExitCode: h.ExitCode}, nil
		})
	}
	if err != nil {
		tail := d.logTail(ctx, in)
		if discard {
			d.discard(ctx, in)
		}
		return fmt.Errorf("container %s of workload %q failed its gate: %w%s", in.Name, d.spec.Name, err, tail)
	}
	log.InfoContext(ctx, "gate passed")
	return nil
}

// probe is the gate of an instance with a health path: GET it until it
// answers 2xx or 3xx within the health timeout. An instance whose port is
// not published yet (it is restarting) is waited for, never gated another
// way; one that exits or restarts fails at once.
func (d *deployment) probe(ctx context.Context, in runner.Instance, path string, log *slog.Logger) error {
	timeout := d.spec.HealthTimeout
	if timeout <= 0 {
		timeout = workload.DefaultHealthTimeout
	}
	deadline := time.Now().Add(timeout)
	// A new instance has not restarted yet: any restart before it answers
	// is a crash.
	stillUp := func() error {
		h, err := d.containers.Inspect(ctx, in)
		if err != nil {
			return err
		}
		switch {
		case h.State.Ended():
			return fmt.Errorf("container exited with code %d before answering", h.ExitCode)
		case h.Restarts > 0 || h.State == docker.ContainerRestarting:
			how := fmt.Sprintf("restarted %d times", h.Restarts)
			if h.ExitCode != 0 {
				how += fmt.Sprintf(", last exit code %d", h.ExitCode)
			}
			return fmt.Errorf("container crashed before answering: it is restarting (%s)", how)
		}
		if in.Published == "" {
			in.Published = h.Published
		}
		return nil
	}
	for in.Published == "" {
		if err := stillUp(); err != nil {
			return fmt.Errorf("health check %s: %w", path, err)
		}
		if in.Published != "" {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("health check %s: the container's port %d was not published within %s", path, d.spec.Source.Container().Port, timeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("health check %s: %w", path, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	url := "http://" + in.Published + path
	log.InfoContext(ctx, "gate: probing", "url", url, "timeout", timeout.String())
	attempt := func(n int, a health.Answer) {
		if n == 1 || n%10 == 0 {
			log.InfoContext(ctx, "gate: waiting for the health check", "attempt", n, "answer", a.String())
		}
	}
	err := health.ProbeVia(ctx, d.Dial, url, time.Until(deadline), stillUp, attempt)
	if pe, ok := err.(*health.ProbeError); ok {
		pe.Timeout = timeout // the configured bound, not what was left of it
		return pe
	}
	if err != nil {
		return fmt.Errorf("health check %s: %w", path, err)
	}
	return nil
}

// logTail formats the instance's last log lines for an error, with the
// workload's env and secret values masked.
func (d *deployment) logTail(ctx context.Context, in runner.Instance) string {
	ctx, cancel := runner.CleanupContext(ctx)
	defer cancel()
	lines, err := d.containers.Logs(ctx, in, logTailLines)
	if err != nil {
		return fmt.Sprintf("\n(its logs could not be read: %v)", err)
	}
	if len(lines) == 0 {
		return fmt.Sprintf("\n%s wrote no log lines", in.Name)
	}
	return fmt.Sprintf("\nlast log lines of %s:\n  %s", in.Name, strings.Join(d.spec.Masker().MaskLines(lines), "\n  "))
}
