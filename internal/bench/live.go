package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
)

// What scenarios 7 and 9 share: repositories of the test app on the
// bench's Git server, an apply timed until Caddy answers a commit's
// content, and the script that puts a commit live without tinyforge.

// versionPath is the file a one-file commit changes, served by the test
// app at /file?path=/site/version.txt.
const versionPath = "site/version.txt"

// appRepos makes a repository per name on srv, each holding the test app
// built by a Dockerfile that copies site/ (version.txt says first). Each
// repository's build label is its own (tag-name): their builds share no
// layer, and the run's cleanup removes them all.
func (e *env) appRepos(srv *acctest.GitServer, tag string, names []string, first string) (map[string]*acctest.GitRepo, error) {
	app, err := os.ReadFile(e.images.Binary)
	if err != nil {
		return nil, err
	}
	repos := map[string]*acctest.GitRepo{}
	for _, name := range names {
		work := filepath.Join(e.tmp, "git-work-"+tag+"-"+name)
		if err := os.Mkdir(work, 0o755); err != nil {
			return nil, err
		}
		r, err := srv.NewRepo("bench", name, work)
		if err != nil {
			return nil, err
		}
		dockerfile := fmt.Sprintf("FROM scratch\n%s\nCOPY testapp /testapp\nCOPY site/ /site/\nENV VERSION=%s\nENTRYPOINT [\"/testapp\"]\n",
			acctest.BuildLabel(e.prefix+"-"+tag+"-"+name), tag)
		if _, err := r.Push("main", map[string]acctest.File{
			"Dockerfile":      {Content: []byte(dockerfile)},
			"testapp":         {Content: app, Executable: true},
			"site/index.html": {Content: []byte("<h1>bench</h1>\n")},
			versionPath:       {Content: []byte(first)},
		}, "first"); err != nil {
			return nil, err
		}
		repos[name] = r
	}
	return repos, nil
}

// applyUntilServed runs terraform apply in w and waits for it, then for
// Caddy to answer want at versionPath on domain (5 s at most after the
// apply). It returns the apply's result and when Caddy first answered.
func (e *env) applyUntilServed(ctx context.Context, w *workdir, env []string, domain, want string) (acctest.Result, time.Time, error) {
	p, err := w.Start(ctx, []string{"apply", "-auto-approve", "-input=false", "-no-color"}, append(append([]string{}, w.env...), env...)...)
	if err != nil {
		return acctest.Result{}, time.Time{}, err
	}
	answered := make(chan time.Time, 1)
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	go func() {
		for pollCtx.Err() == nil {
			if code, body, err := e.caddy.GetE(domain, "/file?path=/"+versionPath); err == nil && code == 200 && body == want {
				answered <- time.Now()
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	res, err := p.Wait()
	if err != nil {
		return res, time.Time{}, fmt.Errorf("apply of %q: %w", want, err)
	}
	select {
	case at := <-answered:
		return res, at, nil
	case <-time.After(5 * time.Second):
		return res, time.Time{}, fmt.Errorf("the apply of %q succeeded but Caddy did not answer it on %s within 5 s", want, domain)
	}
}

// liveScript is the floor of scenarios 7 and 9: pushFloorScript putting
// the head of a repository live without tinyforge.
type liveScript struct {
	e        *env
	path     string
	cloneURL string
	name     string // containers and tags are <name>-<i>
}

// newLiveScript writes the script for repo on srv; name prefixes its
// containers and images.
func (e *env) newLiveScript(srv *acctest.GitServer, repo *acctest.GitRepo, name string) (*liveScript, error) {
	path := filepath.Join(e.tmp, name+".sh")
	if err := os.WriteFile(path, []byte(pushFloorScript), 0o755); err != nil {
		return nil, err
	}
	u, err := url.Parse(repo.CloneURL)
	if err != nil {
		return nil, err
	}
	u.User = url.UserPassword("bench", srv.Token)
	return &liveScript{e: e, path: path, cloneURL: u.String(), name: name}, nil
}

// run puts the repository's head live as run i, until it answers want:
// its time, its phases and the layers its build rebuilt. The container of
// run i-1 goes (the one before it is not the scenario's any more).
func (s *liveScript) run(ctx context.Context, i int, want string) (time.Duration, map[string]float64, docker.BuildSteps, error) {
	dir := filepath.Join(s.e.tmp, fmt.Sprintf("%s-%d", s.name, i))
	cmd := exec.CommandContext(ctx, "bash", s.path, s.cloneURL, dir, fmt.Sprintf("%s:%d", s.name, i),
		fmt.Sprintf("%s-%d", s.name, i), s.e.network, acctest.LabelTestRun+"="+acctest.RunID(), want)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	var steps docker.BuildSteps
	if out, rerr := os.ReadFile(dir + ".build"); rerr == nil {
		for _, line := range strings.Split(string(out), "\n") {
			steps.Observe(line)
		}
	}
	if err != nil {
		return 0, nil, steps, fmt.Errorf("%s: %v: %s", s.name, err, strings.TrimSpace(stderr.String()))
	}
	if i > 0 {
		acctest.DockerE("container", "rm", "--force", fmt.Sprintf("%s-%d", s.name, i-1))
	}
	return took, scriptPhases(stdout.String()), steps, nil
}
