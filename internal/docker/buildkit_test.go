package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// busyboxSteps start a Dockerfile with a shell: Debian's static busybox
// (in the context as "busybox") with its applets, FROM scratch.
const busyboxSteps = "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nENV PATH=/bin\n"

// kitBuild builds files (the busybox binary added) under a unique tag,
// removed when the test ends, and returns the result and the output lines.
// The Dockerfile's steps after busyboxSteps are this test's: an ENV of the
// test's own keys their cache (the engine's cache is shared by every run).
func kitBuild(t *testing.T, c *Client, spec BuildSpec, files map[string][]byte) (BuildResult, []string, error) {
	t.Helper()
	return buildFiles(t, c.BuildImage, spec, files)
}

// buildFiles is kitBuild with the builder given.
func buildFiles(t *testing.T, build func(context.Context, BuildSpec, Progress) (BuildResult, error), spec BuildSpec, files map[string][]byte) (BuildResult, []string, error) {
	t.Helper()
	files["Dockerfile"] = []byte(strings.Replace(string(files["Dockerfile"]), busyboxSteps, busyboxSteps+"ENV TEST_BUILD="+acctest.UniqueName(t.Name())+"\n", 1))
	files["busybox"] = acctest.Busybox(t)
	spec.Context = filesContext(files)
	ref := acctest.UniqueName("tinyforge-docker-kit") + ":test"
	t.Cleanup(func() { _, _ = acctest.DockerE("rmi", "-f", ref) })
	spec.Tags = []string{ref}
	spec.Labels = map[string]string{acctest.LabelTestRun: acctest.RunID()}
	var lines []string
	res, err := build(testContext(t), spec, func(l string) { lines = append(lines, l) })
	return res, lines, err
}

// outputValue is the value a build step printed as "key=value".
func outputValue(t *testing.T, lines []string, key string) string {
	t.Helper()
	re := regexp.MustCompile(`^#\d+ ` + regexp.QuoteMeta(key) + `=(\S*)$`)
	for _, l := range lines {
		if m := re.FindStringSubmatch(l); m != nil {
			return m[1]
		}
	}
	t.Fatalf("the build printed no %s=: %q", key, lines)
	return ""
}

// TestBuildKitCacheMountsPersistPerNamespace: what a cache mount holds
// after one build is there in the next build of its namespace, not in
// another namespace's; RemoveCacheMounts empties one namespace and leaves
// the other. The step counts the cache's entries: counted, not timed. The
// stamps are all one byte long: a file of the context that changes but
// keeps its size is sent again.
func TestBuildKitCacheMountsPersistPerNamespace(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	dockerfile := busyboxSteps + "COPY stamp /stamp\n" +
		"RUN --mount=type=cache,target=/var/cache/app sh -c 'echo entries=$(ls /var/cache/app | wc -l); cp /stamp /var/cache/app/$(cat /stamp)'\n"
	mine, other := acctest.UniqueName("ns-mine"), acctest.UniqueName("ns-other")
	built := map[string]string{} // the image of each namespace's last build
	entries := func(ns, stamp string) int {
		t.Helper()
		res, lines, err := kitBuild(t, c, BuildSpec{CacheNamespace: ns}, map[string][]byte{"Dockerfile": []byte(dockerfile), "stamp": []byte(stamp)})
		if err != nil {
			t.Fatalf("build in %s: %v", ns, err)
		}
		built[ns] = res.ImageID
		n, err := strconv.Atoi(outputValue(t, lines, "entries"))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := entries(mine, "a"); n != 0 {
		t.Fatalf("a new namespace's cache holds %d entries, want 0", n)
	}
	if n := entries(mine, "b"); n != 1 {
		t.Fatalf("the second build of a namespace found %d entries in its cache mount, want the first build's 1", n)
	}
	if n := entries(other, "c"); n != 0 {
		t.Fatalf("another namespace's build found %d entries, want 0: cache mounts leak between namespaces", n)
	}
	// The image records its namespace's cache mounts; removing them
	// removes that namespace's only.
	img, err := c.InspectImage(testContext(t), built[mine])
	if err != nil {
		t.Fatal(err)
	}
	if ids := CacheMountsOf([]Image{img}, mine); !slices.Equal(ids, []string{"/var/cache/app"}) || CacheMountsOf([]Image{img}, other) != nil {
		t.Fatalf("the image records cache mounts %q of its namespace (label %q), want the target alone", ids, img.Labels[LabelBuildCache])
	}
	if err := c.RemoveBuildCache(testContext(t), []Image{img}); err != nil {
		t.Fatalf("RemoveBuildCache: %v", err)
	}
	if n := entries(mine, "d"); n != 0 {
		t.Fatalf("after RemoveCacheMounts the namespace's cache holds %d entries, want 0", n)
	}
	if n := entries(other, "e"); n != 1 {
		t.Fatalf("RemoveCacheMounts of one namespace emptied another's cache (%d entries, want 1)", n)
	}
}

// TestBuildKitSecretMountLeavesNoTrace: a secret is readable in the step
// that mounts it and nowhere else: not in the output, the image's history
// or its configuration.
func TestBuildKitSecretMountLeavesNoTrace(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	canary := "canary-" + acctest.UniqueName("s")
	dockerfile := busyboxSteps +
		"RUN --mount=type=secret,id=token sh -c 'sha256sum /run/secrets/token | cut -d\" \" -f1 > /token.sha; echo bytes=$(wc -c < /run/secrets/token)'\n" +
		"CMD [\"cat\", \"/token.sha\"]\n"
	res, lines, err := kitBuild(t, c, BuildSpec{Secrets: map[string][]byte{"token": []byte(canary)}}, map[string][]byte{"Dockerfile": []byte(dockerfile)})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	if got := outputValue(t, lines, "bytes"); got != strconv.Itoa(len(canary)) {
		t.Fatalf("the step read %s bytes of the secret, want %d", got, len(canary))
	}
	sum := sha256.Sum256([]byte(canary))
	if got := acctest.Docker(t, "run", "--rm", "--label", acctest.LabelTestRun+"="+acctest.RunID(), res.ImageID); got != hex.EncodeToString(sum[:]) {
		t.Fatalf("the image's /token.sha is %q, want the secret's sha256: the step did not read it", got)
	}
	for what, text := range map[string]string{
		"output":  strings.Join(lines, "\n"),
		"history": acctest.Docker(t, "history", "--no-trunc", res.ImageID),
		"config":  acctest.Docker(t, "image", "inspect", res.ImageID),
	} {
		if strings.Contains(text, canary) {
			t.Errorf("the secret is in the image's %s", what)
		}
	}
}

// TestBuildKitBuildsTheTargetStage: target builds the stage named and what
// it needs, and no stage after it.
func TestBuildKitBuildsTheTargetStage(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	dockerfile := "FROM scratch AS base\nCOPY busybox /bin/busybox\n" +
		"FROM base AS test\nARG RUN_ID\nLABEL stage=test\nRUN [\"/bin/busybox\", \"echo\", \"ran=test\"]\n" +
		"FROM base AS prod\nARG RUN_ID\nLABEL stage=prod\nRUN [\"/bin/busybox\", \"echo\", \"ran=prod\"]\n"
	spec := BuildSpec{Target: "test", BuildArgs: map[string]string{"RUN_ID": acctest.UniqueName("target")}}
	res, lines, err := kitBuild(t, c, spec, map[string][]byte{"Dockerfile": []byte(dockerfile)})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	if got := acctest.Docker(t, "image", "inspect", "--format", "{{index .Config.Labels \"stage\"}}", res.ImageID); got != "test" {
		t.Errorf("the image's stage label is %q, want test", got)
	}
	if outputValue(t, lines, "ran") != "test" || slices.ContainsFunc(lines, func(l string) bool { return strings.HasSuffix(l, " ran=prod") }) {
		t.Errorf("the build ran another stage than test: %q", lines)
	}
}

// TestBuildFailureHasNoTerminalCodes: a step that colours its error output
// fails the build with the words, not the codes, in the error and the
// progress, and the last lines of the output. Both builders: the classic
// one wraps a step's standard error in red itself ("\x1b[91m...\x1b[0m",
// which a diagnostic showed as "[91merror: ...[0m" even with -no-color).
func TestBuildFailureHasNoTerminalCodes(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	dockerfile := busyboxSteps + "RUN printf '\\033[91merror: the tests failed\\033[0m\\n' >&2; exit 3\n"
	for _, b := range []struct {
		name  string
		build func(ctx context.Context, spec BuildSpec, progress Progress) (BuildResult, error)
		// stepLine is the step's output line as progress gets it.
		stepLine *regexp.Regexp
	}{
		{"buildkit", c.BuildImage, regexp.MustCompile(`^#\d+ error: the tests failed$`)},
		{"classic", func(ctx context.Context, spec BuildSpec, progress Progress) (BuildResult, error) {
			// Without the cache: the classic builder's cache lookup fails
			// when another test removes an image meanwhile
			// (ErrBuildCacheRace).
			spec.noCache = true
			out := &buildOutput{progress: progress}
			_, err := c.buildClassic(ctx, spec, out)
			return BuildResult{}, out.failed(spec.Tags[0], err)
		}, regexp.MustCompile(`^error: the tests failed$`)},
	} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			_, lines, err := buildFiles(t, b.build, BuildSpec{}, map[string][]byte{"Dockerfile": []byte(dockerfile)})
			if err == nil {
				t.Fatal("a failing step did not fail the build")
			}
			msg := err.Error()
			t.Logf("build error: %s", msg)
			if !strings.Contains(msg, "error: the tests failed") || !strings.Contains(msg, "last build output:") {
				t.Errorf("the error lacks the step's output:\n%s", msg)
			}
			// The step's own line is the words alone ("[91m" stays in the
			// Dockerfile's command, which the output quotes).
			if !slices.ContainsFunc(lines, b.stepLine.MatchString) {
				t.Errorf("the step's output is not its words alone: %q", lines)
			}
			for _, text := range append(lines, msg) {
				if strings.ContainsAny(text, "\x1b\r") {
					t.Errorf("terminal codes are left in %q", text)
				}
			}
		})
	}
}

func TestStripTerminalCodes(t *testing.T) {
	for in, want := range map[string]string{
		"\x1b[91merror: x\x1b[0m":          "error: x",
		"plain\ttext":                      "plain\ttext",
		"a\x1b[2K\rb\x1b]0;title\x07c":     "abc",
		"line 1\r\n\x1b[1;32mline 2\x1b[m": "line 1\nline 2",
	} {
		if got := StripTerminalCodes(in); got != want {
			t.Errorf("StripTerminalCodes(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCacheMountIDsExpandsAndDedups(t *testing.T) {
	df := "FROM scratch AS a\nARG DIR\nRUN --mount=type=cache,id=deps,target=/x --mount=type=cache,target=/y/../z/ true\n" +
		"FROM a\nRUN --mount=type=cache,target=$DIR --mount=type=secret,id=s --mount=type=cache,id=deps,target=/q true\n"
	got := CacheMountIDs([]byte(df), map[string]string{"DIR": "/go/cache"})
	if want := []string{"/go/cache", "/z", "deps"}; !slices.Equal(got, want) {
		t.Errorf("CacheMountIDs = %q, want %q", got, want)
	}
	if got := CacheMountIDs([]byte("RUN --mount=type=cache,target=/x true\n"), nil); got != nil {
		t.Errorf("a Dockerfile without FROM gave %q, want none", got)
	}
}
