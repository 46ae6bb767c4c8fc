package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// window is a span of a load run: a steady state, or one terraform apply.
type window struct{ from, to time.Time }

// redeployRun is what one strategy's redeploys under load saw.
type redeployRun struct {
	Strategy  string `json:"strategy"`
	Redeploys int    `json:"redeploys"`
	Clients   int    `json:"clients"`
	// Connections the clients opened over the whole run: over HTTPS, the
	// TLS handshakes.
	Connections int     `json:"connections"`
	Requests    int     `json:"requests"`
	Failed      int     `json:"failed"`        // while an apply ran
	FailedOut   int     `json:"failed_steady"` // outside the applies: should be 0 for both strategies
	Steady      latency `json:"steady"`
	During      latency `json:"during"`
	// AroundSwap is over the requests that started within swapSpan of a
	// route change (the first answer of the new version): the table's
	// "during the swap". During is over the whole of each apply.
	AroundSwap latency `json:"around_swap"`
	// FailureWindows is, per redeploy, the span from the first failed
	// request's start to the last one's end: recreate's downtime.
	FailureWindows []float64 `json:"failure_windows_ms"`
	ApplySeconds   []float64 `json:"apply_seconds"`
	// Calls are the Docker and proxy calls of all the redeploys.
	Calls         Calls    `json:"calls_of_the_redeploys"`
	FirstFailures []string `json:"first_failures,omitempty"`
	// Switched is, per redeploy, whether the answers moved to the new
	// version by the end of the apply.
	Switched []bool `json:"switched"`
}

type latency struct {
	Requests int     `json:"requests"`
	P50      float64 `json:"p50_ms"`
	P99      float64 `json:"p99_ms"`
	Max      float64 `json:"max_ms"`
}

func latencyOver(ss []acctest.Sample) latency {
	ds := make([]time.Duration, len(ss))
	for i, s := range ss {
		ds[i] = s.Latency
	}
	return latency{
		Requests: len(ss),
		P50:      msOf(percentile(ds, 0.50)),
		P99:      msOf(percentile(ds, 0.99)),
		Max:      msOf(percentile(ds, 1)),
	}
}

func longestWindow(r redeployRun) float64 {
	longest := 0.0
	for _, w := range r.FailureWindows {
		longest = max(longest, w)
	}
	return longest
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// swapSpan is the half-width of the window around a route change.
const swapSpan = 500 * time.Millisecond

// firstAnswer is when the first ok request answered by body started: the
// route change, as the clients saw it.
func firstAnswer(ss []acctest.Sample, body string) (time.Time, bool) {
	for _, s := range ss {
		if s.OK && s.Body == body {
			return s.Start, true
		}
	}
	return time.Time{}, false
}

// failureWindow is the span from the start of the first failed sample to
// the end of the last one; 0 when none failed.
func failureWindow(ss []acctest.Sample) time.Duration {
	var first, last time.Time
	for _, s := range ss {
		if s.OK {
			continue
		}
		if first.IsZero() {
			first = s.Start
		}
		if end := s.Start.Add(s.Latency); end.After(last) {
			last = end
		}
	}
	if first.IsZero() {
		return 0
	}
	return last.Sub(first)
}

// zeroDowntime is scenario 1: blue-green, then recreate, then blue-green
// over HTTPS.
func (b *bench) zeroDowntime(ctx context.Context) error {
	var blueGreen *redeployRun
	for _, run := range []struct {
		strategy string
		https    bool
	}{{"blue-green", false}, {"recreate", false}, {"blue-green", true}} {
		r, err := b.redeployUnderLoad(ctx, run.strategy, run.https)
		if r != nil {
			b.detail("zero_downtime_"+strings.ReplaceAll(r.Strategy, " ", "_"), r)
			b.redeployRows(*r, blueGreen)
		}
		if r != nil && r.Strategy == "blue-green" {
			blueGreen = r
		}
		if err != nil {
			return fmt.Errorf("%s: %w", run.strategy, err)
		}
	}
	if b.opts.Plot != "" && len(b.timelines) > 0 {
		if err := renderTimelines(b.opts.Plot, b.timelines); err != nil {
			return fmt.Errorf("render %s: %w", b.opts.Plot, err)
		}
		b.logf("wrote %s", b.opts.Plot)
	}
	return nil
}

// redeployRows adds the rows of one strategy; recreate's failure window is
// set beside blue-green's, measured the same way (nil: not measured).
func (b *bench) redeployRows(r redeployRun, blueGreen *redeployRun) {
	label := fmt.Sprintf("1 %s, %d redeploys, %d clients:", r.Strategy, r.Redeploys, r.Clients)
	var target *Target
	if strings.HasPrefix(r.Strategy, "blue-green") {
		t := maxValue(0)
		target = &t
	}
	b.row(countRow(fmt.Sprintf("%s failed requests (of %d)", label, r.Requests), r.Failed, 0, "physical limit", target))
	if r.Strategy == "recreate" {
		floor, floorIs := 0.0, "physical limit"
		if blueGreen != nil {
			floor, floorIs = longestWindow(*blueGreen), "blue-green's"
		}
		b.row(newRow(label+" longest failure window", unitMillis, longestWindow(r), floor, floorIs, nil))
	}
	around := fmt.Sprintf(" latency within %s of the route swap", swapSpan)
	b.row(newRow(label+" p50"+around, unitMillis, r.AroundSwap.P50, r.Steady.P50, "steady state", nil))
	b.row(newRow(label+" p99"+around, unitMillis, r.AroundSwap.P99, r.Steady.P99, "steady state", nil))
	b.row(newRow(label+" max"+around, unitMillis, r.AroundSwap.Max, r.Steady.Max, "steady state", nil))
}

// redeployUnderLoad deploys one routed workload, puts it under load
// through Caddy, and redeploys it opts.Redeploys times, cycling v1 -> v2 ->
// v3 -> v1, with a steady window before each apply. With https, over HTTPS
// (the HTTPS Caddy, its internal CA, clients that trust only its root and
// keep their connections alive, like the HTTP run's).
func (b *bench) redeployUnderLoad(ctx context.Context, strategy string, https bool) (*redeployRun, error) {
	e := b.env
	label, config := strategy, e.routedWorkload
	name := e.prefix + "-" + map[string]string{"blue-green": "bg", "recreate": "rc"}[strategy]
	if https {
		label, config, name = strategy+" over HTTPS", e.routedHTTPSWorkload, name+"s"
	}
	domain := name + ".bench.test"
	slug := strings.ReplaceAll(label, " ", "-")
	w, err := e.tinyforgeWorkdir("zd-" + slug)
	if err != nil {
		return nil, err
	}
	tfLog := w.CaptureLog("INFO")
	versions := []struct{ ref, body string }{{e.images.V1, "v1"}, {e.images.V2, "v2"}, {e.images.V3, "v3"}}

	w.WriteConfig(config(name, strategy, domain, versions[0].ref))
	t := time.Now()
	if _, err := w.apply(ctx, nil); err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	b.logf("%s: workload %s created in %s", label, name, since(t))

	load := acctest.Load{URL: e.caddy.HTTPURL + "/", Host: domain, Clients: b.opts.Clients, Interval: b.opts.Interval}
	if https {
		roots, err := e.httpsCaddy.LocalCARootsE()
		if err != nil {
			return nil, err
		}
		load.URL, load.Addr, load.TLS = "https://"+domain+"/", e.httpsCaddy.HTTPSListen()[1], &tls.Config{RootCAs: roots}
	}
	lr := load.Start(ctx)
	defer lr.Stop()
	if err := waitSeen(ctx, lr, "v1", 10*b.opts.Clients, 15*time.Second); err != nil {
		return nil, fmt.Errorf("load through caddy before any redeploy: %w", err)
	}

	var steady, during []window
	var applyErr error
	callLog := filepath.Join(e.tmp, "calls-redeploys-"+slug)
	run := &redeployRun{Strategy: label, Clients: b.opts.Clients}
	for i := 1; i <= b.opts.Redeploys && applyErr == nil; i++ {
		s := time.Now()
		if err := sleep(ctx, b.opts.Steady); err != nil {
			applyErr = err
			break
		}
		steady = append(steady, window{s, time.Now()})

		next := versions[i%len(versions)]
		w.WriteConfig(config(name, strategy, domain, next.ref))
		from := time.Now()
		res, err := w.apply(ctx, nil, "TINYFORGE_CALL_LOG="+callLog)
		to := time.Now()
		during = append(during, window{from, to})
		run.Redeploys++
		run.ApplySeconds = append(run.ApplySeconds, res.Duration.Seconds())
		if err != nil {
			applyErr = fmt.Errorf("redeploy %d (%s): %w", i, next.body, err)
			break
		}
		// The answers must be the new version's once the apply is done.
		seenBefore := lr.Seen(next.body)
		switched := waitSeen(ctx, lr, next.body, seenBefore+b.opts.Clients, 3*time.Second) == nil
		run.Switched = append(run.Switched, switched)
		if !switched {
			b.finding("%s redeploy %d: the apply succeeded but no answer of %s came through Caddy within 3 s after it", label, i, next.body)
		}
		b.logf("%s: redeploy %d to %s in %s", label, i, next.body, res.Duration.Round(time.Millisecond))
	}
	stats := lr.Stop()
	run.Connections = stats.Connections
	if len(during) > 0 && !https {
		// The first redeploy, for the picture.
		win := during[0]
		tl := timeline{Strategy: strategy, Start: win.from,
			Samples: stats.Window(win.from.Add(-time.Second), win.to.Add(time.Second)).Samples(),
			Marks: stepMarks(tfLog, win.from, map[string]string{
				"stop": "stopping the old container", "gate": "gate passed", "reap": "removing container",
			})}
		tl.Marks["start"] = win.from
		if at, ok := firstAnswer(stats.Window(win.from, win.to.Add(time.Second)).Samples(), versions[1].body); ok {
			tl.Marks["swap"] = at
		}
		b.timelines = append(b.timelines, tl)
	}
	if run.Calls, err = ReadCallLog(callLog); err != nil {
		return run, err
	}

	var steadySamples, duringSamples []acctest.Sample
	for _, win := range steady {
		ws := stats.Window(win.from, win.to)
		steadySamples = append(steadySamples, ws.Samples()...)
		run.FailedOut += ws.Failed
	}
	var swapSamples []acctest.Sample
	for i, win := range during {
		ws := stats.Window(win.from, win.to)
		ss := ws.Samples()
		duringSamples = append(duringSamples, ss...)
		if at, ok := firstAnswer(ss, versions[(i+1)%len(versions)].body); ok {
			swapSamples = append(swapSamples, stats.Window(at.Add(-swapSpan), at.Add(swapSpan)).Samples()...)
		}
		run.Failed += ws.Failed
		run.FailureWindows = append(run.FailureWindows, msOf(failureWindow(ss)))
		run.FirstFailures = append(run.FirstFailures, ws.FirstFailures...)
	}
	run.Requests = len(duringSamples)
	run.Steady, run.During = latencyOver(steadySamples), latencyOver(duringSamples)
	run.AroundSwap = latencyOver(swapSamples)
	if stats.Dropped > 0 {
		b.finding("load run of %s dropped %d samples past its cap: percentiles cover the kept ones", label, stats.Dropped)
	}
	if run.FailedOut > 0 {
		b.finding("%s: %d requests failed in the steady windows, with no apply running", label, run.FailedOut)
	}
	if strategy == "blue-green" && run.Failed > 0 {
		b.finding("%s dropped %d of %d requests during %d redeploys; first failures: %s; terraform log kept at %s",
			label, run.Failed, run.Requests, run.Redeploys, strings.Join(run.FirstFailures, "; "), b.keepLog(tfLog, slug))
	}
	if applyErr != nil {
		b.finding("%s redeploy failed: %v; terraform log kept at %s", label, applyErr, b.keepLog(tfLog, slug))
		return run, applyErr
	}

	t = time.Now()
	if _, err := w.destroy(ctx); err != nil {
		return run, fmt.Errorf("destroy: %w", err)
	}
	b.logf("%s: destroyed in %s", label, since(t))
	return run, nil
}

// keepLog copies a terraform log next to the JSON report, so that a finding
// can point at it after the temp dir is gone.
func (b *bench) keepLog(path, name string) string {
	if b.opts.Out == "" {
		return "(not kept: no -out)"
	}
	dst := strings.TrimSuffix(b.opts.Out, ".json") + "." + name + ".log"
	data, err := os.ReadFile(path)
	if err == nil {
		err = os.WriteFile(dst, data, 0o644)
	}
	if err != nil {
		return fmt.Sprintf("(not kept: %v)", err)
	}
	return dst
}

// waitSeen waits until the load has had at least n ok answers with body.
func waitSeen(ctx context.Context, lr *acctest.Run, body string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for lr.Seen(body) < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d answers %q after %s, want %d", lr.Seen(body), body, timeout, n)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
