package acctest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sync/errgroup"
)

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
