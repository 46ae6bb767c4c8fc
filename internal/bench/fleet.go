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

type fleetDetail struct {
	N             int     `json:"n"`
	CreateSeconds float64 `json:"create_seconds"`
	ScriptSeconds float64 `json:"script_seconds"`
	// ScriptRedeploySeconds is the script's redeploy of its N containers.
	ScriptRedeploySeconds float64 `json:"script_redeploy_seconds"`
	// RedeploySeconds is the blue-green redeploy of all N, default
	// drain_timeout (5 s), no load: the drain ends on Caddy's count.
	RedeploySeconds float64 `json:"redeploy_seconds"`
	// CaddyLoads are the config loads Caddy logged during each apply.
	CreateLoads   int   `json:"caddy_loads_of_the_create"`
	RedeployLoads int   `json:"caddy_loads_of_the_redeploy"`
	CreateCalls   Calls `json:"calls_of_the_create"`
	RedeployCalls Calls `json:"calls_of_the_redeploy"`
}

// fleet is scenario 6: N routed workloads created by one terraform apply
// at opts.Parallelism, against a docker CLI script that runs and probes the
// same N containers as many at a time; then all N redeployed blue-green,
// against that create; and the Caddy config loads each apply cost, counted
// in Caddy's own log.
func (b *bench) fleet(ctx context.Context) error {
	e, n := b.env, b.opts.FleetN
	d := &fleetDetail{N: n}
	defer b.detail("fleet", d)
	w, err := e.tinyforgeWorkdir("fleet")
	if err != nil {
		return err
	}
	script := filepath.Join(e.tmp, "fleet-floor.sh")
	if err := os.WriteFile(script, []byte(floorScript), 0o755); err != nil {
		return err
	}

	// The floor first, then removed, so that both start from an engine
	// without the other's containers.
	t := time.Now()
	if err := b.fleetScript(ctx, script, e.images.V1, n); err != nil {
		return err
	}
	floor := time.Since(t)
	d.ScriptSeconds = floor.Seconds()
	b.logf("fleet: the docker CLI script ran and probed %d containers in %s", n, since(t))
	// The script's redeploy of the same containers, for scale: the engine
	// work a blue-green redeploy does beyond a create (the old container's
	// stop and removal), without tinyforge.
	redeployScript := filepath.Join(e.tmp, "fleet-floor-redeploy.sh")
	if err := os.WriteFile(redeployScript, []byte(redeployFloorScript), 0o755); err != nil {
		return err
	}
	t = time.Now()
	if err := b.fleetScript(ctx, redeployScript, e.images.V2, n, script); err != nil {
		return err
	}
	floorRedeploy := time.Since(t)
	d.ScriptRedeploySeconds = floorRedeploy.Seconds()
	b.logf("fleet: the docker CLI script redeployed %d containers in %s", n, since(t))
	if ids, _ := acctest.DockerE("ps", "-aq", "--filter", "name="+e.prefix+"-fl-"); ids != "" {
		acctest.DockerE(append([]string{"rm", "--force"}, strings.Fields(ids)...)...)
	}

	par := fmt.Sprintf("-parallelism=%d", b.opts.Parallelism)
	w.WriteConfig(e.fleetWorkloads(n, e.images.V1))
	loads := e.caddyLoads()
	callLog := filepath.Join(e.tmp, "calls-fleet-create")
	// The provider's INFO log (not Terraform's) for the step timings.
	tfLog := filepath.Join(e.tmp, "fleet.log")
	logEnv := []string{"TF_LOG_PROVIDER=INFO", "TF_LOG_PATH=" + tfLog}
	createFrom := time.Now()
	res, err := w.apply(ctx, []string{par}, append(logEnv, "TINYFORGE_CALL_LOG="+callLog)...)
	if err != nil {
		return fmt.Errorf("create %d workloads: %w", n, err)
	}
	create := res.Duration
	d.CreateSeconds, d.CreateLoads = create.Seconds(), e.caddyLoads()-loads
	if d.CreateCalls, err = ReadCallLog(callLog); err != nil {
		return err
	}
	b.logf("fleet: created %d workloads in %s, %d Caddy config loads", n, create.Round(time.Millisecond), d.CreateLoads)

	w.WriteConfig(e.fleetWorkloads(n, e.images.V2))
	loads = e.caddyLoads()
	callLog = filepath.Join(e.tmp, "calls-fleet-redeploy")
	redeployFrom := time.Now()
	res, err = w.apply(ctx, []string{par}, append(logEnv, "TINYFORGE_CALL_LOG="+callLog)...)
	if err != nil {
		return fmt.Errorf("redeploy %d workloads: %w", n, err)
	}
	redeploy := res.Duration
	d.RedeploySeconds, d.RedeployLoads = redeploy.Seconds(), e.caddyLoads()-loads
	if d.RedeployCalls, err = ReadCallLog(callLog); err != nil {
		return err
	}
	b.logf("fleet: redeployed %d workloads blue-green in %s, %d Caddy config loads", n, redeploy.Round(time.Millisecond), d.RedeployLoads)

	createTarget, redeployTarget, loadTarget := maxRatio(1.1), maxRatio(1.3), maxValue(float64(n)/4)
	createRow := fmt.Sprintf("6 create N=%d routed workloads, parallelism %d", n, b.opts.Parallelism)
	b.row(durationRow(createRow, create, floor,
		fmt.Sprintf("docker CLI script, %d at a time", b.opts.Parallelism), &createTarget))
	redeployRow := fmt.Sprintf("6 redeploy all N=%d blue-green, no load (drain_timeout 5 s)", n)
	b.row(durationRow(redeployRow, redeploy, create,
		"the create above", &redeployTarget))
	b.row(durationRow(fmt.Sprintf("6 diagnostic: redeploy all N=%d against the script's redeploy (run and probe the new, stop and remove the old)", n),
		redeploy, floorRedeploy, fmt.Sprintf("docker CLI script, %d at a time", b.opts.Parallelism), nil))
	b.row(durationRow("6 diagnostic: the script's redeploy against the script's create", floorRedeploy, floor,
		"the script's create", nil))
	// Each deploy's steps; N deploys run Parallelism at a time, so a step
	// here is the time one deploy waited in it, contention included.
	created := deployLogs(tfLog, createFrom)
	redeployed := deployLogs(tfLog, redeployFrom)
	created = created[:max(0, len(created)-len(redeployed))]
	b.breakdown(createRow, meanSteps(created), nil)
	b.breakdown(redeployRow, meanSteps(redeployed), nil)
	b.row(countRow(fmt.Sprintf("6 Caddy config loads, create N=%d", n), d.CreateLoads, n, "N (one per route write)", &loadTarget))
	b.row(countRow(fmt.Sprintf("6 Caddy config loads, redeploy N=%d", n), d.RedeployLoads, 2*n, "2N (swap + unpark each)", nil))

	t = time.Now()
	if _, err := w.destroy(ctx); err != nil {
		return fmt.Errorf("destroy the fleet: %w", err)
	}
	b.logf("fleet: destroyed in %s", since(t))
	return nil
}

// fleetScript runs script for each of the n fleet names, opts.Parallelism
// at a time, as a user without tinyforge would: its arguments are the name,
// image, the network, the run label, then extra.
func (b *bench) fleetScript(ctx context.Context, script, image string, n int, extra ...string) error {
	e := b.env
	var names bytes.Buffer
	for _, name := range fleetNames(e.prefix, n) {
		names.WriteString(name + "\n")
	}
	xargs := append([]string{"-P", fmt.Sprint(b.opts.Parallelism), "-I{}", "bash", script, "{}", image, e.network,
		acctest.LabelTestRun + "=" + acctest.RunID()}, extra...)
	cmd := exec.CommandContext(ctx, "xargs", xargs...)
	cmd.Stdin = &names
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("fleet floor script: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

func fleetNames(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-fl-%d", prefix, i)
	}
	return out
}

// caddyLoads counts the config loads in the bench Caddy's log: Caddy
// restarts its admin endpoint once per load.
func (e *env) caddyLoads() int {
	return strings.Count(e.caddy.Log(), `"msg":"admin endpoint started"`)
}
