package dockerfile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/gitbuild"
)

// countingHost is the real Docker host, counting builds: a build skipped is
// one BuildImage never called.
type countingHost struct {
	plugin.ImageHost
	builds atomic.Int32
	// raced is how many builds, the first ones, end as the engine ends one
	// that lost an image in its cache lookup (docker.ErrBuildCacheRace), a
	// race no test can bring about on demand: the context read to its end,
	// then the error.
	raced atomic.Int32
}

func (h *countingHost) BuildImage(ctx context.Context, spec docker.BuildSpec, progress docker.Progress) (docker.BuildResult, error) {
	h.builds.Add(1)
	if h.raced.Add(-1) >= 0 {
		if err := spec.Context.WriteTar(io.Discard); err != nil {
			return docker.BuildResult{}, err
		}
		progress("Step 1/5 : FROM scratch")
		return docker.BuildResult{}, fmt.Errorf("build %s: %w: unable to find image \"sha256:%064x\"", spec.Tags[0], docker.ErrBuildCacheRace, h.builds.Load())
	}
	return h.ImageHost.BuildImage(ctx, spec, progress)
}

// fixture is a real Git server with one repository, the real Docker host
// behind a build counter, and the logs of everything Produce said.
type fixture struct {
	srv  *acctest.GitServer
	repo *acctest.GitRepo
	app  []byte // the static test app binary
	host *countingHost
	logs *acctest.LockedBuffer
	tmp  string // this test's TMPDIR, where clones are made
	// buildLabel starts every Dockerfile the test commits (see
	// acctest.BuildLabel): the test's builds share layers with each other
	// only, and Prune, which removes them one workload at a time, never
	// runs while another of its builds does.
	buildLabel string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	// The binary is process-wide: fetch it before TMPDIR moves.
	app, err := os.ReadFile(acctest.TestImages(t).Binary)
	if err != nil {
		t.Fatal(err)
	}
	client, err := docker.New(docker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	srv := acctest.StartGitServer(t)
	f := &fixture{
		srv:  srv,
		repo: srv.CreateRepo(t, "acme", acctest.UniqueName("app")),
		app:  app,
		host: &countingHost{ImageHost: client},
		logs: &acctest.LockedBuffer{},
		tmp:  t.TempDir(),
		// Registered before any workload's cleanup, so it runs after
		// them: what Prune leaves is still seen.
		buildLabel: acctest.UniqueBuildLabel(t),
	}
	// Clones go to a directory of this test's own, so that a clone left
	// behind is seen.
	t.Setenv("TMPDIR", f.tmp)
	t.Cleanup(func() {
		if strings.Contains(f.logs.String(), srv.Token) {
			t.Errorf("the logs carry the token")
		}
	})
	return f
}

func (f *fixture) config() *Config {
	return &Config{
		Repo: gitbuild.Repo{BaseURL: f.srv.URL, RepoOwner: f.repo.Owner, RepoName: f.repo.Name, Token: f.srv.Token},
		Port: 8080,
	}
}

func (f *fixture) env(workload, revision string) plugin.ProduceEnv {
	return plugin.ProduceEnv{
		Images:   f.host,
		Log:      slog.New(slog.NewTextHandler(f.logs, nil)),
		Workload: workload,
		Revision: revision,
	}
}

// workload returns a unique workload name whose images are removed when
// the test ends: by Prune(keep nil), which must leave nothing.
func (f *fixture) workload(t *testing.T) string {
	t.Helper()
	name := acctest.UniqueName("df")
	t.Cleanup(func() {
		if err := f.config().Prune(context.Background(), f.env(name, ""), nil); err != nil {
			t.Errorf("Prune(nil) on cleanup: %v", err)
		}
		left, err := acctest.DockerE("image", "ls", "--quiet", "--filter", "label=tinyforge.workload="+name)
		if err != nil || left != "" {
			t.Errorf("images of %s left after Prune(nil): %q %v", name, left, err)
			acctest.DockerE(append([]string{"rmi", "--force"}, strings.Fields(left)...)...)
		}
	})
	return name
}

func (f *fixture) produce(t *testing.T, cfg *Config, workload, revision string) plugin.Artifact {
	t.Helper()
	art, err := cfg.Produce(context.Background(), f.env(workload, revision))
	if err != nil {
		t.Fatalf("Produce(%s): %v", revision, err)
	}
	return art
}

func (f *fixture) noClonesLeft(t *testing.T) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(f.tmp, "tinyforge-clone-*"))
	if len(left) > 0 {
		t.Errorf("clones left behind: %v", left)
	}
}

// run starts image and waits until it answers GET /.
func run(t *testing.T, image string) string {
	t.Helper()
	app := acctest.StartTestApp(t, image)
	acctest.Eventually(t, 15*time.Second, 100*time.Millisecond, "the app of "+image+" never answered", func() bool {
		code, _ := get(app.URL + "/")
		return code == http.StatusOK
	})
	return app.URL
}

func get(url string) (int, string) {
	c := http.Client{Timeout: 2 * time.Second}
	res, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func imageLabels(t *testing.T, id string) map[string]string {
	t.Helper()
	var labels map[string]string
	out := acctest.Docker(t, "image", "inspect", "--format", "{{json .Config.Labels}}", id)
	if err := json.Unmarshal([]byte(out), &labels); err != nil {
		t.Fatalf("labels of %s: %v", id, err)
	}
	return labels
}

// dockerfile is a Dockerfile FROM scratch of the given instructions, after
// the test's build label.
func (f *fixture) dockerfile(instructions ...string) []byte {
	return []byte("FROM scratch\n" + f.buildLabel + "\n" + strings.Join(instructions, "\n") + "\n")
}

func (f *fixture) appDockerfile(version string) []byte {
	return f.dockerfile("COPY testapp /testapp", "COPY files /files", "ENV VERSION="+version, `ENTRYPOINT ["/testapp"]`)
}

func TestProduceBuildsThePlannedCommit(t *testing.T) {
	f := newFixture(t)
	a := f.repo.CommitFiles(t, map[string]acctest.File{
		"Dockerfile":        {Content: f.appDockerfile("A")},
		"testapp":           {Content: f.app, Executable: true},
		"files/kept.txt":    {Content: []byte("kept")},
		"files/ignored.txt": {Content: []byte("ignored")},
		// An absolute link: go-git checks it out re-rooted in the clone;
		// the image must hold the repository's link.
		"files/abs-link": {SymlinkTo: "/files/kept.txt"},
		".dockerignore":  {Content: []byte("files/ignored.txt\n")},
	}, "A")
	b := f.repo.CommitFiles(t, map[string]acctest.File{"Dockerfile": {Content: f.appDockerfile("B")}}, "B")
	name := f.workload(t)
	cfg := f.config()

	// The plan resolved A, then B was pushed: the deploy builds A.
	artA := f.produce(t, cfg, name, a)
	if artA.Revision != a || artA.Image != cfg.ImageTag(name, a) || artA.ImageID == "" || f.host.builds.Load() != 1 {
		t.Fatalf("Produce(A) = %+v after %d builds, want tag %s, revision %s, one build", artA, f.host.builds.Load(), cfg.ImageTag(name, a), a)
	}
	labels := imageLabels(t, artA.ImageID)
	// One label of the provider's (beside the test's), one build step: the
	// builder adds a step for each label it is given.
	ours := maps.Clone(labels)
	maps.DeleteFunc(ours, func(k, _ string) bool { return strings.HasPrefix(k, "tinyforge.test-") })
	if ours["tinyforge.workload"] != name || len(ours) != 1 {
		t.Errorf("labels of the built image: %v, want tinyforge.workload=%s alone", labels, name)
	}
	urlA := run(t, artA.ImageID)
	if code, body := get(urlA + "/"); code != 200 || body != "A\n" {
		t.Errorf("GET / of A = %d %q, want 200 \"A\\n\"", code, body)
	}
	if code, body := get(urlA + "/file?path=/files/kept.txt"); code != 200 || body != "kept" {
		t.Errorf("GET kept.txt = %d %q, want it in the image", code, body)
	}
	if code, body := get(urlA + "/file?path=/files/abs-link"); code != 200 || body != "kept" {
		t.Errorf("GET abs-link = %d %q, want the link to /files/kept.txt as the repository has it", code, body)
	}
	if code, _ := get(urlA + "/file?path=/files/ignored.txt"); code != http.StatusNotFound {
		t.Errorf("GET ignored.txt = %d, want 404: .dockerignore lists it", code)
	}

	artB := f.produce(t, cfg, name, b)
	if artB.Revision != b || artB.ImageID == artA.ImageID || f.host.builds.Load() != 2 {
		t.Fatalf("Produce(B) = %+v after %d builds", artB, f.host.builds.Load())
	}
	if code, body := get(run(t, artB.ImageID) + "/"); code != 200 || body != "B\n" {
		t.Errorf("GET / of B = %d %q, want 200 \"B\\n\"", code, body)
	}

	// A again: its image is there, so no clone and no build.
	again := f.produce(t, cfg, name, a)
	if again != artA || f.host.builds.Load() != 2 {
		t.Errorf("Produce(A) again = %+v after %d builds, want %+v without a build", again, f.host.builds.Load(), artA)
	}
	if !strings.Contains(f.logs.String(), "already built") {
		t.Errorf("the skipped build was not logged:\n%s", f.logs.String())
	}
	// No planned revision: the branch head, B, already built.
	head := f.produce(t, cfg, name, "")
	if head != artB || f.host.builds.Load() != 2 {
		t.Errorf("Produce(\"\") = %+v after %d builds, want %+v", head, f.host.builds.Load(), artB)
	}

	logs := f.logs.String()
	for _, want := range []string{"build: #1 [internal] load build definition", "] COPY testapp /testapp", "clone: checked out " + a, "workload=" + name} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	f.noClonesLeft(t)
}

func TestProduceMonorepoWithBuildArgs(t *testing.T) {
	f := newFixture(t)
	commit := f.repo.CommitFiles(t, map[string]acctest.File{
		// The root Dockerfile cannot build: using it would fail the test.
		"Dockerfile":                     {Content: f.dockerfile("COPY nothing-here /x")},
		"services/api/testapp":           {Content: f.app, Executable: true},
		"services/api/deploy/Dockerfile": {Content: f.dockerfile("ARG VERSION=unset", "COPY testapp /testapp", "ENV VERSION=$VERSION", `ENTRYPOINT ["/testapp"]`)},
	}, "monorepo")
	name := f.workload(t)
	cfg := f.config()
	cfg.ContextPath, cfg.DockerfilePath = "services/api", "deploy/Dockerfile"
	cfg.BuildArgs = map[string]string{"VERSION": "mono-1"}

	art := f.produce(t, cfg, name, commit)
	if code, body := get(run(t, art.ImageID) + "/"); code != 200 || body != "mono-1\n" {
		t.Errorf("GET / = %d %q, want the build arg mono-1", code, body)
	}

	// Another build arg, same commit: another tag, a new build.
	cfg2 := *cfg
	cfg2.BuildArgs = map[string]string{"VERSION": "mono-2"}
	art2 := f.produce(t, &cfg2, name, commit)
	if art2.Image == art.Image || art2.ImageID == art.ImageID || f.host.builds.Load() != 2 {
		t.Errorf("a build_args change gave %+v (was %+v) after %d builds, want a new image", art2, art, f.host.builds.Load())
	}
	env := acctest.Docker(t, "image", "inspect", "--format", "{{json .Config.Env}}", art2.ImageID)
	if !strings.Contains(env, "VERSION=mono-2") {
		t.Errorf("env of the rebuilt image: %s", env)
	}
	f.noClonesLeft(t)
}

func TestProduceRefusesPathsOutOfTheClone(t *testing.T) {
	f := newFixture(t)
	escape := strings.Repeat("../", 12)
	commit := f.repo.CommitFiles(t, map[string]acctest.File{
		"Dockerfile":        {Content: f.dockerfile("LABEL ok=1")},
		"escape":            {SymlinkTo: escape + "etc"},
		"absolute":          {SymlinkTo: "/etc"},
		"Dockerfile.host":   {SymlinkTo: escape + "etc/hostname"},
		"app/Dockerfile":    {Content: f.dockerfile("LABEL ok=1")},
		"app/Dockerfile.up": {SymlinkTo: "../Dockerfile"},
		"ign/Dockerfile":    {Content: f.dockerfile("LABEL ok=1")},
		"ign/.dockerignore": {SymlinkTo: escape + "etc/hostname"},
	}, "hostile paths")
	name := f.workload(t)
	tests := []struct {
		context, dockerfile string
		want                []string
		builds              int32 // BuildImage calls: the build starts only once the paths are safe
	}{
		{"escape", "", []string{`context_path "escape"`, `leads out of the clone: "escape" is a symlink to "` + escape + `etc"`}, 0},
		// go-git re-roots an absolute target inside the clone; either way
		// it must not reach the host's /etc, and the error says it leads out.
		{"absolute", "", []string{`context_path "absolute"`, `leads out of the clone: "absolute" is a symlink to "/etc"`}, 0},
		{"", "Dockerfile.host", []string{`dockerfile_path "Dockerfile.host"`, `leads out of the clone: "Dockerfile.host" is a symlink to "` + escape + `etc/hostname"`}, 0},
		{"app", "Dockerfile.up", []string{`dockerfile_path "Dockerfile.up" resolves outside context_path "app"`, "inside the build context"}, 0},
		{"missing", "", []string{`context_path "missing"`, "does not exist"}, 0},
		{"", "missing/Dockerfile", []string{`dockerfile_path "missing/Dockerfile"`, "does not exist"}, 0},
		{"ign", "", []string{`(context_path "ign")`, ".dockerignore is a symlink that is broken or resolves outside the build context"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.context+"+"+tt.dockerfile, func(t *testing.T) {
			cfg := f.config()
			cfg.ContextPath, cfg.DockerfilePath = tt.context, tt.dockerfile
			before := f.host.builds.Load()
			_, err := cfg.Produce(context.Background(), f.env(name, commit))
			if err == nil {
				t.Fatalf("Produce succeeded, want it refused")
			}
			msg := err.Error()
			t.Logf("refused: %s", msg)
			if !strings.HasPrefix(msg, "dockerfile source: ") || strings.Contains(msg, f.srv.Token) {
				t.Errorf("error %q: want the source's prefix and no token", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if got := f.host.builds.Load() - before; got != tt.builds {
				t.Errorf("%d builds started, want %d", got, tt.builds)
			}
			if _, err := acctest.DockerE("image", "inspect", cfg.ImageTag(name, commit)); err == nil {
				t.Errorf("an image %s exists after a refused build", cfg.ImageTag(name, commit))
			}
		})
	}
	f.noClonesLeft(t)
}

func TestProduceReportsTheBuildersMessage(t *testing.T) {
	f := newFixture(t)
	commit := f.repo.Commit(t, map[string][]byte{"Dockerfile": f.dockerfile("COPY nothing-here /x")}, "broken")
	name := f.workload(t)
	_, err := f.config().Produce(context.Background(), f.env(name, commit))
	if err == nil {
		t.Fatal("Produce succeeded, want the build to fail")
	}
	for _, want := range []string{"dockerfile source: build Dockerfile", commit, "nothing-here", "last build output", "] COPY nothing-here /x"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%v", want, err)
		}
	}
	if left := acctest.Docker(t, "image", "ls", "--quiet", "--filter", "label=tinyforge.workload="+name); left != "" {
		t.Errorf("a failed build left images: %s", left)
	}
	f.noClonesLeft(t)
}

// TestProduceBuildsAgainWhenTheEngineLosesACachedImage: a build the engine
// failed because an image went during its cache lookup is built again,
// from a fresh context, and says so; a race met at every attempt fails
// after 3 builds (docker.BuildCacheRaceRetry) with the engine's words and
// leaves no clone.
func TestProduceBuildsAgainWhenTheEngineLosesACachedImage(t *testing.T) {
	f := newFixture(t)
	a := f.repo.CommitFiles(t, map[string]acctest.File{
		"Dockerfile": {Content: f.appDockerfile("A")},
		"testapp":    {Content: f.app, Executable: true},
		"files/x":    {Content: []byte("x")},
	}, "A")
	cfg := f.config()

	f.host.raced.Store(2)
	art := f.produce(t, cfg, f.workload(t), a)
	if n := f.host.builds.Load(); n != 3 || art.ImageID == "" {
		t.Fatalf("after two lost cache lookups: %d builds, image %q; want 3 builds and an image", n, art.ImageID)
	}
	if n := strings.Count(f.logs.String(), "building again: the engine lost an image"); n != 2 {
		t.Errorf("the log says %d times that it builds again, want 2:\n%s", n, f.logs.String())
	}
	if !strings.Contains(f.logs.String(), "layers_rebuilt=") || strings.Contains(f.logs.String(), "layers_rebuilt=-") {
		t.Errorf("the step count of the build that succeeded is wrong:\n%s", f.logs.String())
	}

	f.host.builds.Store(0)
	f.host.raced.Store(99)
	_, err := cfg.Produce(context.Background(), f.env(f.workload(t), a))
	if !errors.Is(err, docker.ErrBuildCacheRace) || !strings.Contains(err.Error(), `unable to find image "sha256:`) {
		t.Errorf("a race at every attempt gave %v, want ErrBuildCacheRace with the engine's words", err)
	}
	if n := f.host.builds.Load(); n != 3 {
		t.Errorf("a race at every attempt: %d builds, want 3", n)
	}
	f.host.raced.Store(0)
	f.noClonesLeft(t)
}

func TestTokenNeverInErrors(t *testing.T) {
	f := newFixture(t)
	commit := f.repo.Commit(t, map[string][]byte{"Dockerfile": f.dockerfile()}, "one")
	name := f.workload(t)
	wrong := f.config()
	wrong.Token = "tf-SENTINEL-wrong-token-1f0e2d"
	wrong.ReportCommitStatus = true
	ctx := context.Background()

	_, resolveErr := wrong.Resolve(ctx)
	_, produceErr := wrong.Produce(ctx, f.env(name, commit))
	reportErr := wrong.Report(ctx, name, commit, plugin.DeployPending, "deploying")
	for what, err := range map[string]error{"Resolve": resolveErr, "Produce": produceErr, "Report": reportErr} {
		if err == nil {
			t.Errorf("%s with a wrong token succeeded", what)
			continue
		}
		if strings.Contains(err.Error(), wrong.Token) || strings.Contains(err.Error(), f.srv.Token) {
			t.Errorf("%s error carries a token: %v", what, err)
		}
		if !strings.HasPrefix(err.Error(), "dockerfile source: ") {
			t.Errorf("%s error lacks the source's prefix: %v", what, err)
		}
	}
	if resolveErr != nil && !strings.Contains(resolveErr.Error(), "authentication failed") {
		t.Errorf("Resolve error does not say the token was refused: %v", resolveErr)
	}
	if strings.Contains(f.logs.String(), wrong.Token) {
		t.Errorf("the logs carry the token")
	}
	if f.host.builds.Load() != 0 {
		t.Errorf("a build started without a clone")
	}
	f.noClonesLeft(t)
}

func TestResolve(t *testing.T) {
	srv := acctest.StartGitServer(t)
	repo := srv.CreateRepo(t, "acme", acctest.UniqueName("app"))
	repo.Commit(t, map[string][]byte{"a": []byte("a")}, "A")
	b := repo.Commit(t, map[string][]byte{"a": []byte("b")}, "B")
	release := repo.CommitTo(t, "release", map[string]acctest.File{"r": {Content: []byte("r")}}, "R")
	cfg := &Config{Repo: gitbuild.Repo{BaseURL: srv.URL, RepoOwner: repo.Owner, RepoName: repo.Name, Token: srv.Token}, Port: 8080}
	ctx := context.Background()

	if got, err := cfg.Resolve(ctx); err != nil || got != b {
		t.Errorf("Resolve() with the default branch = %q, %v; want main's head %s", got, err, b)
	}
	cfg.Branch = "release"
	if got, err := cfg.Resolve(ctx); err != nil || got != release {
		t.Errorf("Resolve() of release = %q, %v; want %s", got, err, release)
	}
	// What names nothing in the repository is an error of the attribute
	// that names it, and says that attribute.
	cfg.Branch = "gone"
	for _, tc := range []struct{ ref, attr, want string }{
		{"", "branch", `dockerfile source: branch "gone" not found in ` + repo.CloneURL},
		{"v9", "ref", `dockerfile source: ref: tag "v9" not found in ` + repo.CloneURL},
		{b[:12], "ref", `dockerfile source: ref: tag "` + b[:12] + `" not found in ` + repo.CloneURL + `; to pin a commit, write its full 40-character SHA`},
	} {
		cfg.Ref = tc.ref
		if tc.ref != "" {
			cfg.Branch = "main"
		}
		_, err := cfg.Resolve(ctx)
		var ae *plugin.AttrError
		if !errors.As(err, &ae) || ae.Attr != tc.attr || err.Error() != tc.want {
			t.Errorf("Resolve() with branch %q, ref %q: %v (attribute %+v); want %q, of %s", cfg.Branch, tc.ref, err, ae, tc.want, tc.attr)
		}
	}
}

func TestReport(t *testing.T) {
	srv := acctest.StartGitServer(t)
	repo := srv.CreateRepo(t, "acme", acctest.UniqueName("app"))
	sha := repo.Commit(t, map[string][]byte{"a": []byte("a")}, "A")
	cfg := &Config{Repo: gitbuild.Repo{BaseURL: srv.URL, RepoOwner: repo.Owner, RepoName: repo.Name, Token: srv.Token}, Port: 8080}
	ctx := context.Background()

	// Off by default: nothing is sent.
	if err := cfg.Report(ctx, "web", sha, plugin.DeploySuccess, "deployed"); err != nil {
		t.Fatalf("Report without report_commit_status: %v", err)
	}
	if got := srv.Statuses(); len(got) != 0 {
		t.Fatalf("report_commit_status is false, yet the host received %+v", got)
	}

	cfg.ReportCommitStatus = true
	for _, s := range []plugin.DeployState{plugin.DeployPending, plugin.DeploySuccess, plugin.DeployFailure} {
		if err := cfg.Report(ctx, "web", sha, s, "deploy "+string(s)); err != nil {
			t.Fatalf("Report(%s): %v", s, err)
		}
	}
	got := srv.Statuses()
	if len(got) != 3 {
		t.Fatalf("the host received %d statuses, want 3: %+v", len(got), got)
	}
	for i, state := range []string{"pending", "success", "failure"} {
		st := got[i]
		if st.State != state || st.Context != "tinyforge/web" || st.SHA != sha || st.Project != repo.Owner+"/"+repo.Name || st.Description != "deploy "+state {
			t.Errorf("status %d = %+v, want state %s, context tinyforge/web, sha %s", i, st, state, sha)
		}
	}

	// A commit the host does not have: the host's refusal is the error.
	err := cfg.Report(ctx, "web", strings.Repeat("0", 40), plugin.DeploySuccess, "deployed")
	if err == nil || !strings.HasPrefix(err.Error(), "dockerfile source: ") || strings.Contains(err.Error(), srv.Token) {
		t.Errorf("Report on an unknown commit: %v", err)
	}
}

func TestPruneKeepsExactlyTheImagesInKeep(t *testing.T) {
	f := newFixture(t)
	a := f.repo.Commit(t, map[string][]byte{"Dockerfile": f.dockerfile("LABEL v=a")}, "A")
	b := f.repo.Commit(t, map[string][]byte{"Dockerfile": f.dockerfile("LABEL v=b")}, "B")
	c := f.repo.Commit(t, map[string][]byte{"Dockerfile": f.dockerfile("LABEL v=c")}, "C")
	name := f.workload(t)
	cfg := f.config()
	ctx := context.Background()
	artA := f.produce(t, cfg, name, a)
	artB := f.produce(t, cfg, name, b)
	artC := f.produce(t, cfg, name, c)

	// An image labelled for the workload that this source did not build
	// (none of its tags is the source's) is not the source's to remove.
	foreign := acctest.UniqueName("foreign")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"+acctest.BuildLabel(foreign)+"\nLABEL v=foreign\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	acctest.DockerBuild(t, "--tag", "tinyforge-acctest/"+foreign, "--label", "tinyforge.workload="+name,
		"--label", acctest.LabelTestRun+"="+acctest.RunID(), dir)
	t.Cleanup(func() { acctest.DockerE("rmi", "--force", "tinyforge-acctest/"+foreign) })
	// An image an earlier version of the provider built for the workload,
	// with its three labels (tinyforge.built=true, workload, commit) and
	// the source's tag: still the source's to remove.
	oldCommit := strings.Repeat("0", 40)
	olderDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(olderDir, "Dockerfile"), []byte("FROM scratch\n"+acctest.BuildLabel(foreign+"-old")+"\nLABEL v=old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	acctest.DockerBuild(t, "--tag", cfg.ImageTag(name, oldCommit), "--label", "tinyforge.built=true",
		"--label", "tinyforge.workload="+name, "--label", "tinyforge.commit="+oldCommit,
		"--label", acctest.LabelTestRun+"="+acctest.RunID(), olderDir)
	t.Cleanup(func() { acctest.DockerE("rmi", "--force", cfg.ImageTag(name, oldCommit)) })

	exists := func(id string) bool {
		_, err := acctest.DockerE("image", "inspect", id)
		return err == nil
	}
	// After C replaced B: keep C and B, A goes. IDs come in either form.
	if err := cfg.Prune(ctx, f.env(name, ""), []string{artC.ImageID, strings.TrimPrefix(artB.ImageID, "sha256:")}); err != nil {
		t.Fatalf("Prune: %v", err)
	}
	if exists(artA.ImageID) || !exists(artB.ImageID) || !exists(artC.ImageID) || !exists("tinyforge-acctest/"+foreign) || exists(cfg.ImageTag(name, oldCommit)) {
		t.Fatalf("after Prune(keep B, C): A %v B %v C %v foreign %v older version's %v; want A and the older version's gone",
			exists(artA.ImageID), exists(artB.ImageID), exists(artC.ImageID), exists("tinyforge-acctest/"+foreign), exists(cfg.ImageTag(name, oldCommit)))
	}

	// An image a container uses is never forced away: it stays, and the
	// error says which.
	ctr := acctest.UniqueName("pin")
	acctest.Docker(t, "create", "--name", ctr, "--label", acctest.LabelTestRun+"="+acctest.RunID(), artC.ImageID, "x")
	err := cfg.Prune(ctx, f.env(name, ""), nil)
	t.Logf("Prune(nil) with C in use: %v", err)
	if err == nil || !strings.Contains(err.Error(), artC.ImageID) || !strings.Contains(err.Error(), "is using") {
		t.Errorf("Prune(nil) with C in use = %v, want an error naming C in use", err)
	}
	if exists(artB.ImageID) || !exists(artC.ImageID) {
		t.Errorf("after Prune(nil) with C in use: B %v C %v; want B gone, C kept", exists(artB.ImageID), exists(artC.ImageID))
	}
	acctest.Docker(t, "rm", "--force", ctr)
	if err := cfg.Prune(ctx, f.env(name, ""), nil); err != nil {
		t.Fatalf("Prune(nil): %v", err)
	}
	if exists(artC.ImageID) || !exists("tinyforge-acctest/"+foreign) {
		t.Errorf("after Prune(nil): C %v foreign %v; want C gone, foreign kept", exists(artC.ImageID), exists("tinyforge-acctest/"+foreign))
	}
}

// TestProduceOneFileCommitReusesTheCachedLayers is push-to-live's promise:
// a commit that changes one file rebuilds only the layers from that file's
// COPY on. Each build checks out into a fresh directory (new mtimes on
// every file), so this also proves the build context is stable where the
// engine's cache looks.
func TestProduceOneFileCommitReusesTheCachedLayers(t *testing.T) {
	f := newFixture(t)
	// Three COPY steps, each a layer; ENV and ENTRYPOINT are BuildKit's
	// image configuration, not steps. a.txt is this test's own: the
	// engine's cache is shared by every test and run, and only testapp's
	// layer may come from another's.
	dockerfile := f.dockerfile("COPY testapp /testapp", "COPY files/a.txt /files/a.txt", "COPY files/b.txt /files/b.txt",
		"ENV VERSION=same", `ENTRYPOINT ["/testapp"]`)
	first := f.repo.CommitFiles(t, map[string]acctest.File{
		"Dockerfile":  {Content: dockerfile},
		"testapp":     {Content: f.app, Executable: true},
		"files/a.txt": {Content: []byte(acctest.UniqueName("a1"))},
		"files/b.txt": {Content: []byte("b1")},
	}, "first")
	name := f.workload(t)
	cfg := f.config()

	artFirst := f.produce(t, cfg, name, first)
	if got := f.logs.String(); !strings.Contains(got, "layers_rebuilt=2 layers_cached=1") && !strings.Contains(got, "layers_rebuilt=3 layers_cached=0") {
		t.Fatalf("the first build should rebuild a.txt's and b.txt's layers at least; logs:\n%s", got)
	}
	seen := len(f.logs.String())

	second := f.repo.CommitFiles(t, map[string]acctest.File{"files/b.txt": {Content: []byte("b2")}}, "one file")
	artSecond := f.produce(t, cfg, name, second)
	logs := f.logs.String()[seen:]
	// Reused: COPY testapp, COPY files/a.txt. Rebuilt: COPY files/b.txt.
	if !strings.Contains(logs, "layers_rebuilt=1 layers_cached=2") {
		t.Errorf("the one-file commit should rebuild 1 layer and reuse 2; logs:\n%s", logs)
	}
	if !strings.Contains(f.logs.String()[:seen], "(head only)") {
		t.Errorf("the first clone of the branch head should be shallow (depth 1); logs:\n%s", f.logs.String()[:seen])
	}
	// The second deploy fetches the new commit into the workload's cached
	// repository: no clone.
	if !strings.Contains(logs, "into the cached repository") || strings.Contains(logs, "clone: cloning") {
		t.Errorf("the one-file commit should be fetched into the cached repository, not cloned; logs:\n%s", logs)
	}
	if f.host.builds.Load() != 2 || artSecond.ImageID == artFirst.ImageID {
		t.Fatalf("Produce(second) = %+v after %d builds, want a second image", artSecond, f.host.builds.Load())
	}

	// The engine's own word: the filesystem layers up to files/a.txt are
	// the very same, files/b.txt's is new.
	layers := func(id string) []string {
		var l []string
		out := acctest.Docker(t, "image", "inspect", "--format", "{{json .RootFS.Layers}}", id)
		if err := json.Unmarshal([]byte(out), &l); err != nil {
			t.Fatalf("layers of %s: %v", id, err)
		}
		return l
	}
	l1, l2 := layers(artFirst.ImageID), layers(artSecond.ImageID)
	if len(l1) != 3 || len(l2) != 3 || l1[0] != l2[0] || l1[1] != l2[1] || l1[2] == l2[2] {
		t.Errorf("filesystem layers: first %v, second %v; want testapp's and a.txt's shared, b.txt's new", l1, l2)
	}
	url := run(t, artSecond.ImageID)
	if code, body := get(url + "/file?path=/files/b.txt"); code != 200 || body != "b2" {
		t.Errorf("GET b.txt of the second image = %d %q, want the new content b2", code, body)
	}
	f.noClonesLeft(t)
}
