package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

type fleetDetail struct {
	N int `json:"n"`
	// Reps are the repetitions, in the order they ran; the rows take
	// the median of each figure.
	Reps []fleetRep `json:"reps"`
}

// fleetRep is one repetition of scenario 6: the script's create and
// redeploy of N containers, and tinyforge's create and blue-green redeploy
// of N workloads, in turn (which goes first alternates).
type fleetRep struct {
	ScriptFirst   bool    `json:"script_first"`
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

	created, redeployed []deployLog
}

// fleet is scenario 6: N routed workloads created by one terraform apply
// at opts.Parallelism, against a docker CLI script that runs and probes the
// same N containers as many at a time; then all N redeployed blue-green,
// against that create; and the Caddy config loads each apply cost, counted
// in Caddy's own log. It runs opts.FleetReps times, the script first in
// one repetition and tinyforge first in the next, so that a host getting
// slower or faster over the run weighs on both sides alike; the rows are
// the medians.
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
	redeployScript := filepath.Join(e.tmp, "fleet-floor-redeploy.sh")
	if err := os.WriteFile(redeployScript, []byte(redeployFloorScript), 0o755); err != nil {
		return err
	}

	for i := 1; i <= b.opts.FleetReps; i++ {
		rep := fleetRep{ScriptFirst: i%2 == 1}
		sides := []func() error{
			func() error { return b.fleetFloor(ctx, &rep, script, redeployScript) },
			func() error { return b.fleetTinyforge(ctx, &rep, w, i) },
		}
		if !rep.ScriptFirst {
			slices.Reverse(sides)
		}
		for _, side := range sides {
			if err := side(); err != nil {
				return err
			}
		}
		d.Reps = append(d.Reps, rep)
		b.logf("fleet %d: script %.1f s, redeploy %.1f s; tinyforge %.1f s, redeploy %.1f s; Caddy loads %d, %d",
			i, rep.ScriptSeconds, rep.ScriptRedeploySeconds, rep.CreateSeconds, rep.RedeploySeconds, rep.CreateLoads, rep.RedeployLoads)
	}

	med := func(f func(fleetRep) float64) time.Duration {
		var ds []time.Duration
		for _, r := range d.Reps {
			ds = append(ds, time.Duration(f(r)*float64(time.Second)))
		}
		return median(ds)
	}
	floor := med(func(r fleetRep) float64 { return r.ScriptSeconds })
	floorRedeploy := med(func(r fleetRep) float64 { return r.ScriptRedeploySeconds })
	create := med(func(r fleetRep) float64 { return r.CreateSeconds })
	redeploy := med(func(r fleetRep) float64 { return r.RedeploySeconds })
	var createLoadsOf, redeployLoadsOf []int
	var created, redeployed []deployLog
	for _, r := range d.Reps {
		createLoadsOf, redeployLoadsOf = append(createLoadsOf, r.CreateLoads), append(redeployLoadsOf, r.RedeployLoads)
		created, redeployed = append(created, r.created...), append(redeployed, r.redeployed...)
	}
	createLoads, redeployLoads := medianCount(createLoadsOf), medianCount(redeployLoadsOf)

	reps := fmt.Sprintf("median of %d", len(d.Reps))
	createTarget, redeployTarget, loadTarget := maxRatio(1.1), maxRatio(1.3), maxValue(float64(n)/4)
	createRow := fmt.Sprintf("6 create N=%d routed workloads, parallelism %d (%s)", n, b.opts.Parallelism, reps)
	b.row(durationRow(createRow, create, floor,
		fmt.Sprintf("docker CLI script, %d at a time", b.opts.Parallelism), &createTarget))
	redeployRow := fmt.Sprintf("6 redeploy all N=%d blue-green, no load (drain_timeout 5 s; %s)", n, reps)
	b.row(durationRow(redeployRow, redeploy, create,
		"the create above", &redeployTarget))
	b.row(durationRow(fmt.Sprintf("6 diagnostic: redeploy all N=%d against the script's redeploy (run and probe the new, stop and remove the old)", n),
		redeploy, floorRedeploy, fmt.Sprintf("docker CLI script, %d at a time", b.opts.Parallelism), nil))
	b.row(durationRow("6 diagnostic: the script's redeploy against the script's create", floorRedeploy, floor,
		"the script's create", nil))
	// Each deploy's steps, over every repetition; N deploys run
	// Parallelism at a time, so a step here is the time one deploy waited
	// in it, contention included.
	b.breakdown(createRow, meanSteps(created), nil)
	b.breakdown(redeployRow, meanSteps(redeployed), nil)
	b.row(countRow(fmt.Sprintf("6 Caddy config loads, create N=%d (%s)", n, reps), createLoads, n, "N (one per route write)", &loadTarget))
	b.row(countRow(fmt.Sprintf("6 Caddy config loads, redeploy N=%d (%s)", n, reps), redeployLoads, 2*n, "2N (swap + unpark each)", nil))
	return nil
}

// fleetFloor runs the docker CLI script's create of the fleet, then its
// redeploy, timing each, then removes its containers, so that the other
// side starts from an engine without them.
func (b *bench) fleetFloor(ctx context.Context, rep *fleetRep, script, redeployScript string) error {
	e, n := b.env, b.opts.FleetN
	t := time.Now()
	if err := b.fleetScript(ctx, script, e.images.V1, n); err != nil {
		return err
	}
	rep.ScriptSeconds = time.Since(t).Seconds()
	b.logf("fleet: the docker CLI script ran and probed %d containers in %s", n, since(t))
	// The script's redeploy of the same containers, for scale: the engine
	// work a blue-green redeploy does beyond a create (the old container's
	// stop and removal), without tinyforge.
	t = time.Now()
	if err := b.fleetScript(ctx, redeployScript, e.images.V2, n, script); err != nil {
		return err
	}
	rep.ScriptRedeploySeconds = time.Since(t).Seconds()
	b.logf("fleet: the docker CLI script redeployed %d containers in %s", n, since(t))
	if ids, _ := acctest.DockerE("ps", "-aq", "--filter", "name="+e.prefix+"-fl-"); ids != "" {
		if _, err := acctest.DockerE(append([]string{"rm", "--force"}, strings.Fields(ids)...)...); err != nil {
			return fmt.Errorf("remove the script's fleet: %w", err)
		}
	}
	return nil
}

// fleetTinyforge creates the fleet with terraform apply, redeploys it
// blue-green, and destroys it, timing the two applies and counting their
// Caddy loads and engine and proxy calls; the provider's INFO log of each
// apply gives the deploys' steps.
func (b *bench) fleetTinyforge(ctx context.Context, rep *fleetRep, w *workdir, i int) error {
	e, n := b.env, b.opts.FleetN
	par := fmt.Sprintf("-parallelism=%d", b.opts.Parallelism)
	apply := func(what string, image string) (time.Duration, int, Calls, []deployLog, error) {
		w.WriteConfig(e.fleetWorkloads(n, image))
		loads := e.caddyLoads()
		callLog := filepath.Join(e.tmp, fmt.Sprintf("calls-fleet-%s-%d", what, i))
		tfLog := filepath.Join(e.tmp, fmt.Sprintf("fleet-%s-%d.log", what, i))
		from := time.Now()
		res, err := w.apply(ctx, []string{par}, "TF_LOG_PROVIDER=INFO", "TF_LOG_PATH="+tfLog, "TINYFORGE_CALL_LOG="+callLog)
		if err != nil {
			return 0, 0, Calls{}, nil, fmt.Errorf("%s %d workloads: %w", what, n, err)
		}
		calls, err := ReadCallLog(callLog)
		return res.Duration, e.caddyLoads() - loads, calls, deployLogs(tfLog, from), err
	}
	create, loads, calls, logs, err := apply("create", e.images.V1)
	if err != nil {
		return err
	}
	rep.CreateSeconds, rep.CreateLoads, rep.CreateCalls, rep.created = create.Seconds(), loads, calls, logs
	b.logf("fleet: created %d workloads in %s, %d Caddy config loads", n, create.Round(time.Millisecond), loads)
	redeploy, loads, calls, logs, err := apply("redeploy", e.images.V2)
	if err != nil {
		return err
	}
	rep.RedeploySeconds, rep.RedeployLoads, rep.RedeployCalls, rep.redeployed = redeploy.Seconds(), loads, calls, logs
	b.logf("fleet: redeployed %d workloads blue-green in %s, %d Caddy config loads", n, redeploy.Round(time.Millisecond), loads)

	t := time.Now()
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
