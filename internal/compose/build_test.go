package compose

import (
	"context"
	"log/slog"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// TestBuildKitCacheMountSurvivesUpsAndGoesWithDown: a `build:` service is
// built by the Runtime's builder (BuildKit), whose cache mount keeps what
// one Up's build left for the next Up's build of the project's namespace;
// Down removes the namespace's cache with the builds. The build counts the
// cache's entries: counted, not timed.
func TestBuildKitCacheMountSurvivesUpsAndGoesWithDown(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t)
	ctx := testContext(t)
	dir, project := t.TempDir(), acctest.UniqueName("tfcompose-kit")
	copyFile(t, acctest.TestImages(t).Binary, filepath.Join(dir, "app", "testapp"))
	copyFile(t, acctest.BusyboxBinary, filepath.Join(dir, "app", "busybox"))
	writeFiles(t, dir, map[string]string{
		"compose.yaml": "services:\n  app:\n    build:\n      context: ./app\n      target: app\n",
		"app/Dockerfile": "FROM scratch AS app\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n" +
			"ENV PATH=/bin\nCOPY testapp /testapp\nCOPY stamp /stamp\n" +
			"RUN --mount=type=cache,target=/var/cache/app sh -c 'echo entries=$(ls /var/cache/app | wc -l); cp /stamp /var/cache/app/$(cat /stamp)'\n" +
			"ENTRYPOINT [\"/testapp\"]\n" +
			"FROM app AS never\nRUN exit 1\n",
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := rt.Down(ctx, project, true, nil); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	namespace := acctest.UniqueName("ns")
	entries := regexp.MustCompile(`build: #\d+ entries=(\d+)`)
	up := func(stamp string) string {
		t.Helper()
		writeFiles(t, dir, map[string]string{"app/stamp": stamp})
		p, err := Load(ctx, LoadSpec{Dir: dir, ProjectName: project, Commit: stamp})
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		var logs acctest.LockedBuffer
		err = rt.Up(ctx, p, UpOptions{
			Labels:         map[string]string{acctest.LabelTestRun: acctest.RunID()},
			Timeout:        2 * time.Minute,
			Log:            slog.New(slog.NewTextHandler(&logs, nil)),
			CacheNamespace: namespace,
		})
		if err != nil {
			t.Fatalf("Up %s: %v\n%s", stamp, err, logs.String())
		}
		m := entries.FindStringSubmatch(logs.String())
		if m == nil {
			t.Fatalf("Up %s built nothing with the cache mount:\n%s", stamp, logs.String())
		}
		return m[1]
	}
	if n := up("a"); n != "0" {
		t.Fatalf("the first build found %s entries in a new namespace's cache, want 0", n)
	}
	if n := up("b"); n != "1" {
		t.Fatalf("the second Up's build found %s entries, want the first build's 1", n)
	}
	if err := rt.Down(ctx, project, false, nil); err != nil {
		t.Fatalf("Down: %v", err)
	}
	if left := acctest.Docker(t, "image", "ls", "--quiet", "--filter", "label=com.docker.compose.project="+project); left != "" {
		t.Errorf("Down left the project's builds: %s", left)
	}
	if n := up("c"); n != "0" {
		t.Fatalf("after Down the namespace's cache held %s entries, want 0: Down did not remove it", n)
	}

}
