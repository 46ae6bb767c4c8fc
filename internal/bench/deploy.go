package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

type deployDetail struct {
	Apply       []float64 `json:"apply_seconds"`
	Script      []float64 `json:"script_seconds"`
	NoopApply   []float64 `json:"noop_apply_seconds"`
	WarmupApply float64   `json:"warmup_apply_seconds"`
	Calls       Calls     `json:"calls_of_one_apply"`
}

// deployLatency is scenario 2: terraform apply creating one workload with
// a health check, against a shell script that creates, starts and probes
// the same container with the docker CLI and curl. The two alternate, one
// warm-up of each first; medians are compared. Destroy and rm are not
// timed. Beside them, as a diagnostic, the apply of one resource of the
// no-op provider: what Terraform and the framework cost before any deploy.
func (b *bench) deployLatency(ctx context.Context) error {
	e := b.env
	name := e.prefix + "-dl"
	w, err := e.tinyforgeWorkdir("deploy")
	if err != nil {
		return err
	}
	w.WriteConfig(e.plainWorkload(name, e.images.V1))
	nw, err := e.noopWorkdir("deploy-noop")
	if err != nil {
		return err
	}
	nw.WriteConfig(e.manyNoops(1, e.images.V1))
	script := filepath.Join(e.tmp, "deploy-floor.sh")
	if err := os.WriteFile(script, []byte(floorScript), 0o755); err != nil {
		return err
	}
	d := &deployDetail{}
	defer b.detail("deploy_latency", d)

	tfDeploy := func(env ...string) (time.Duration, error) {
		res, err := w.apply(ctx, nil, env...)
		if err != nil {
			return 0, fmt.Errorf("apply: %w", err)
		}
		if _, err := w.destroy(ctx); err != nil {
			return 0, fmt.Errorf("destroy: %w", err)
		}
		return res.Duration, nil
	}
	noopDeploy := func() (time.Duration, error) {
		res, err := nw.apply(ctx, nil)
		if err != nil {
			return 0, fmt.Errorf("no-op apply: %w", err)
		}
		if _, err := nw.destroy(ctx); err != nil {
			return 0, fmt.Errorf("no-op destroy: %w", err)
		}
		return res.Duration, nil
	}
	floorDeploy := func(i int) (time.Duration, error) {
		cname := fmt.Sprintf("%s-floor-%d", e.prefix, i)
		defer acctest.DockerE("container", "rm", "--force", cname)
		cmd := exec.CommandContext(ctx, "bash", script, cname, e.images.V1, e.network,
			acctest.LabelTestRun+"="+acctest.RunID())
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		t := time.Now()
		err := cmd.Run()
		elapsed := time.Since(t)
		if err != nil {
			return 0, fmt.Errorf("floor script: %v: %s", err, strings.TrimSpace(stderr.String()))
		}
		return elapsed, nil
	}

	// Warm-up, and the calls of one apply (the log costs a write per call:
	// it is kept out of the timed runs).
	callLog := filepath.Join(e.tmp, "calls-deploy")
	warm, err := tfDeploy("TINYFORGE_CALL_LOG=" + callLog)
	if err != nil {
		return err
	}
	d.WarmupApply = warm.Seconds()
	if d.Calls, err = ReadCallLog(callLog); err != nil {
		return err
	}
	if _, err := floorDeploy(0); err != nil {
		return err
	}
	if _, err := noopDeploy(); err != nil {
		return err
	}

	var tf, floor, noop, own []time.Duration
	for i := 1; i <= b.opts.DeployReps; i++ {
		t, err := tfDeploy()
		if err != nil {
			return err
		}
		f, err := floorDeploy(i)
		if err != nil {
			return err
		}
		o, err := noopDeploy()
		if err != nil {
			return err
		}
		tf, floor, noop, own = append(tf, t), append(floor, f), append(noop, o), append(own, t-o)
		d.Apply, d.Script, d.NoopApply = append(d.Apply, t.Seconds()), append(d.Script, f.Seconds()), append(d.NoopApply, o.Seconds())
		b.logf("deploy %d: terraform apply %s, script %s, no-op apply %s", i, t.Round(time.Millisecond),
			f.Round(time.Millisecond), o.Round(time.Millisecond))
	}
	b.row(durationRow(fmt.Sprintf("2 deploy latency: apply of 1 workload with healthcheck (median of %d)", len(tf)),
		median(tf), median(floor), "docker run + curl script", nil))
	// The fair floor: what tinyforge adds to Terraform and the framework,
	// each repetition's apply minus the no-op provider's beside it.
	target := maxRatio(1.0)
	b.row(durationRow(fmt.Sprintf("2 apply of 1 workload minus the no-op provider's apply (median of %d)", len(own)),
		median(own), median(floor), "docker run + curl script", &target))
	b.row(durationRow(fmt.Sprintf("2 diagnostic: apply of 1 no-op resource, Terraform + framework alone (median of %d)", len(noop)),
		median(noop), median(floor), "docker run + curl script", nil))
	return nil
}
