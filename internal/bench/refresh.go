package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

var planArgs = []string{"plan", "-input=false", "-no-color", "-detailed-exitcode"}

// sdkLogsOff turns off the SDK's own logs (terraform-plugin-go and the
// framework), which a provider writes at TRACE to Terraform by default,
// whatever TF_LOG says; Terraform parses every line and drops it when
// TF_LOG is unset.
const sdkLogsOff = "TF_LOG_SDK=OFF"

// planDetail is what was measured at one N.
type planDetail struct {
	N             int     `json:"n"`
	CreateSeconds float64 `json:"create_seconds"`
	// CreateCalls are the calls of the apply that created the workloads
	// new at this N (all of them at the first N).
	CreateCalls Calls `json:"calls_of_the_create"`
	// The timed plans, each repetition's wall and CPU (terraform and the
	// provider).
	Tinyforge timings `json:"tinyforge_plans"`
	Noop      timings `json:"noop_plans"`
	// At the largest N only, the diagnostics: tinyforge's schema and state
	// without its behaviour (./schemaprovider), and both providers with the
	// SDK logs off.
	SchemaOnly        timings `json:"schema_only_plans,omitempty"`
	SchemaOnlyLogsOff timings `json:"schema_only_sdk_logs_off_plans,omitempty"`
	TinyforgeLogsOff  timings `json:"tinyforge_sdk_logs_off_plans,omitempty"`
	NoopLogsOff       timings `json:"noop_sdk_logs_off_plans,omitempty"`
	Calls             Calls   `json:"calls_of_one_plan"`
	// Provider processes of the counted plans, as the sampler saw them.
	TinyforgeProcs sampledDetail `json:"tinyforge_provider"`
	NoopProcs      sampledDetail `json:"noop_provider"`
	Containers     int           `json:"containers_of_the_workloads"`
}

type sampledDetail struct {
	PeakRSSBytes int64   `json:"peak_rss_bytes"`
	Processes    int     `json:"processes"`
	CPUSeconds   float64 `json:"cpu_seconds"`
}

func detailOf(s sampled) sampledDetail {
	return sampledDetail{PeakRSSBytes: s.PeakRSS, Processes: s.Processes, CPUSeconds: s.CPU.Seconds()}
}

type noopApplyDetail struct {
	N         int     `json:"n"`
	Tinyforge timings `json:"tinyforge_applies"`
	Noop      timings `json:"noop_applies"`
	Calls     Calls   `json:"calls_of_one_apply"`
}

// refreshAtScale is scenarios 3, 4 and 5. One working directory grows to
// each N in turn (creating only the new workloads), beside a no-op
// provider's working directory with as many resources. At each N: one
// plan of each with the call log and the RSS sampler (untimed: the log and
// the sampler cost something), then opts.PlanReps timed plans of each,
// alternating, with the diagnostics at the largest N. Then, at the largest
// N, the no-op apply.
func (b *bench) refreshAtScale(ctx context.Context) error {
	e := b.env
	tw, err := e.tinyforgeWorkdir("scale")
	if err != nil {
		return err
	}
	nw, err := e.noopWorkdir("scale-noop")
	if err != nil {
		return err
	}
	var details []*planDetail
	defer b.detail("refresh", &details)

	for i, n := range b.opts.Ns {
		d := &planDetail{N: n}
		details = append(details, d)
		if err := b.planAt(ctx, tw, nw, d, i == len(b.opts.Ns)-1); err != nil {
			return err
		}
	}

	last := details[len(details)-1]
	if err := b.noopApply(ctx, tw, nw, last.N); err != nil {
		return err
	}
	b.row(newRow(fmt.Sprintf("5 peak RSS of the provider, plan N=%d", last.N), unitMebibyte,
		float64(last.TinyforgeProcs.PeakRSSBytes)/(1<<20), float64(last.NoopProcs.PeakRSSBytes)/(1<<20), "no-op provider", nil))
	if last.TinyforgeProcs.Processes == 0 || last.NoopProcs.Processes == 0 {
		b.finding("the RSS sampler found %d tinyforge and %d no-op provider processes in the N=%d plans; the memory row is not a measurement",
			last.TinyforgeProcs.Processes, last.NoopProcs.Processes, last.N)
	}
	return nil
}

// planAt grows both working directories to d.N resources and measures
// their plans, and with diagnose the diagnostic plans beside them.
func (b *bench) planAt(ctx context.Context, tw, nw *workdir, d *planDetail, diagnose bool) error {
	e, n := b.env, d.N
	tw.WriteConfig(e.manyWorkloads(n, e.images.V1))
	nw.WriteConfig(e.manyNoops(n, e.images.V1))
	t := time.Now()
	createLog := filepath.Join(e.tmp, fmt.Sprintf("calls-create-%d", n))
	if _, err := tw.apply(ctx, []string{fmt.Sprintf("-parallelism=%d", b.opts.Parallelism)}, "TINYFORGE_CALL_LOG="+createLog); err != nil {
		return fmt.Errorf("create %d workloads: %w", n, err)
	}
	d.CreateSeconds = time.Since(t).Seconds()
	var err error
	if d.CreateCalls, err = ReadCallLog(createLog); err != nil {
		return err
	}
	if _, err := nw.apply(ctx, nil); err != nil {
		return fmt.Errorf("create %d no-op resources: %w", n, err)
	}
	ids, err := workloadContainers(e.prefix + "-w")
	if err != nil {
		return err
	}
	d.Containers = len(ids)
	b.logf("N=%d: the create apply made %d container lists and %d route reads, %d calls in all", n,
		d.CreateCalls.ContainerLists, d.CreateCalls.RouteReads, d.CreateCalls.Total)
	b.logf("N=%d: %d workloads up (%d containers) in %s", n, n, len(ids), since(t))
	if len(ids) != n {
		b.finding("N=%d: %d containers on the engine for %d workloads", n, len(ids), n)
	}

	// Counted and sampled plans.
	callLog := filepath.Join(e.tmp, fmt.Sprintf("calls-plan-%d", n))
	res, s, err := tw.sampled(ctx, planArgs, "TINYFORGE_CALL_LOG="+callLog)
	if err = planOutcome(res, err); err != nil {
		return fmt.Errorf("counted plan at N=%d: %w", n, err)
	}
	if res.HasChanges {
		b.finding("N=%d: a plan right after apply is not empty (perpetual diff):\n%s", n, lastLines(res.Stdout, 15))
	}
	d.TinyforgeProcs = detailOf(s)
	if d.Calls, err = ReadCallLog(callLog); err != nil {
		return err
	}
	if d.Calls.Docker == 0 {
		// Configure pings the engine: no line at all means the hook did
		// not run, and a count of 0 would be a lie.
		return fmt.Errorf("N=%d: the call log %s is empty: the provider did not honour TINYFORGE_CALL_LOG", n, callLog)
	}
	res, s, err = nw.sampled(ctx, planArgs)
	if err = planOutcome(res, err); err != nil {
		return fmt.Errorf("no-op plan at N=%d: %w", n, err)
	}
	d.NoopProcs = detailOf(s)

	// Timed plans, alternating, so that each sees the same machine.
	variants := []planVariant{{tw, nil, &d.Tinyforge}, {nw, nil, &d.Noop}}
	if diagnose {
		sw, err := b.schemaOnlyWorkdir(ctx, tw)
		if err != nil {
			return err
		}
		variants = append(variants,
			planVariant{sw, nil, &d.SchemaOnly},
			planVariant{sw, []string{sdkLogsOff}, &d.SchemaOnlyLogsOff},
			planVariant{tw, []string{sdkLogsOff}, &d.TinyforgeLogsOff},
			planVariant{nw, []string{sdkLogsOff}, &d.NoopLogsOff})
	}
	for range b.opts.PlanReps {
		for _, v := range variants {
			t, err := timed(func() (acctest.Result, error) { return v.w.plan(ctx, v.env...) })
			if err != nil {
				return fmt.Errorf("plan at N=%d (%s %v): %w", n, filepath.Base(v.w.binary), v.env, err)
			}
			*v.into = append(*v.into, t)
		}
	}
	b.logf("N=%d: plan %s vs no-op %s (CPU %s vs %s); provider CPU %.2fs vs %.2fs; calls %v", n,
		d.Tinyforge.wall().Round(time.Millisecond), d.Noop.wall().Round(time.Millisecond),
		d.Tinyforge.cpu().Round(time.Millisecond), d.Noop.cpu().Round(time.Millisecond),
		d.TinyforgeProcs.CPUSeconds, d.NoopProcs.CPUSeconds, d.Calls.ByKind)

	reps := len(d.Tinyforge)
	b.row(durationRow(fmt.Sprintf("3 plan, N=%d workloads (median of %d)", n, reps), d.Tinyforge.wall(), d.Noop.wall(),
		"no-op provider", nil))
	if diagnose {
		// The fair floor: the same schema and state, no behaviour, with
		// the framework's logs off in both.
		target := maxRatio(1.15)
		b.row(durationRow(fmt.Sprintf("3 plan, N=%d, %s in both (median of %d)", n, sdkLogsOff, reps), d.TinyforgeLogsOff.wall(),
			d.SchemaOnlyLogsOff.wall(), "tinyforge's schema, no behaviour", &target))
	}
	if diagnose {
		b.row(durationRow(fmt.Sprintf("3 plan, N=%d: CPU, terraform + provider", n), d.Tinyforge.cpu(), d.Noop.cpu(),
			"no-op provider", nil))
	}
	// O(1): one container list per runtime (containers; compose stacks,
	// whose containers carry other labels) and one route read, whatever N.
	lists := maxValue(3)
	b.row(countRow(fmt.Sprintf("3 plan, N=%d: list calls (containers + routes)", n), d.Calls.Lists(), 3,
		"1 container list per runtime (2) + 1 route read", &lists))
	if d.Calls.Mutating > 0 {
		b.finding("N=%d: a plan made %d mutating calls: %s", n, d.Calls.Mutating, strings.Join(d.Calls.MutatingKinds(), ", "))
	}
	b.checkCallsPerPlan(n, d.Calls)
	if diagnose {
		b.row(durationRow(fmt.Sprintf("3 diagnostic, N=%d: CPU of tinyforge's schema, no behaviour", n),
			d.SchemaOnly.cpu(), d.Noop.cpu(), "no-op provider", nil))
		b.row(durationRow(fmt.Sprintf("3 diagnostic, N=%d: CPU with %s, both", n, sdkLogsOff),
			d.TinyforgeLogsOff.cpu(), d.NoopLogsOff.cpu(), "no-op provider, same", nil))
		b.row(durationRow(fmt.Sprintf("3 diagnostic, N=%d: plan with %s, both (median of %d)", n, sdkLogsOff, reps),
			d.TinyforgeLogsOff.wall(), d.NoopLogsOff.wall(), "no-op provider, same", nil))
	}
	return nil
}

// planVariant is one kind of timed plan: a working directory, the env of
// its runs, and where its timings go.
type planVariant struct {
	w    *workdir
	env  []string
	into *timings
}

// timed runs one terraform command and measures it.
func timed(run func() (acctest.Result, error)) (timing, error) {
	before := childrenCPU()
	res, err := run()
	return timing{Wall: res.Duration, CPU: childrenCPU() - before}, err
}

// checkCallsPerPlan reports calls of a plan that grow with N: a plan should
// read the host a constant number of times.
func (b *bench) checkCallsPerPlan(n int, c Calls) {
	var perWorkload []string
	for kind, count := range c.ByKind {
		if count >= n && n > 2 {
			perWorkload = append(perWorkload, fmt.Sprintf("%s x%d", kind, count))
		}
	}
	if len(perWorkload) > 0 {
		b.finding("N=%d: a plan makes calls that grow with N: %s", n, strings.Join(perWorkload, ", "))
	}
}

// schemaOnlyWorkdir makes the schema-only provider's working directory,
// with a copy of tw's configuration and state: a plan of it reads the same
// N workloads through tinyforge's schema, and does nothing else.
func (b *bench) schemaOnlyWorkdir(ctx context.Context, tw *workdir) (*workdir, error) {
	sw, err := b.env.schemaWorkdir("scale-schema")
	if err != nil {
		return nil, err
	}
	for _, f := range []string{"main.tf", "terraform.tfstate"} {
		data, err := os.ReadFile(filepath.Join(tw.Dir, f))
		if err == nil {
			err = os.WriteFile(filepath.Join(sw.Dir, f), data, 0o644)
		}
		if err != nil {
			return nil, fmt.Errorf("copy %s to the schema-only working directory: %w", f, err)
		}
	}
	if res, err := sw.plan(ctx); err != nil || res.HasChanges {
		return nil, fmt.Errorf("schema-only plan over tinyforge's state: changes %v, %v\n%s", res.HasChanges, err, lastLines(res.Stdout, 15))
	}
	return sw, nil
}

// noopApply is scenario 4 at n: apply with nothing changed.
func (b *bench) noopApply(ctx context.Context, tw, nw *workdir, n int) error {
	d := &noopApplyDetail{N: n}
	defer b.detail("noop_apply", d)
	callLog := filepath.Join(b.env.tmp, "calls-noop-apply")
	res, err := tw.apply(ctx, nil, "TINYFORGE_CALL_LOG="+callLog)
	if err != nil {
		return fmt.Errorf("no-op apply: %w", err)
	}
	if !strings.Contains(res.Stdout, "0 added, 0 changed, 0 destroyed") && !strings.Contains(res.Stdout, "No changes.") {
		b.finding("N=%d: apply with nothing changed changed something:\n%s", n, lastLines(res.Stdout, 10))
	}
	if d.Calls, err = ReadCallLog(callLog); err != nil {
		return err
	}
	if d.Calls.Docker == 0 {
		return fmt.Errorf("no-op apply: the call log %s is empty: the provider did not honour TINYFORGE_CALL_LOG", callLog)
	}
	for range b.opts.PlanReps {
		t, err := timed(func() (acctest.Result, error) { return tw.apply(ctx, nil) })
		if err != nil {
			return fmt.Errorf("no-op apply: %w", err)
		}
		f, err := timed(func() (acctest.Result, error) { return nw.apply(ctx, nil) })
		if err != nil {
			return fmt.Errorf("no-op provider's apply: %w", err)
		}
		d.Tinyforge, d.Noop = append(d.Tinyforge, t), append(d.Noop, f)
	}
	zero := maxValue(0)
	b.row(countRow(fmt.Sprintf("4 no-op apply, N=%d: mutating Docker + proxy calls", n), d.Calls.Mutating, 0,
		"nothing to change", &zero))
	b.row(durationRow(fmt.Sprintf("4 no-op apply, N=%d (median of %d)", n, len(d.Tinyforge)), d.Tinyforge.wall(),
		d.Noop.wall(), "no-op provider", nil))
	if d.Calls.Mutating > 0 {
		b.finding("N=%d: apply with nothing changed made %d mutating calls: %s", n, d.Calls.Mutating,
			strings.Join(d.Calls.MutatingKinds(), ", "))
	}
	return nil
}

// planOutcome is the error of a plan run: exit 2 (changes) is not one.
func planOutcome(res acctest.Result, err error) error {
	if res.ExitCode == 2 {
		return nil
	}
	return err
}
