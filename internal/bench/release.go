package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// releaseDetail is scenario 10's every repetition, in seconds.
type releaseDetail struct {
	WithRelease    []float64 `json:"with_release_apply_seconds"`
	WithoutRelease []float64 `json:"without_release_apply_seconds"`
	ReleaseStep    []float64 `json:"release_step_seconds"`
	DockerRun      []float64 `json:"docker_run_seconds"`
}

// releaseOverhead is scenario 10: what a release command costs a deploy.
// Two routed workloads of the same image behind Caddy, one with a release
// command that prints a line, one without, are redeployed (a new env value)
// in turn, the first of each pair alternating; the medians of their
// applies are compared, and the median of each pair's difference (what a
// release adds to a deploy) and the release step's own time (the
// provider's log) beside `docker run --rm` of the same command on the same
// network, the least a one-off can cost.
func (b *bench) releaseOverhead(ctx context.Context) error {
	e := b.env
	d := &releaseDetail{}
	defer b.detail("release_overhead", d)
	type side struct {
		name    string
		w       *workdir
		log     string
		release string
	}
	var sides []*side
	for _, s := range []struct{ suffix, release string }{{"rel", `["task", "print=migrated"]`}, {"norel", ""}} {
		w, err := e.tinyforgeWorkdir("release-" + s.suffix)
		if err != nil {
			return err
		}
		sides = append(sides, &side{name: e.prefix + "-" + s.suffix, w: w, log: w.CaptureLog("INFO"), release: s.release})
	}
	config := func(s *side, round int) string {
		cfg := e.routedWorkload(s.name, "blue-green", s.name+".bench.test", e.images.V1)
		attrs := fmt.Sprintf("  env = { ROUND = \"%d\" }\n", round)
		if s.release != "" {
			attrs += "  release_command = " + s.release + "\n"
		}
		return strings.Replace(cfg, "  drain_timeout   = 2\n", "  drain_timeout   = 2\n"+attrs, 1)
	}
	for _, s := range sides {
		s.w.WriteConfig(config(s, 0))
		if _, err := s.w.apply(ctx, nil); err != nil {
			return fmt.Errorf("create %s: %w; terraform log kept at %s", s.name, err, b.keepLog(s.log, s.name))
		}
	}
	var with, without, added, step, run []time.Duration
	for i := 1; i <= b.opts.DeployReps; i++ {
		pair := sides
		if i%2 == 0 {
			pair = []*side{sides[1], sides[0]}
		}
		for _, s := range pair {
			s.w.WriteConfig(config(s, i))
			from := time.Now()
			res, err := s.w.apply(ctx, nil)
			if err != nil {
				return fmt.Errorf("redeploy %s: %w; terraform log kept at %s", s.name, err, b.keepLog(s.log, s.name))
			}
			if s.release == "" {
				without = append(without, res.Duration)
				d.WithoutRelease = append(d.WithoutRelease, res.Duration.Seconds())
				continue
			}
			with = append(with, res.Duration)
			d.WithRelease = append(d.WithRelease, res.Duration.Seconds())
			for _, st := range lastDeploy(s.log, from).Steps {
				if st.Step == "release" {
					step = append(step, st.Elapsed)
					d.ReleaseStep = append(d.ReleaseStep, st.Elapsed.Seconds())
				}
			}
		}
		added = append(added, with[len(with)-1]-without[len(without)-1])
		t := time.Now()
		cmd := exec.CommandContext(ctx, "docker", "run", "--rm", "--network", e.network,
			"--label", acctest.LabelTestRun+"="+acctest.RunID(), e.images.V1, "task", "print=migrated")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("docker run: %v: %s", err, out)
		}
		run = append(run, time.Since(t))
		d.DockerRun = append(d.DockerRun, time.Since(t).Seconds())
	}
	label := fmt.Sprintf("10 release command, %d blue-green redeploys:", len(with))
	if len(with) > 0 && len(without) > 0 {
		b.row(durationRow(label+" redeploy with a release (median terraform apply)", median(with), median(without),
			"the same redeploy without a release", nil))
	}
	if len(added) > 0 {
		b.row(durationRow(label+" what a release adds to a deploy (median of the pairs' differences)", median(added), median(run),
			"docker run --rm of the same command", nil))
	}
	if len(step) > 0 {
		b.row(durationRow(label+" the release step (median)", median(step), median(run), "docker run --rm of the same command", nil))
	}
	for _, s := range sides {
		if _, err := s.w.destroy(ctx); err != nil {
			return fmt.Errorf("destroy %s: %w", s.name, err)
		}
	}
	return nil
}
