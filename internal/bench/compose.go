package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/compose"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
)

// composeDetail is what scenario 8 saw.
type composeDetail struct {
	Redeploys int `json:"redeploys"`
	Clients   int `json:"clients"`
	Requests  int `json:"requests"`
	Failed    int `json:"failed"`
	// FailureWindows is, per redeploy, the span from the first failed
	// request's start to the last one's end.
	FailureWindows []float64 `json:"failure_windows_ms"`
	ApplySeconds   []float64 `json:"apply_seconds"`
	// UpSeconds are the compose library's own Ups of the same changes.
	UpSeconds     []float64 `json:"compose_up_seconds"`
	Switched      []bool    `json:"switched"`
	FirstFailures []string  `json:"first_failures,omitempty"`
}

// benchStackFile is where scenario 8's compose file sits in its repository.
const benchStackFile = "deploy/compose.yaml"

// benchStack is scenario 8's compose file: web built from the repository
// (at version v), db with a healthcheck and a named volume.
func benchStack(v int) string {
	return fmt.Sprintf(`services:
  web:
    build: ../web
    environment:
      VERSION: web-%d
    ports: ["8080"]
    depends_on:
      db:
        condition: service_healthy
  db:
    build: ../db
    healthcheck:
      test: ["CMD", "/healthcheck", "http://127.0.0.1:8080/healthz"]
      interval: 1s
      timeout: 10s
      retries: 3
    volumes:
      - data:/data
volumes:
  data: {}
`, v)
}

// composeRedeploy is scenario 8: a compose stack from the real Git server
// behind Caddy, redeployed by commits that change only web, under load;
// the failed requests (floor 0) and each apply's time against the compose
// library's own up of the same change (internal/compose: Load and Up in
// process, a project of its own from the same files, no Git, no terraform,
// no gate, no route).
func (b *bench) composeRedeploy(ctx context.Context) error {
	e := b.env
	d := &composeDetail{Clients: b.opts.Clients}
	defer b.detail("compose_redeploy", d)

	files, err := benchStackFiles(e)
	if err != nil {
		return err
	}
	srv, stop, err := acctest.NewGitServer(filepath.Join(e.tmp, "git-compose"), os.Stderr)
	if err != nil {
		return err
	}
	defer stop()
	work := filepath.Join(e.tmp, "git-work-compose")
	if err := os.Mkdir(work, 0o755); err != nil {
		return err
	}
	repo, err := srv.NewRepo("bench", "stack", work)
	if err != nil {
		return err
	}
	if _, err := repo.Push("main", files, "v1"); err != nil {
		return err
	}

	cli, err := docker.New(docker.Config{})
	if err != nil {
		return err
	}
	defer cli.Close()
	rt := compose.New(cli.EngineAPI())
	name := e.prefix + "-stack"
	floorName := e.prefix + "-stack-floor"
	defer func() {
		// The stacks carry tinyforge.stack, not the labels close looks for.
		for _, p := range []string{name, floorName} {
			if err := rt.Down(context.WithoutCancel(ctx), p, true, nil); err != nil {
				b.finding("compose: down %s: %v", p, err)
			}
		}
	}()

	domain := name + ".bench.test"
	w, err := e.tinyforgeWorkdir("compose")
	if err != nil {
		return err
	}
	tfLog := w.CaptureLog("INFO")
	w.WriteConfig(e.composeWorkload(name, domain, srv.URL, repo.Name, srv.Token))
	t := time.Now()
	if _, err := w.apply(ctx, nil); err != nil {
		return fmt.Errorf("create the compose workload: %w; terraform log kept at %s", err, b.keepLog(tfLog, "compose"))
	}
	b.logf("compose: stack %s created in %s", name, since(t))

	// The floor's checkout: the same files, its own folder and project.
	floorDir := filepath.Join(e.tmp, "compose-floor")
	floorUp := func(v int) (time.Duration, error) {
		files[benchStackFile] = acctest.File{Content: []byte(benchStack(v))}
		if err := writeRepoFiles(floorDir, files); err != nil {
			return 0, err
		}
		p, err := compose.Load(ctx, compose.LoadSpec{Dir: floorDir, Files: []string{benchStackFile}, ProjectName: floorName, Commit: fmt.Sprint(v)})
		if err != nil {
			return 0, err
		}
		start := time.Now()
		err = rt.Up(ctx, p, compose.UpOptions{
			Labels:  map[string]string{acctest.LabelTestRun: acctest.RunID()},
			Publish: []compose.Publish{{Service: "web", Port: 8080}},
		})
		return time.Since(start), err
	}
	if _, err := floorUp(1); err != nil {
		return fmt.Errorf("compose floor: first up: %w", err)
	}

	load := acctest.Load{URL: e.caddy.HTTPURL + "/", Host: domain, Clients: b.opts.Clients, Interval: b.opts.Interval}
	lr := load.Start(ctx)
	defer lr.Stop()
	if err := waitSeen(ctx, lr, "web-1", 10*b.opts.Clients, 30*time.Second); err != nil {
		return fmt.Errorf("load through caddy before any redeploy: %w", err)
	}
	var during []window
	var applies, ups []time.Duration
	var applyErr error
	for v := 2; v <= b.opts.Redeploys+1 && applyErr == nil; v++ {
		if err := sleep(ctx, b.opts.Steady); err != nil {
			return err
		}
		if _, err := repo.Push("main", map[string]acctest.File{benchStackFile: {Content: []byte(benchStack(v))}}, fmt.Sprint("web ", v)); err != nil {
			return err
		}
		from := time.Now()
		res, err := w.apply(ctx, nil)
		during = append(during, window{from, time.Now()})
		d.Redeploys++
		if err != nil {
			applyErr = fmt.Errorf("redeploy %d: %w; terraform log kept at %s", v, err, b.keepLog(tfLog, "compose"))
			break
		}
		applies = append(applies, res.Duration)
		d.ApplySeconds = append(d.ApplySeconds, res.Duration.Seconds())
		body := fmt.Sprint("web-", v)
		switched := waitSeen(ctx, lr, body, lr.Seen(body)+b.opts.Clients, 3*time.Second) == nil
		d.Switched = append(d.Switched, switched)
		if !switched {
			b.finding("compose redeploy %d: the apply succeeded but no answer of %s came through Caddy within 3 s after it", v, body)
		}
		took, err := floorUp(v)
		if err != nil {
			return fmt.Errorf("compose floor: up %d: %w", v, err)
		}
		ups = append(ups, took)
		d.UpSeconds = append(d.UpSeconds, took.Seconds())
		b.logf("compose: redeploy %d in %s (compose's own up of the change: %s)", v, res.Duration.Round(time.Millisecond), took.Round(time.Millisecond))
	}
	stats := lr.Stop()
	for _, win := range during {
		ws := stats.Window(win.from, win.to)
		d.Requests += ws.Total
		d.Failed += ws.Failed
		d.FailureWindows = append(d.FailureWindows, msOf(failureWindow(ws.Samples())))
		d.FirstFailures = append(d.FirstFailures, ws.FirstFailures...)
	}
	label := fmt.Sprintf("8 compose stack, web-only commits, %d redeploys, %d clients:", d.Redeploys, d.Clients)
	zero := maxValue(0)
	b.row(countRow(fmt.Sprintf("%s failed requests (of %d)", label, d.Requests), d.Failed, 0, "physical limit", &zero))
	longest := 0.0
	for _, w := range d.FailureWindows {
		longest = max(longest, w)
	}
	b.row(newRow(label+" longest failure window", unitMillis, longest, 0, "physical limit", nil))
	if len(applies) > 0 {
		b.row(durationRow(label+" redeploy (median terraform apply)", median(applies), median(ups),
			"compose library's own up of the change", nil))
	}
	if applyErr != nil {
		return applyErr
	}
	t = time.Now()
	if _, err := w.destroy(ctx); err != nil {
		return fmt.Errorf("destroy: %w", err)
	}
	b.logf("compose: destroyed in %s", since(t))
	return nil
}

// benchStackFiles are scenario 8's repository at version 1: the compose
// file in a subfolder, web and db built FROM scratch from the test app (db
// with the health check command), each with a build label of the run.
func benchStackFiles(e *env) (map[string]acctest.File, error) {
	app, err := os.ReadFile(e.images.Binary)
	if err != nil {
		return nil, err
	}
	checkBin, err := acctest.HealthcheckBinaryE()
	if err != nil {
		return nil, err
	}
	check, err := os.ReadFile(checkBin)
	if err != nil {
		return nil, err
	}
	label := acctest.BuildLabel(e.prefix + "-compose")
	return map[string]acctest.File{
		benchStackFile:   {Content: []byte(benchStack(1))},
		"web/Dockerfile": {Content: []byte("FROM scratch\n" + label + "\nCOPY testapp /testapp\nENTRYPOINT [\"/testapp\"]\n")},
		"web/testapp":    {Content: app, Executable: true},
		"db/Dockerfile": {Content: []byte("FROM scratch\n" + label +
			"\nCOPY testapp /testapp\nCOPY healthcheck /healthcheck\nENV VERSION=db\nENTRYPOINT [\"/testapp\"]\n")},
		"db/testapp":     {Content: app, Executable: true},
		"db/healthcheck": {Content: check, Executable: true},
	}, nil
}

// writeRepoFiles writes files (a repository's content) under dir.
func writeRepoFiles(dir string, files map[string]acctest.File) error {
	for name, f := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if f.Executable {
			mode = 0o755
		}
		if err := os.WriteFile(path, f.Content, mode); err != nil {
			return err
		}
	}
	return nil
}
