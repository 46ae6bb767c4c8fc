package rollout

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/runner"
)

// LogLine is one line a live instance of a workload wrote.
type LogLine struct {
	// Instance names the container (or the Swarm task) that wrote it.
	Instance string
	// Stream is "stdout" or "stderr".
	Stream string
	Time   time.Time
	// Text is the line, the workload's env and secret values masked.
	Text string
}

// Logs returns the recent lines of workload name's live instances,
// whichever owner deployed them: q per instance, all of them in the order
// of their times. The values of the variables the instances' labels
// record (env and secret_env_wo names), read from their environment, are
// masked where they appear verbatim.
func (e *Engine) Logs(ctx context.Context, name string, q docker.LogQuery) ([]LogLine, error) {
	o, err := e.observeNow(ctx, name, "")
	if err != nil {
		return nil, err
	}
	if len(o.Live) == 0 {
		return nil, &NotDeployedError{Name: name}
	}
	lines, err := o.rt().logs(ctx, e, o, q)
	if err != nil {
		return nil, fmt.Errorf("logs of workload %q: %w", name, err)
	}
	slices.SortStableFunc(lines, func(a, b LogLine) int { return a.Time.Compare(b.Time) })
	return lines, nil
}

// containerLogs are the lines of containers ins, each masked by the
// values of its own recorded variables.
func (e *Engine) containerLogs(ctx context.Context, ins []runner.Instance, q docker.LogQuery) ([]LogLine, error) {
	var out []LogLine
	for _, in := range ins {
		env, err := e.containers.Env(ctx, in)
		if err != nil {
			return nil, err
		}
		lines, err := e.containers.LogLines(ctx, in, q)
		if err != nil {
			return nil, err
		}
		out = append(out, masked(in.Name, lines, recordedMasker(env, in.Recorded.Settings))...)
	}
	return out, nil
}

// recordedMasker masks the values, in env ("KEY=value"), of the variables
// set records: the workload's env and secret_env_wo.
func recordedMasker(env []string, set workload.Settings) workload.Masker {
	var values []string
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && (slices.Contains(set.EnvKeys, k) || slices.Contains(set.SecretEnvKeys, k)) {
			values = append(values, v)
		}
	}
	return workload.NewMasker(values...)
}

func masked(instance string, lines []docker.LogLine, m workload.Masker) []LogLine {
	out := make([]LogLine, 0, len(lines))
	for _, l := range lines {
		out = append(out, LogLine{Instance: instance, Stream: l.Stream, Time: l.Time, Text: m.Mask(l.Text)})
	}
	return out
}
