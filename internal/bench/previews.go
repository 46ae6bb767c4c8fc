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

type previewsDetail struct {
	N             int     `json:"n"`
	CreateSeconds float64 `json:"create_seconds"`
	// Idle is a plan with nothing new; Moved the plan after one pull
	// request moved; Noop the no-op provider's plan over N resources.
	Idle  timings `json:"idle_plans"`
	Moved timings `json:"moved_plans"`
	Noop  timings `json:"noop_plans"`
	// The calls of one idle plan and of the moved apply.
	IdleCalls  Calls `json:"calls_of_an_idle_plan"`
	ApplyCalls Calls `json:"calls_of_the_moved_apply"`
	// Git host calls of one idle plan: pull request listings (API) and
	// reference listings (ls-remote).
	PullListings int `json:"pull_listings_of_an_idle_plan"`
	RefListings  int `json:"ref_listings_of_an_idle_plan"`
	// The moved apply until Caddy answers the new content, and the
	// script's redeploy of one preview.
	ApplySeconds  float64 `json:"apply_seconds"`
	ScriptSeconds float64 `json:"script_seconds"`
	Rebuilt       int     `json:"layers_rebuilt"`
	Cached        int     `json:"layers_cached"`
	ScriptRebuilt int     `json:"script_layers_rebuilt"`
	// GitHubCalls are the stand-in's calls of the moved apply.
	GitHubCalls []string `json:"github_calls_of_the_moved_apply"`
}

// previews is scenario 9: N previews of one dockerfile repository on the
// real Git server, a workload per open pull request listed by
// tinyforge_pull_requests from the GitHub stand-in, behind Caddy, reported
// to the pull requests. Measured: a plan with nothing new (time against the
// no-op provider's plan over N resources; its calls: one pull request
// listing, no reference listing, engine and proxy calls as scenario 3's),
// then one pull request moves by a one-file commit: the plan, and the apply
// until Caddy answers the new content, against a script that puts that one
// commit live (git clone --depth 1, docker build, docker run, probe), with
// the layers each rebuilt.
func (b *bench) previews(ctx context.Context) error {
	e, n := b.env, b.opts.Previews
	d := &previewsDetail{N: n}
	defer b.detail("previews", d)
	srv, stop, err := acctest.NewGitServer(filepath.Join(e.tmp, "git-previews"), os.Stderr)
	if err != nil {
		return err
	}
	defer stop()
	repos, err := e.appRepos(srv, "preview", []string{"previews", "script"}, "main", false)
	if err != nil {
		return err
	}
	project := "bench/previews"
	for i := 1; i <= n; i++ {
		branch := fmt.Sprintf("pr-%d", i)
		if _, err := repos["previews"].Push(branch, map[string]acctest.File{versionPath: {Content: []byte(branch)}}, branch); err != nil {
			return err
		}
		srv.GitHub.OpenPullRequest(project, acctest.PullRequest{Number: int64(i), Title: branch, Author: "bench", HeadBranch: branch})
	}

	w, err := e.tinyforgeWorkdir("previews")
	if err != nil {
		return err
	}
	w.WriteConfig(e.previewWorkloads(srv.URL, srv.Token))
	tfLog := filepath.Join(e.tmp, "previews.log")
	logEnv := []string{"TF_LOG_PROVIDER=INFO", "TF_LOG_PATH=" + tfLog}
	t := time.Now()
	if _, err := w.apply(ctx, []string{fmt.Sprintf("-parallelism=%d", b.opts.Parallelism)}, logEnv...); err != nil {
		return fmt.Errorf("create %d previews: %w", n, err)
	}
	d.CreateSeconds = time.Since(t).Seconds()
	b.logf("previews: %d previews created in %s", n, since(t))
	defer func() {
		if _, err := w.destroy(ctx); err != nil {
			b.finding("previews: destroy failed: %v", err)
		}
	}()
	nw, err := e.noopWorkdir("previews-noop")
	if err != nil {
		return err
	}
	nw.WriteConfig(e.manyNoops(n, e.images.V1))
	if _, err := nw.apply(ctx, nil); err != nil {
		return fmt.Errorf("create %d no-op resources: %w", n, err)
	}

	// A plan with nothing new: its calls once, then timed beside the
	// no-op provider's.
	pulls, refs := srv.GitHub.CallsTo("/pulls"), srv.RefListings()
	callLog := filepath.Join(e.tmp, "calls-previews-idle")
	res, err := w.plan(ctx, "TINYFORGE_CALL_LOG="+callLog)
	if err = planOutcome(res, err); err != nil {
		return fmt.Errorf("idle plan: %w", err)
	}
	if res.HasChanges {
		b.finding("previews: a plan right after the create is not empty:\n%s", lastLines(res.Stdout, 15))
	}
	d.PullListings, d.RefListings = srv.GitHub.CallsTo("/pulls")-pulls, int(srv.RefListings()-refs)
	if d.IdleCalls, err = ReadCallLog(callLog); err != nil {
		return err
	}
	for range b.opts.PlanReps {
		for _, v := range []planVariant{{w, nil, &d.Idle}, {nw, nil, &d.Noop}} {
			tm, err := timed(func() (acctest.Result, error) { return v.w.plan(ctx) })
			if err != nil {
				return fmt.Errorf("plan of %s: %w", filepath.Base(v.w.binary), err)
			}
			*v.into = append(*v.into, tm)
		}
	}

	// The script's repository, cloned and built once: its cache is as
	// warm as the previews'.
	floor, err := e.newLiveScript(srv, repos["script"], e.prefix+"-pv-floor")
	if err != nil {
		return err
	}
	if _, _, _, err := floor.run(ctx, 0, "main"); err != nil {
		return err
	}

	// One pull request moves by a one-file commit.
	moved := (n + 1) / 2
	want := fmt.Sprintf("pr-%d moved", moved)
	if _, err := repos["previews"].Push(fmt.Sprintf("pr-%d", moved), map[string]acctest.File{versionPath: {Content: []byte(want)}}, "move"); err != nil {
		return err
	}
	for range b.opts.PlanReps {
		tm, err := timed(func() (acctest.Result, error) { return w.plan(ctx) })
		if err != nil {
			return fmt.Errorf("plan after the move: %w", err)
		}
		d.Moved = append(d.Moved, tm)
	}
	github := len(srv.GitHub.Calls())
	applyLog := filepath.Join(e.tmp, "calls-previews-apply")
	domain := fmt.Sprintf("pr-%d.%s.preview.bench.test", moved, e.prefix)
	from := time.Now()
	_, at, err := e.applyUntilServed(ctx, w, append(logEnv, "TINYFORGE_CALL_LOG="+applyLog), domain, want)
	if err != nil {
		return err
	}
	d.ApplySeconds = at.Sub(from).Seconds()
	d.GitHubCalls = srv.GitHub.Calls()[github:]
	dl := lastDeploy(tfLog, from)
	d.Rebuilt, d.Cached = dl.Rebuilt, dl.Cached
	if d.ApplyCalls, err = ReadCallLog(applyLog); err != nil {
		return err
	}
	if _, err := repos["script"].Push("main", map[string]acctest.File{versionPath: {Content: []byte(want)}}, "move"); err != nil {
		return err
	}
	took, _, steps, err := floor.run(ctx, 1, want)
	if err != nil {
		return err
	}
	d.ScriptSeconds, d.ScriptRebuilt = took.Seconds(), steps.Rebuilt()
	if v := append(srv.GitHub.TakeViolations(), srv.Gitea.TakeViolations()...); len(v) > 0 {
		b.finding("previews: the Git host stand-ins refused requests of the provider: %s", strings.Join(v, "; "))
	}
	b.logf("previews: idle plan %s (no-op %s), %d pull request listings, %d reference listings; moved plan %s; apply until live %.2f s (%d layers rebuilt, %d cached), script %.2f s (%d rebuilt); %d GitHub calls",
		d.Idle.wall().Round(time.Millisecond), d.Noop.wall().Round(time.Millisecond), d.PullListings, d.RefListings,
		d.Moved.wall().Round(time.Millisecond), d.ApplySeconds, d.Rebuilt, d.Cached, d.ScriptSeconds, d.ScriptRebuilt, len(d.GitHubCalls))

	reps := len(d.Idle)
	b.row(durationRow(fmt.Sprintf("9 plan, %d previews, nothing new (median of %d)", n, reps), d.Idle.wall(), d.Noop.wall(),
		fmt.Sprintf("no-op provider, %d resources", n), nil))
	one := maxValue(1)
	b.row(countRow(fmt.Sprintf("9 plan, %d previews, nothing new: Git host API calls", n), d.PullListings, 1,
		"one per data source (one page)", &one))
	zero := maxValue(0)
	b.row(countRow(fmt.Sprintf("9 plan, %d previews, nothing new: ls-remote of the previews", n), d.RefListings, 0,
		"none: each preview is pinned to its head_sha", &zero))
	lists := maxValue(3)
	b.row(countRow(fmt.Sprintf("9 plan, %d previews, nothing new: list calls (containers + routes)", n), d.IdleCalls.Lists(), 3,
		"1 container list per runtime (2) + 1 route read", &lists))
	b.row(durationRow(fmt.Sprintf("9 plan, %d previews, one pull request moved (median of %d)", n, len(d.Moved)), d.Moved.wall(), d.Noop.wall(),
		fmt.Sprintf("no-op provider, %d resources", n), nil))
	b.row(durationRow(fmt.Sprintf("9 apply, %d previews, one moved: one-file commit -> answering through Caddy (%d of %d layers rebuilt)", n, d.Rebuilt, d.Rebuilt+d.Cached),
		time.Duration(d.ApplySeconds*float64(time.Second)), took,
		fmt.Sprintf("git clone --depth 1, docker build, docker run, probe of that one commit; %d layers rebuilt", d.ScriptRebuilt), nil))
	b.row(countRow("9 apply, one preview moved: layers rebuilt", d.Rebuilt, d.ScriptRebuilt, "the script's docker build", nil))
	if d.IdleCalls.Mutating > 0 {
		b.finding("previews: a plan with nothing new made %d mutating calls: %s", d.IdleCalls.Mutating, strings.Join(d.IdleCalls.MutatingKinds(), ", "))
	}
	b.checkCallsPerPlan(n, d.IdleCalls)
	return nil
}

// previewWorkloads is examples/previews on the bench's Git server: a
// workload per open pull request of bench/previews, reported to it.
func (e *env) previewWorkloads(baseURL, token string) string {
	return strings.Replace(e.tinyforgeProvider(true), "provider \"tinyforge\" {\n", fmt.Sprintf("provider \"tinyforge\" {\n  git_auth {\n    base_url = %q\n    token    = %q\n  }\n", baseURL, token), 1) +
		fmt.Sprintf(`
data "tinyforge_pull_requests" "open" {
  git_provider = "github"
  base_url     = %[1]q
  repo_owner   = "bench"
  repo_name    = "previews"
}

resource "tinyforge_workload" "preview" {
  for_each = { for pr in data.tinyforge_pull_requests.open.pull_requests : tostring(pr.number) => pr }

  name          = "%[2]s-pr-${each.key}"
  domains       = ["pr-${each.key}.%[2]s.preview.bench.test"]
  drain_timeout = 0
  source {
    dockerfile {
      provider             = "github"
      base_url             = %[1]q
      repo_owner           = "bench"
      repo_name            = "previews"
      branch               = each.value.head_branch
      ref                  = each.value.head_sha
      port                 = 8080
      healthcheck          = "/healthz"
      report_commit_status = true
    }
  }
}
`, baseURL, e.prefix)
}
