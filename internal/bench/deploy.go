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
	// ProcessStart and NoopProcessStart time each provider binary's start.
	ProcessStart     []float64 `json:"process_start_seconds"`
	NoopProcessStart []float64 `json:"noop_process_start_seconds"`
	Calls            Calls     `json:"calls_of_one_apply"`
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

	var tf, floor, noop, ownShare []time.Duration
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
		tf, floor, noop, ownShare = append(tf, t), append(floor, f), append(noop, o), append(ownShare, t-o)
		d.Apply, d.Script, d.NoopApply = append(d.Apply, t.Seconds()), append(d.Script, f.Seconds()), append(d.NoopApply, o.Seconds())
		b.logf("deploy %d: terraform apply %s, script %s, no-op apply %s", i, t.Round(time.Millisecond),
			f.Round(time.Millisecond), o.Round(time.Millisecond))
	}
	b.row(durationRow(fmt.Sprintf("2 deploy latency: apply of 1 workload with healthcheck (median of %d)", len(tf)),
		median(tf), median(floor), "docker run + curl script", nil))
	// The fair floor: what tinyforge adds to Terraform and the framework,
	// each repetition's apply minus the no-op provider's beside it.
	target := maxRatio(1.0)
	ownRow := fmt.Sprintf("2 apply of 1 workload minus the no-op provider's apply (median of %d)", len(ownShare))
	b.row(durationRow(ownRow, median(ownShare), median(floor), "docker run + curl script", &target))
	b.row(durationRow(fmt.Sprintf("2 diagnostic: apply of 1 no-op resource, Terraform + framework alone (median of %d)", len(noop)),
		median(noop), median(floor), "docker run + curl script", nil))

	// Where tinyforge's share goes: one more apply, logged (the log is kept
	// out of the timed runs), for the deploy's steps, its share being its
	// time minus the no-op's median; and the start of each
	// provider's process, which Terraform pays four times per apply
	// (schema, validate, plan, apply).
	tfLog := filepath.Join(e.tmp, "deploy-tf.log")
	from := time.Now()
	logged, err := tfDeploy("TF_LOG_PROVIDER=INFO", "TF_LOG_PATH="+tfLog)
	if err != nil {
		return err
	}
	steps := meanSteps(deployLogs(tfLog, from))
	if len(steps) == 0 {
		return fmt.Errorf("the logged apply logged no deploy steps (%s)", tfLog)
	}
	own, nop, err := processStarts(ctx, e.provider, e.noop, processStartReps)
	if err != nil {
		return err
	}
	d.ProcessStart, d.NoopProcessStart = secondsOf(own), secondsOf(nop)
	b.row(durationRow(fmt.Sprintf("2 diagnostic: start of the provider's process, its libraries' init (median of %d; Terraform starts it 4 times per apply)", len(own)),
		median(own), median(nop), "the no-op provider's process", nil))
	phases := map[string]float64{}
	var stepSum float64
	for k, v := range steps {
		if v > 0 {
			phases[k] = v
			stepSum += v
		}
	}
	starts := 4 * (median(own) - median(nop)).Seconds()
	phases[phaseProcessStarts] = starts
	// The rest of that apply's share: Terraform's and the framework's work
	// on tinyforge's schema, the provider's refresh and plan.
	phases[phaseTerraformOther] = max(0, (logged-median(noop)).Seconds()-starts-stepSum)
	b.breakdown(ownRow, phases, nil)
	return nil
}

// Phases of scenario 2's breakdown.
const (
	phaseProcessStarts  = "4 process starts beyond the no-op's"
	phaseTerraformOther = "Terraform, framework and provider, other"
)

// processStartReps is how often each provider binary is started, in turn,
// to time its start.
const processStartReps = 20

// processStarts times the start of each binary run alone, the two in turn:
// a provider binary run outside Terraform initialises its packages, says
// it is a plugin and exits, which is what every start costs before
// Terraform's handshake.
func processStarts(ctx context.Context, a, b string, reps int) (as, bs []time.Duration, err error) {
	run := func(bin string) (time.Duration, error) {
		t := time.Now()
		cmd := exec.CommandContext(ctx, bin)
		out, err := cmd.CombinedOutput()
		if _, exited := err.(*exec.ExitError); err != nil && !exited {
			return 0, fmt.Errorf("%s: %v: %s", bin, err, out)
		}
		return time.Since(t), nil
	}
	for range reps {
		x, err := run(a)
		if err != nil {
			return nil, nil, err
		}
		y, err := run(b)
		if err != nil {
			return nil, nil, err
		}
		as, bs = append(as, x), append(bs, y)
	}
	return as, bs, nil
}

func secondsOf(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = d.Seconds()
	}
	return out
}
