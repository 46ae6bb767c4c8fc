// Command bench is `make bench`: it measures tinyforge's performance claims
// against the real Docker engine, a real Caddy and the real terraform CLI,
// each figure side by side with its floor taken in the same run (these
// machines are noisy: compare ratios, not absolute times), prints one table
// and writes the same as JSON.
//
//	go run ./internal/bench -out bench-results.json
//
// Scenarios, each against its floor:
//
//  1. zero downtime: blue-green (then recreate, then blue-green over HTTPS
//     with a certificate from Caddy's internal CA) redeploys of one workload
//     under continuous load through Caddy; failed requests (floor 0) and
//     latency while terraform apply runs versus the steady state around it.
//  2. deploy latency: terraform apply of one image workload with a health
//     check versus a shell script doing the same with the docker CLI and curl.
//  3. refresh at scale: terraform plan over N workloads versus the same plan
//     over N resources of a no-op provider on the same framework version
//     (./noopprovider), and the Docker and proxy calls one plan makes.
//  4. no-op apply: apply with nothing changed; mutating calls (floor 0) and
//     its time versus the no-op provider's.
//  5. peak RSS of the provider process during the largest plan.
//  6. a fleet: N routed workloads created, then redeployed blue-green,
//     versus a docker CLI script; Caddy config loads counted.
//  7. push to live: a one-file commit to a dockerfile repository until Caddy
//     answers it, versus git clone --depth 1, docker build, docker run and a
//     probe; the layers each build rebuilt.
//  8. compose: a compose stack (web built from the repository, db with a
//     healthcheck) redeployed by web-only commits under load through
//     Caddy; failed requests (floor 0) and the apply's time versus the
//     compose library's own up of the same change.
//  9. previews: N workloads, one per open pull request (tinyforge_pull_requests
//     on the GitHub stand-in): a plan with nothing new versus the no-op
//     provider's, and its Git host, engine and proxy calls; then one pull
//     request moves: the plan, and the apply until Caddy answers, versus a
//     script that puts that one commit live.
//  10. a release command: blue-green redeploys with one versus without;
//     the release step versus docker run --rm of the same command.
//
// With -doc it rewrites the table of docs/BENCHMARKS.md from the run.
//
// It ends by itself (-timeout bounds the scenarios; cleanup comes after)
// and removes everything it created, also on failure and on Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options are the flags; the JSON report records them.
type options struct {
	Out     string        `json:"-"`
	Quick   bool          `json:"quick"`
	Timeout time.Duration `json:"timeout"`

	Redeploys   int           `json:"redeploys"`   // scenario 1, per strategy
	Clients     int           `json:"clients"`     // scenario 1
	Interval    time.Duration `json:"interval"`    // scenario 1, each client's pause
	Steady      time.Duration `json:"steady"`      // scenario 1, steady window before each redeploy
	DeployReps  int           `json:"deploy_reps"` // scenario 2
	Ns          []int         `json:"n"`           // scenario 3
	PlanReps    int           `json:"plan_reps"`   // scenarios 3 and 4
	Parallelism int           `json:"parallelism"` // creating the workloads of scenario 3
	Scenarios   string        `json:"scenarios"`   // which to run
	MarkdownOut string        `json:"-"`
	Plot        string        `json:"-"`
	FleetN      int           `json:"fleet_n"`    // scenario 6
	FleetReps   int           `json:"fleet_reps"` // scenario 6
	PushReps    int           `json:"push_reps"`  // scenario 7
	Previews    int           `json:"previews"`   // scenario 9
	DocOut      string        `json:"-"`
}

func parseFlags(args []string) (options, error) {
	o := options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&o.Out, "out", "bench-results.json", "write the JSON report here (\"\" for none)")
	fs.StringVar(&o.MarkdownOut, "markdown", "", "also write the table as Markdown here")
	fs.StringVar(&o.Plot, "plot", "", "render the first redeploy of each strategy of scenario 1 as a PNG here")
	fs.IntVar(&o.FleetN, "fleet", 100, "routed workloads created and redeployed by scenario 6")
	fs.IntVar(&o.FleetReps, "fleet-reps", 3, "repetitions of scenario 6, tinyforge and the script going first in turn")
	fs.IntVar(&o.PushReps, "push-reps", 3, "one-file commits pushed live, and as many runs of the script (scenario 7)")
	fs.IntVar(&o.Previews, "previews", 20, "open pull requests, one preview each (scenario 9)")
	fs.StringVar(&o.DocOut, "doc", "", "rewrite the table of this Markdown file (docs/BENCHMARKS.md) from the run, between its bench markers")
	fs.BoolVar(&o.Quick, "quick", false, "smoke run: N = 3,6, one repetition, one redeploy; figures are not meaningful")
	fs.DurationVar(&o.Timeout, "timeout", 75*time.Minute, "bound on the scenarios; cleanup runs after it")
	fs.IntVar(&o.Redeploys, "redeploys", 5, "redeploys per strategy under load (scenario 1)")
	fs.IntVar(&o.Clients, "clients", 8, "concurrent load clients (scenario 1)")
	fs.DurationVar(&o.Interval, "interval", 10*time.Millisecond, "each load client's pause between requests (scenario 1)")
	fs.DurationVar(&o.Steady, "steady", 3*time.Second, "steady-state window before each redeploy (scenario 1)")
	fs.IntVar(&o.DeployReps, "deploy-reps", 5, "repetitions of the deploy and of its floor (scenarios 2, 10)")
	ns := fs.String("n", "10,50,200", "workload counts of the refresh scenario (scenario 3)")
	fs.IntVar(&o.PlanReps, "plan-reps", 5, "timed repetitions of each plan and no-op apply (scenarios 3, 4)")
	fs.IntVar(&o.Parallelism, "parallelism", 10, "terraform -parallelism when creating the workloads of scenario 3")
	fs.StringVar(&o.Scenarios, "scenarios", "1,2,3,6,7,8,9,10", "scenarios to run (3 includes 4 and 5)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.Quick {
		o.Redeploys, o.DeployReps, o.PlanReps, o.Steady, o.FleetN, o.FleetReps, o.PushReps, o.Previews = 1, 1, 1, time.Second, 5, 1, 1, 3
		*ns = "3,6"
	}
	for _, f := range strings.Split(*ns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return o, fmt.Errorf("-n: %q is not a positive count", f)
		}
		o.Ns = append(o.Ns, n)
	}
	slices.Sort(o.Ns)
	if o.Redeploys < 1 || o.Clients < 1 || o.DeployReps < 1 || o.PlanReps < 1 || o.Parallelism < 1 || o.FleetN < 1 || o.FleetReps < 1 || o.PushReps < 1 || o.Previews < 1 {
		return o, errors.New("-redeploys, -clients, -deploy-reps, -plan-reps, -parallelism, -fleet, -fleet-reps, -push-reps and -previews must be at least 1")
	}
	return o, nil
}

func (o options) runs(scenario string) bool {
	return slices.Contains(strings.Split(o.Scenarios, ","), scenario)
}

// bench is one run: the environment, and what the scenarios found.
type bench struct {
	opts      options
	env       *env
	report    *Report
	timelines []timeline // scenario 1's picture
}

func (b *bench) row(r Row) { b.report.Rows = append(b.report.Rows, r) }

func (b *bench) detail(key string, v any) { b.report.Details[key] = v }

// breakdown records where the time of a row went, tinyforge's phases
// beside the floor's (seconds, means over the repetitions).
func (b *bench) breakdown(row string, tinyforge, floor map[string]float64) {
	b.report.Breakdowns = append(b.report.Breakdowns, Breakdown{Row: row, Tinyforge: tinyforge, Floor: floor})
}

// finding records something the figures point at, for the closing note.
func (b *bench) finding(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.report.Findings = append(b.report.Findings, msg)
	b.logf("FINDING: %s", msg)
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func main() {
	opts, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(run(opts))
}

func run(opts options) int {
	start := time.Now()
	// Ctrl-C (or SIGTERM) cancels the scenarios: the terraform runs in
	// flight are killed with their providers, then cleanup runs. Later
	// signals are swallowed until cleanup is done.
	sigCtx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	ctx, cancel := context.WithTimeout(sigCtx, opts.Timeout)
	defer cancel()

	b := &bench{opts: opts, env: &env{}, report: &Report{
		Started: start, Options: opts, Details: map[string]any{}, Findings: []string{},
	}}
	b.report.Machine = machine()
	b.logf("machine: %+v", b.report.Machine)

	var runErr error
	func() {
		defer func() {
			if p := recover(); p != nil {
				runErr = fmt.Errorf("panic: %v", p)
			}
		}()
		runErr = b.scenarios(ctx)
	}()
	if runErr != nil {
		b.report.Errors = append(b.report.Errors, runErr.Error())
		b.logf("error: %v", runErr)
	}
	if sigCtx.Err() != nil {
		b.logf("interrupted: cleaning up")
	}

	cleanupStart := time.Now()
	if err := b.env.close(); err != nil {
		b.report.Errors = append(b.report.Errors, "cleanup: "+err.Error())
		b.logf("cleanup: %v", err)
	}
	b.detail("cleanup_seconds", time.Since(cleanupStart).Seconds())
	b.report.Complete = runErr == nil
	b.report.Elapsed = time.Since(start).Round(time.Second).String()

	fmt.Printf("\ntinyforge benchmark, %s (elapsed %s)\n\n", b.report.Machine, b.report.Elapsed)
	WriteTable(os.Stdout, b.report.Rows)
	if len(b.report.Findings) > 0 {
		fmt.Println("\nfindings:")
		for _, f := range b.report.Findings {
			fmt.Println("  - " + strings.ReplaceAll(f, "\n", "\n    "))
		}
	}
	code := 0
	if len(b.report.Errors) > 0 {
		fmt.Println("\nerrors:")
		for _, e := range b.report.Errors {
			fmt.Println("  - " + strings.ReplaceAll(e, "\n", "\n    "))
		}
		code = 1
	}
	if opts.Out != "" {
		if err := writeJSON(opts.Out, b.report); err != nil {
			fmt.Fprintf(os.Stderr, "write %s: %v\n", opts.Out, err)
			code = 1
		}
	}
	if opts.DocOut != "" {
		if err := UpdateDoc(opts.DocOut, b.report); err != nil {
			fmt.Fprintf(os.Stderr, "write %s: %v\n", opts.DocOut, err)
			code = 1
		}
	}
	if opts.MarkdownOut != "" {
		f, err := os.Create(opts.MarkdownOut)
		if err == nil {
			err = errors.Join(WriteMarkdown(f, b.report.Rows), f.Close())
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "write %s: %v\n", opts.MarkdownOut, err)
			code = 1
		}
	}
	return code
}

func (b *bench) scenarios(ctx context.Context) error {
	t := time.Now()
	b.logf("setting up: test images, provider binaries, Caddy, network")
	if err := newEnv(ctx, b.env); err != nil {
		return fmt.Errorf("set up: %w", err)
	}
	b.logf("set up in %s", since(t))
	b.detail("setup_seconds", time.Since(t).Seconds())

	var errs []error
	for _, s := range []struct {
		id  string
		run func(context.Context) error
	}{
		{"1", b.zeroDowntime},
		{"2", b.deployLatency},
		{"6", b.fleet},
		{"7", b.pushToLive},
		{"8", b.composeRedeploy},
		{"9", b.previews},
		{"10", b.releaseOverhead},
		{"3", b.refreshAtScale},
	} {
		if !b.opts.runs(s.id) {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("scenario %s not run: %w", s.id, err))
			continue
		}
		t := time.Now()
		if err := s.run(ctx); err != nil {
			errs = append(errs, fmt.Errorf("scenario %s: %w", s.id, err))
		}
		b.detail("scenario_"+s.id+"_seconds", time.Since(t).Seconds())
		b.logf("scenario %s done in %s", s.id, since(t))
	}
	return errors.Join(errs...)
}
