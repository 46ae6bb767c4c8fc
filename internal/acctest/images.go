package acctest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sync/errgroup"
)

// modulePath is this repository's module; the builds below refuse any other
// go.mod they might find, so a test run from a foreign working directory
// fails clearly instead of building the wrong code.
const modulePath = "github.com/tinyforge/terraform-provider-tinyforge"

// TestAppPackage is the import path of the test app, for tests that build it
// themselves (for example into a Git repo next to a Dockerfile).
const TestAppPackage = modulePath + "/internal/acctest/testapp"

// Images are the test app images of this test process, all FROM scratch,
// exposing 8080, labelled LabelTestRun=RunID(). Each is a full reference
// (tinyforge-acctest/testapp:<run id>-<variant>) that exists only on the
// local engine: never push or pull them.
type Images struct {
	V1, V2, V3 string // VERSION=v1, v2, v3: healthy, distinguishable by GET /
	FailHealth string // VERSION=v1, HEALTH=fail: /healthz answers 500
	Slow       string // VERSION=v1, START_DELAY=3s: listens 3 s after start
	Crash      string // VERSION=v1, EXIT_AFTER=1s: exits with code 3 after 1 s

	// Binary is the static linux testapp the images were built from, for
	// tests that need the app outside an image (a Dockerfile in a Git repo).
	// It lives until RemoveTestImages; copy it, do not modify it.
	Binary string
}

// imageVariant is one image: its tag suffix and the ENV lines that make it.
type imageVariant struct {
	suffix string
	env    []string
	field  func(*Images) *string
}

var imageVariants = []imageVariant{
	{"v1", []string{"VERSION=v1"}, func(i *Images) *string { return &i.V1 }},
	{"v2", []string{"VERSION=v2"}, func(i *Images) *string { return &i.V2 }},
	{"v3", []string{"VERSION=v3"}, func(i *Images) *string { return &i.V3 }},
	{"failhealth", []string{"VERSION=v1", "HEALTH=fail"}, func(i *Images) *string { return &i.FailHealth }},
	{"slow", []string{"VERSION=v1", "START_DELAY=3s"}, func(i *Images) *string { return &i.Slow }},
	{"crash", []string{"VERSION=v1", "EXIT_AFTER=1s"}, func(i *Images) *string { return &i.Crash }},
}

// TestImageRef is the reference of one test image variant of this process.
func TestImageRef(variant string) string {
	return "tinyforge-acctest/testapp:" + RunID() + "-" + variant
}

var (
	testImagesOnce sync.Once
	testImages     Images
	testImagesErr  error

	// scratchDirs are the process-wide temp dirs (binaries, build contexts)
	// that outlive any one test; RemoveTestImages and RunAndCleanUp delete
	// them.
	scratchMu   sync.Mutex
	scratchDirs []string
)

// TestImages builds the test images once per test process and returns them;
// the test fails when they cannot be built. Later calls cost nothing.
func TestImages(t testing.TB) Images {
	t.Helper()
	RequireDocker(t)
	testImagesOnce.Do(func() {
		testImages, testImagesErr = BuildTestImages(context.Background())
	})
	if testImagesErr != nil {
		t.Fatalf("build the test images: %v", testImagesErr)
	}
	return testImages
}

// BuildTestImages compiles the test app (static, CGO_ENABLED=0) and builds
// every image variant with the docker CLI. It is the non-test entry point
// (the benchmark program); tests use TestImages. Call RemoveTestImages when
// done.
func BuildTestImages(ctx context.Context) (Images, error) {
	dir, err := scratchDir("images")
	if err != nil {
		return Images{}, err
	}
	binary := filepath.Join(dir, "testapp")
	// GOOS=linux: the binary runs on the Docker host, not necessarily here.
	if err := goBuild(ctx, binary, TestAppPackage, "CGO_ENABLED=0", "GOOS=linux"); err != nil {
		return Images{}, err
	}

	imgs := Images{Binary: binary}
	// Two builds at a time: the engine does the work, and it is shared with
	// every other test; the variants differ only in metadata layers, so
	// more parallelism buys little.
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	for _, v := range imageVariants {
		ref := TestImageRef(v.suffix)
		*v.field(&imgs) = ref
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return buildImage(dir, ref, v.env)
		})
	}
	if err := g.Wait(); err != nil {
		return Images{}, err
	}
	return imgs, nil
}

// testImagesOwner owns the test images (see BuildLabel): they are built
// once and removed only when the process ends; BuildLabel's run ID keeps
// them this process's.
const testImagesOwner = "test-images"

// buildImage builds one variant from the binary in dir, without the build
// cache (DockerBuildE). BuildLabel comes first, the rule of every test
// build.
func buildImage(dir, ref string, env []string) error {
	dockerfile := fmt.Sprintf(`FROM scratch
%s
COPY testapp /testapp
EXPOSE 8080
ENV %s
ENTRYPOINT ["/testapp"]
`, BuildLabel(testImagesOwner), strings.Join(env, " "))
	name := "Dockerfile." + strings.ReplaceAll(ref[strings.LastIndex(ref, ":")+1:], "/", "_")
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(dockerfile), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := DockerBuildE("--tag", ref, "--file", path, dir); err != nil {
		return fmt.Errorf("build image %s: %w", ref, err)
	}
	return nil
}

// LabelTestBuild names, on the first layer of every image a test builds,
// who removes that image; see BuildLabel.
const LabelTestBuild = "tinyforge.test-build"

// BuildLabel is the instruction every Dockerfile that a test builds has
// right after FROM: LABEL LabelTestRun=RunID() LabelTestBuild=owner.
//
// The rule it keeps: the classic builder stores the result of each
// instruction as an intermediate image and reuses it as cache for any later
// build, in any process, with the same parent and the same instruction (and,
// for COPY, the same content: the test app binary is the same in every test
// process). Removing an image removes its untagged parents that have no
// other child, so a test that removes its image while another build has
// just taken one of those parents as cache makes that build fail with
// "failed to set parent sha256:...: unknown parent image ID". With this
// first instruction, every layer chain belongs to one owner, and only that
// owner removes it. owner is
//   - unique per build (UniqueName, or UniqueBuildLabel) when a test removes
//     the image it built;
//   - one per cleanup owner (a test's workload, whose images the code under
//     test prunes one build after another) when builds of that owner never
//     overlap its removals;
//   - one per process for images that are removed only when the process
//     ends (the test images): the run ID in the label keeps every other
//     process off them.
//
// The run ID also labels the intermediate images a failed build leaves
// behind, so that RemoveRunObjects sweeps them. The rule matters for the
// builds that use the cache: the provider's. What tests build with the
// docker CLI is built without it (DockerBuildE).
func BuildLabel(owner string) string {
	return fmt.Sprintf("LABEL %s=%q %s=%q", LabelTestRun, RunID(), LabelTestBuild, owner)
}

// UniqueBuildLabel is BuildLabel of an owner of its own, and removes every
// image that carries it when the test ends: the image built, and the
// intermediate images a failed build leaves behind.
func UniqueBuildLabel(t testing.TB) string {
	t.Helper()
	owner := UniqueName("build")
	t.Cleanup(func() {
		out, err := DockerE("image", "ls", "--quiet", "--filter", "label="+LabelTestBuild+"="+owner)
		if ids := uniqueFields(out); err == nil && len(ids) > 0 {
			_, _ = DockerE(append([]string{"rmi", "--force"}, ids...)...)
		}
	})
	return BuildLabel(owner)
}

// RemoveTestImages removes the test images and the static base images of
// this process and the process-wide temp dirs (the testapp binary, provider
// binaries). It is for TestMain and the benchmark; tests never call it.
// Errors are returned, not fatal: it runs when there is nobody left to
// fail.
func RemoveTestImages() error {
	var errs []error
	// Only the refs that exist: rmi fails on a missing one, and a run that
	// never built images (or failed half way) has fewer than all.
	for _, built := range []func() ([]string, error){builtTestImageRefs, builtStaticImageRefs} {
		if refs, err := built(); err != nil {
			errs = append(errs, err)
		} else if len(refs) > 0 {
			if _, err := DockerE(append([]string{"rmi", "--force"}, refs...)...); err != nil {
				errs = append(errs, err)
			}
		}
	}
	errs = append(errs, removeScratchDirs())
	return errors.Join(errs...)
}

// builtTestImageRefs lists the test image references of this process that
// exist on the engine.
func builtTestImageRefs() ([]string, error) {
	out, err := DockerE("image", "ls", "--format", "{{.Repository}}:{{.Tag}}",
		"--filter", "reference="+TestImageRef("*"))
	return strings.Fields(out), err
}

// builtStaticImageRefs lists the static base image references of this
// process that exist on the engine.
func builtStaticImageRefs() ([]string, error) {
	args := []string{"image", "ls", "--format", "{{.Repository}}:{{.Tag}}"}
	for _, name := range staticImageNames {
		args = append(args, "--filter", "reference="+StaticImageRef(name))
	}
	out, err := DockerE(args...)
	return strings.Fields(out), err
}

// TestApp is a running test app container, published on 127.0.0.1.
type TestApp struct {
	Name string // container name
	URL  string // http://127.0.0.1:<published port>, no trailing slash
}

// StartTestApp runs image (one of Images) detached under a unique name with
// the label LabelTestRun, its port 8080 published on a free 127.0.0.1 port,
// and removes it when the test ends. runArgs go to docker run before the
// image (for example "--env", "K=V"). It does not wait for the app to
// listen: the slow and crash images would not, so the caller decides.
func StartTestApp(t testing.TB, image string, runArgs ...string) TestApp {
	t.Helper()
	name := UniqueName("testapp")
	// A port chosen here, not an ephemeral one read back with docker port:
	// the crash image may be gone before it could be asked.
	port := FreePort(t)
	args := append([]string{"run", "--detach", "--name", name,
		"--label", LabelTestRun + "=" + RunID(),
		"--publish", fmt.Sprintf("127.0.0.1:%d:8080", port)}, runArgs...)
	t.Cleanup(func() { DockerE("container", "rm", "--force", "--volumes", name) })
	Docker(t, append(args, image)...)
	return TestApp{Name: name, URL: fmt.Sprintf("http://127.0.0.1:%d", port)}
}

// RunAndCleanUp runs the tests, then removes everything this process left on
// the Docker engine: containers, networks, volumes and images labelled
// LabelTestRun=RunID(), the test images, and the process-wide temp dirs;
// and the test hosts (StartHosts) still there, with their engines. It
// is a last resort (each test cleans up after itself with t.Cleanup), so it
// reports what it had to remove on stderr: a container, network or volume
// named there is a test that leaks. It does not fail the run for it: objects
// the provider creates carry no test label, and other tests check for those. Use it as
//
//	func TestMain(m *testing.M) { os.Exit(acctest.RunAndCleanUp(m)) }
func RunAndCleanUp(m *testing.M) int {
	code := m.Run()
	hostsLeaked, err := RemoveHostLeftovers(RunID())
	if len(hostsLeaked) > 0 {
		fmt.Fprintf(os.Stderr, "acctest: last-resort cleanup removed test hosts that tests of run %s leaked: %s\n",
			RunID(), strings.Join(hostsLeaked, ", "))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "acctest: last-resort cleanup of test hosts: %v\n", err)
	}
	leaked, err := RemoveRunObjects(RunID())
	if len(leaked) > 0 {
		fmt.Fprintf(os.Stderr, "acctest: last-resort cleanup removed what tests of run %s leaked: %s\n",
			RunID(), strings.Join(leaked, ", "))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "acctest: last-resort cleanup: %v\n", err)
	}
	if err := RemoveTestImages(); err != nil {
		fmt.Fprintf(os.Stderr, "acctest: remove test images: %v\n", err)
	}
	return code
}

// RemoveRunObjects removes every container, network, volume and image
// labelled LabelTestRun=runID, in that order (a container pins its network,
// volumes and image). It returns what it removed other than images, as
// "container <id>", "network <id>", "volume <name>": anything there is a
// test that leaked. Pass RunID(); other values are for testing it.
func RemoveRunObjects(runID string) (leaked []string, err error) {
	filter := "label=" + LabelTestRun + "=" + runID
	var errs []error
	for _, kind := range []struct {
		name         string
		list, remove []string
	}{
		{"container", []string{"container", "ls", "--all", "--quiet", "--filter", filter}, []string{"container", "rm", "--force", "--volumes"}},
		{"network", []string{"network", "ls", "--quiet", "--filter", filter}, []string{"network", "rm"}},
		{"volume", []string{"volume", "ls", "--quiet", "--filter", filter}, []string{"volume", "rm", "--force"}},
		{"image", []string{"image", "ls", "--quiet", "--filter", filter}, []string{"rmi", "--force"}},
	} {
		out, err := DockerE(kind.list...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ids := uniqueFields(out)
		if len(ids) == 0 {
			continue
		}
		if kind.name != "image" {
			for _, id := range ids {
				leaked = append(leaked, kind.name+" "+id)
			}
		}
		if _, err := DockerE(append(kind.remove, ids...)...); err != nil {
			errs = append(errs, err)
		}
	}
	return leaked, errors.Join(errs...)
}

// uniqueFields splits CLI output into IDs; image ls repeats an ID once per
// tag.
func uniqueFields(out string) []string {
	seen := map[string]bool{}
	var ids []string
	for _, id := range strings.Fields(out) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids
}

// scratchDir makes a process-wide temp dir that RemoveTestImages deletes.
// It is not t.TempDir: what it holds is shared by every test of the process
// and must outlive the test that happened to build it.
func scratchDir(purpose string) (string, error) {
	dir, err := os.MkdirTemp("", "tinyforge-acctest-"+RunID()+"-"+purpose+"-")
	if err != nil {
		return "", fmt.Errorf("make a temp dir for %s: %w", purpose, err)
	}
	scratchMu.Lock()
	scratchDirs = append(scratchDirs, dir)
	scratchMu.Unlock()
	return dir, nil
}

func removeScratchDirs() error {
	scratchMu.Lock()
	dirs := scratchDirs
	scratchDirs = nil
	scratchMu.Unlock()
	var errs []error
	for _, dir := range dirs {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ModuleRoot is the directory of this repository's go.mod: where go builds
// of the provider and the test app run.
var ModuleRoot = sync.OnceValues(findModuleRoot)

// findModuleRoot asks the go command first (tests run inside the module),
// then falls back to this source file's location (a benchmark program run
// from elsewhere, built without -trimpath).
func findModuleRoot() (string, error) {
	if out, err := exec.Command("go", "env", "GOMOD").Output(); err == nil {
		gomod := strings.TrimSpace(string(out))
		if gomod != "" && gomod != os.DevNull && declaresModule(gomod) {
			return filepath.Dir(gomod), nil
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		for dir := filepath.Dir(file); ; dir = filepath.Dir(dir) {
			if gomod := filepath.Join(dir, "go.mod"); declaresModule(gomod) {
				return dir, nil
			}
			if parent := filepath.Dir(dir); parent == dir {
				break
			}
		}
	}
	return "", fmt.Errorf("find the root of module %s: run from inside the repository", modulePath)
}

// declaresModule reports whether gomod is this repository's go.mod.
func declaresModule(gomod string) bool {
	f, err := os.Open(gomod)
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fields := strings.Fields(s.Text()); len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == modulePath
		}
	}
	return false
}

// goBuild compiles pkg (an import path in this module, or "." for the
// module root) into out, with env added to the go command's environment.
// -trimpath keeps the binary the same wherever the repository lives.
func goBuild(ctx context.Context, out, pkg string, env ...string) error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %v: %s", pkg, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// HealthcheckPackage is the import path of a tiny static HTTP health check
// command (GET its one argument, exit 0 on 2xx): a compose healthcheck for
// images FROM scratch, which have no shell and no curl.
const HealthcheckPackage = modulePath + "/internal/acctest/healthcheck"

var healthcheckBinary = sync.OnceValues(func() (string, error) {
	dir, err := scratchDir("healthcheck")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "healthcheck")
	if err := goBuild(context.Background(), out, HealthcheckPackage, "CGO_ENABLED=0", "GOOS=linux"); err != nil {
		return "", err
	}
	return out, nil
})

// HealthcheckBinaryE is HealthcheckBinary for a caller without a test
// (make bench).
func HealthcheckBinaryE() (string, error) { return healthcheckBinary() }

// HealthcheckBinary builds the health check command once per process and
// returns its path (removed with the test images); the test fails when it
// does not build.
func HealthcheckBinary(t testing.TB) string {
	t.Helper()
	bin, err := healthcheckBinary()
	if err != nil {
		t.Fatalf("build the health check command: %v", err)
	}
	return bin
}
