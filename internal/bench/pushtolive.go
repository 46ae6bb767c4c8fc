package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

type pushDetail struct {
	// ToLive is each commit's time from the push to the first answer of
	// its content through Caddy; Apply the whole apply (drain and reap
	// included).
	ToLive []float64 `json:"to_live_seconds"`
	Apply  []float64 `json:"apply_seconds"`
	Script []float64 `json:"script_seconds"`
	// Layers rebuilt and reused by each build, tinyforge's and the script's.
	Rebuilt       []int `json:"layers_rebuilt"`
	Cached        []int `json:"layers_cached"`
	ScriptRebuilt []int `json:"script_layers_rebuilt"`
	ScriptCached  []int `json:"script_layers_cached"`
	// Fetches are the pushes whose build fetched the dependency anew: its
	// cache mount was empty. 0 after the first build of each.
	Fetches       int `json:"dependency_fetches"`
	ScriptFetches int `json:"script_dependency_fetches"`
	// Phases of each run, in seconds.
	Phases       []map[string]float64 `json:"phases"`
	ScriptPhases []map[string]float64 `json:"script_phases"`
}

// pushToLive is scenario 7: a commit that changes one file of a dockerfile
// repository on the real Git server, then terraform apply, timed until
// Caddy answers with the new content; against a script that does what a
// user without tinyforge would (git clone --depth 1, docker build with
// BuildKit, docker run, probe the container), on a repository of its own
// whose first layer is its own, so that neither build finds the other's
// layers in the cache. Both build each commit with a cache warmed by the
// commit before. The step after the changed file fetches a dependency into
// a cache mount when it is not there (dependencyStep): the count of
// fetches shows the cache mount's effect in both.
func (b *bench) pushToLive(ctx context.Context) error {
	e := b.env
	d := &pushDetail{}
	defer b.detail("push_to_live", d)
	root := filepath.Join(e.tmp, "git")
	srv, stop, err := acctest.NewGitServer(root, os.Stderr)
	if err != nil {
		return err
	}
	defer stop()
	repos, err := e.appRepos(srv, "push", []string{"tinyforge", "script"}, "0", true)
	if err != nil {
		return err
	}

	name := e.prefix + "-ptl"
	domain := name + ".bench.test"
	w, err := e.tinyforgeWorkdir("push")
	if err != nil {
		return err
	}
	tfLog := filepath.Join(e.tmp, "push.log")
	logEnv := []string{"TF_LOG_PROVIDER=INFO", "TF_LOG_PATH=" + tfLog}
	w.WriteConfig(e.dockerfileWorkload(name, domain, srv.URL, repos["tinyforge"].Name, srv.Token))
	t := time.Now()
	if _, err := w.apply(ctx, nil, logEnv...); err != nil {
		return fmt.Errorf("create the dockerfile workload: %w", err)
	}
	b.logf("push: dockerfile workload created (first build, cold cache) in %s", since(t))
	defer func() {
		if _, err := w.destroy(ctx); err != nil {
			b.finding("push: destroy failed: %v", err)
		}
	}()

	floor, err := e.newLiveScript(srv, repos["script"], e.prefix+"-ptl-floor")
	if err != nil {
		return err
	}
	// The script's warm-up: its first commit built, as tinyforge's create
	// built its own.
	if _, _, _, err := floor.run(ctx, 0, "0"); err != nil {
		return err
	}

	var live, floors []time.Duration
	for i := 1; i <= b.opts.PushReps; i++ {
		want := strconv.Itoa(i)
		// tinyforge: push, apply, until Caddy answers the new content.
		if _, err := repos["tinyforge"].Push("main", map[string]acctest.File{versionPath: {Content: []byte(want)}}, "bump "+want); err != nil {
			return err
		}
		from := time.Now()
		res, at, err := e.applyUntilServed(ctx, w, logEnv, domain, want)
		if err != nil {
			return err
		}
		toLive := at.Sub(from)
		live = append(live, toLive)
		d.ToLive, d.Apply = append(d.ToLive, toLive.Seconds()), append(d.Apply, res.Duration.Seconds())
		dl := lastDeploy(tfLog, from)
		d.Rebuilt, d.Cached = append(d.Rebuilt, dl.Rebuilt), append(d.Cached, dl.Cached)
		if logged(tfLog, from, fetchedLine) {
			d.Fetches++
		}
		d.Phases = append(d.Phases, dl.phases(from, at))

		// The script: push to its own repository, then clone, build, run,
		// probe.
		if _, err := repos["script"].Push("main", map[string]acctest.File{versionPath: {Content: []byte(want)}}, "bump "+want); err != nil {
			return err
		}
		took, phases, steps, err := floor.run(ctx, i, want)
		if err != nil {
			return err
		}
		if floor.fetched(i) {
			d.ScriptFetches++
		}
		floors = append(floors, took)
		d.Script, d.ScriptPhases = append(d.Script, took.Seconds()), append(d.ScriptPhases, phases)
		d.ScriptRebuilt, d.ScriptCached = append(d.ScriptRebuilt, steps.Rebuilt()), append(d.ScriptCached, steps.Cached)
		b.logf("push %d: tinyforge answered through Caddy after %s (apply %s, %d layers rebuilt, %d cached); script %s (%d rebuilt, %d cached)",
			i, toLive.Round(time.Millisecond), res.Duration.Round(time.Millisecond), dl.Rebuilt, dl.Cached,
			took.Round(time.Millisecond), steps.Rebuilt(), steps.Cached)
	}

	target := maxRatio(1.2)
	last := len(d.Rebuilt) - 1
	toLive := durationRow(fmt.Sprintf("7 push to live: one-file commit to a dockerfile repo -> answering through Caddy (median of %d; %d of %d layers rebuilt)",
		len(live), d.Rebuilt[last], d.Rebuilt[last]+d.Cached[last]), median(live), median(floors),
		fmt.Sprintf("git clone --depth 1, BuildKit docker build, docker run, probe; %d of %d layers rebuilt", d.ScriptRebuilt[last], d.ScriptRebuilt[last]+d.ScriptCached[last]),
		&target)
	b.row(toLive)
	b.row(countRow("7 push to live: layers rebuilt by the one-file commit", d.Rebuilt[last], d.ScriptRebuilt[last],
		"the script's docker build", nil))
	b.row(countRow(fmt.Sprintf("7 push to live: dependency fetches by the %d pushes' builds (their cache mount was empty)", len(live)),
		d.Fetches, d.ScriptFetches, "the script's docker build", nil))
	b.breakdown(toLive.Scenario, meanPhases(d.Phases), meanPhases(d.ScriptPhases))
	return nil
}

// pushFloorScript is the floor of scenario 7: what it takes without
// tinyforge to put a commit live, printing when each phase ended.
const pushFloorScript = `#!/bin/bash
set -euo pipefail
url=$1 dir=$2 tag=$3 name=$4 network=$5 label=$6 want=$7
now() { date +%s.%N; }
echo "start $(now)"
git clone --quiet --depth 1 "$url" "$dir"
echo "clone $(now)"
# BuildKit, as the provider builds: Debian's docker CLI (20.10) drives the
# engine's BuildKit itself (/usr/local/bin/docker would want buildx).
DOCKER_BUILDKIT=1 /usr/bin/docker build --progress=plain --tag "$tag" "$dir" >"$dir.build" 2>&1
echo "build $(now)"
docker run --detach --name "$name" --label "$label" --network "$network" \
  --restart unless-stopped --publish 127.0.0.1::8080 "$tag" >/dev/null
addr=$(docker port "$name" 8080/tcp | head -n 1)
echo "run $(now)"
for _ in $(seq 1 1200); do
  if [ "$(curl --silent --max-time 2 "http://$addr/file?path=/site/version.txt" || true)" = "$want" ]; then
    echo "probe $(now)"
    exit 0
  fi
  sleep 0.05
done
echo "$name did not answer $want at http://$addr/" >&2
exit 1
`

// scriptPhases turns the script's "phase <unix time>" lines into the
// seconds each phase took.
func scriptPhases(out string) map[string]float64 {
	phases := map[string]float64{}
	var prev float64
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		at, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		if f[0] != "start" {
			phases[f[0]] = at - prev
		}
		prev = at
	}
	return phases
}

// dockerfileWorkload is one blue-green workload of a dockerfile repository
// on the bench's Git server, behind Caddy.
func (e *env) dockerfileWorkload(name, domain, baseURL, repo, token string) string {
	return e.tinyforgeProvider(true) + fmt.Sprintf(`
resource "tinyforge_workload" "w" {
  name            = %q
  deploy_strategy = "blue-green"
  domains         = [%q]
  source {
    dockerfile {
      base_url     = %q
      provider     = "gitea"
      repo_owner   = "bench"
      repo_name    = %q
      access_token = %q
      port         = 8080
      healthcheck  = "/healthz"
    }
  }
}
`, name, domain, baseURL, repo, token)
}
