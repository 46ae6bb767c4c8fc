package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
// repository's first layer (owner.txt) is its own: BuildKit shares layers
// by content, and their builds share none; the build label lets the run's
// cleanup remove them all. With dependency, busybox and, after site/, a
// step that fetches a dependency into a cache mount (dependencyStep)
// follow.
func (e *env) appRepos(srv *acctest.GitServer, tag string, names []string, first string, dependency bool) (map[string]*acctest.GitRepo, error) {
	app, err := os.ReadFile(e.images.Binary)
	if err != nil {
		return nil, err
	}
	var busybox []byte
	if dependency {
		if busybox, err = os.ReadFile(acctest.BusyboxBinary); err != nil {
			return nil, fmt.Errorf("Debian's busybox-static (.ci/setup-host installs it): %w", err)
		}
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
		files := map[string]acctest.File{
			"owner.txt":       {Content: []byte(e.prefix + "-" + tag + "-" + name)},
			"testapp":         {Content: app, Executable: true},
			"site/index.html": {Content: []byte("<h1>bench</h1>\n")},
			versionPath:       {Content: []byte(first)},
		}
		dockerfile := "FROM scratch\n" + acctest.BuildLabel(e.prefix+"-"+tag+"-"+name) + "\nCOPY owner.txt /owner.txt\n"
		if dependency {
			files["busybox"] = acctest.File{Content: busybox, Executable: true}
			dockerfile += "COPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n"
		}
		dockerfile += "COPY testapp /testapp\nCOPY site/ /site/\n"
		if dependency {
			dockerfile += dependencyStep + "\n"
		}
		dockerfile += fmt.Sprintf("ENV VERSION=%s\nENTRYPOINT [\"/testapp\"]\n", tag)
		files["Dockerfile"] = acctest.File{Content: []byte(dockerfile)}
		if _, err := r.Push("main", files, "first"); err != nil {
			return nil, err
		}
		repos[name] = r
	}
	return repos, nil
}

// dependencyStep stands for a dependency download after the source
// changed (a build's module or package fetch): 64 MiB written and summed,
// and 2 s of waiting for a network, when its cache mount lacks it. It
// prints dependencyFetched then, else dependency-cached.
const dependencyStep = `RUN --mount=type=cache,target=/var/cache/deps sh -c 'if [ -f /var/cache/deps/dep.bin ]; then ` +
	`echo dependency-cached; else echo ` + dependencyFetched + `; sleep 2; ` +
	`head -c 67108864 /dev/urandom > /var/cache/deps/dep.bin; fi; sha256sum /var/cache/deps/dep.bin > /dep.sum'`

// dependencyFetched is what dependencyStep prints when it fetches the
// dependency. fetchedLine is the step's output line saying it, in the
// provider's log and in the CLI's plain output (with its timestamp); the
// step's command, which holds the word too, is not.
const dependencyFetched = "dependency-fetched"

var fetchedLine = regexp.MustCompile(`(?m)#\d+ (\d+\.\d+ )?` + dependencyFetched + `(:|$)`)

// logged reports whether the provider's log has a line matching re at or
// after from.
func logged(path string, from time.Time, re *regexp.Regexp) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		ts, _, _ := strings.Cut(line, " ")
		if at, err := time.Parse(tfLogTime, ts); err == nil && !at.Before(from.Truncate(time.Millisecond)) && re.MatchString(line) {
			return true
		}
	}
	return false
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
// run i-1 goes (the one before it is not the scenario's any more). Its
// build's output stays in <tmp>/<name>-<i>.build (fetched reads it).
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

// fetched reports whether run i's build fetched the dependency
// (dependencyStep): its cache mount was empty.
func (s *liveScript) fetched(i int) bool {
	out, err := os.ReadFile(filepath.Join(s.e.tmp, fmt.Sprintf("%s-%d", s.name, i)) + ".build")
	return err == nil && fetchedLine.Match(out)
}
