package acctest

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMain sweeps whatever the package's own tests leave behind, and the
// test images; the sweep also proves RunAndCleanUp on every run.
func TestMain(m *testing.M) { os.Exit(RunAndCleanUp(m)) }

// getBody GETs url and returns status and body, or err for a transport error.
func getBody(url string) (int, string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// waitBody polls url until it answers want with 200, failing the test
// after 20 s with the last answer seen.
func waitBody(t *testing.T, url, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body, err := getBody(url)
		if err == nil && code == http.StatusOK && body == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s never answered 200 %q; last: %d %q %v", url, want, code, body, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestTestImagesAreLabelledAndBuiltOnce(t *testing.T) {
	t.Parallel()
	imgs := TestImages(t)
	if again := TestImages(t); again != imgs {
		t.Fatalf("second TestImages = %+v, want the first %+v (built once per process)", again, imgs)
	}

	refs := []string{imgs.V1, imgs.V2, imgs.V3, imgs.FailHealth, imgs.Slow, imgs.Crash}
	for _, ref := range refs {
		if label := Docker(t, "image", "inspect", "--format", `{{index .Config.Labels "`+LabelTestRun+`"}}`, ref); label != RunID() {
			t.Errorf("image %s: label %s = %q, want %q", ref, LabelTestRun, label, RunID())
		}
		if ports := Docker(t, "image", "inspect", "--format", "{{json .Config.ExposedPorts}}", ref); ports != `{"8080/tcp":{}}` {
			t.Errorf("image %s: exposed ports = %s, want 8080/tcp only", ref, ports)
		}
	}
	// RemoveTestImages finds the images to remove with this filter; if it
	// missed one, every run would leak it. The httpget image is one too,
	// built here since a parallel test of this process may build it.
	refs = append(refs, HTTPGetImage(t))
	built, err := builtTestImageRefs()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(built)
	slices.Sort(refs)
	if !slices.Equal(built, refs) {
		t.Fatalf("builtTestImageRefs = %v, want %v", built, refs)
	}

	info, err := os.Stat(imgs.Binary)
	if err != nil || info.Mode().Perm()&0o111 == 0 {
		t.Fatalf("Images.Binary %s: %v, mode %v; want an executable file", imgs.Binary, err, info.Mode())
	}
}

func TestTestImagesBehaveAsNamed(t *testing.T) {
	t.Parallel()
	imgs := TestImages(t)

	for _, tc := range []struct{ image, version string }{
		{imgs.V1, "v1\n"}, {imgs.V2, "v2\n"}, {imgs.V3, "v3\n"},
	} {
		t.Run(tc.version[:2], func(t *testing.T) {
			t.Parallel()
			app := StartTestApp(t, tc.image, "--env", "GREETING=hi")
			waitBody(t, app.URL+"/", tc.version)
			if code, body, err := getBody(app.URL + "/env/GREETING"); err != nil || code != 200 || body != "hi" {
				t.Fatalf("GET /env/GREETING = %d %q %v, want 200 %q", code, body, err, "hi")
			}
			if code, body, _ := getBody(app.URL + "/healthz"); code != 200 || body != "ok\n" {
				t.Fatalf("GET /healthz = %d %q, want 200 ok", code, body)
			}
			if logs := Docker(t, "logs", app.Name); !strings.Contains(logs, "testapp "+tc.version[:2]+" listening on :8080") {
				t.Fatalf("logs = %q, want the listening line", logs)
			}
		})
	}

	t.Run("failhealth", func(t *testing.T) {
		t.Parallel()
		app := StartTestApp(t, imgs.FailHealth)
		waitBody(t, app.URL+"/", "v1\n")
		if code, body, _ := getBody(app.URL + "/healthz"); code != 500 || body != "unhealthy\n" {
			t.Fatalf("GET /healthz = %d %q, want 500 unhealthy", code, body)
		}
	})

	t.Run("slow", func(t *testing.T) {
		t.Parallel()
		app := StartTestApp(t, imgs.Slow)
		// Not "is not listening yet": that would be a timing claim. The
		// delay is configured, and the app does come up.
		if env := Docker(t, "inspect", "--format", "{{json .Config.Env}}", app.Name); !strings.Contains(env, `"START_DELAY=3s"`) {
			t.Fatalf("env = %s, want START_DELAY=3s", env)
		}
		waitBody(t, app.URL+"/", "v1\n")
	})

	t.Run("crash", func(t *testing.T) {
		t.Parallel()
		app := StartTestApp(t, imgs.Crash)
		if code := Docker(t, "wait", app.Name); code != "3" {
			t.Fatalf("crash image exit code = %s, want 3", code)
		}
	})

	t.Run("sigterm", func(t *testing.T) {
		t.Parallel()
		app := StartTestApp(t, imgs.V1)
		waitBody(t, app.URL+"/", "v1\n")
		// The app is PID 1 in a scratch image: it must handle SIGTERM
		// itself, or docker stop would wait 10 s and SIGKILL it (137).
		Docker(t, "stop", "--time", "30", app.Name)
		if code := Docker(t, "inspect", "--format", "{{.State.ExitCode}}", app.Name); code != "0" {
			t.Fatalf("exit code after docker stop = %s, want 0", code)
		}
		if logs := Docker(t, "logs", app.Name); !strings.Contains(logs, "testapp shutting down") {
			t.Fatalf("logs = %q, want the shutdown line", logs)
		}
	})

	t.Run("volume", func(t *testing.T) {
		t.Parallel()
		volume := UniqueName("testapp-data")
		Docker(t, "volume", "create", "--label", LabelTestRun+"="+RunID(), volume)
		t.Cleanup(func() { DockerE("volume", "rm", "--force", volume) })
		app := StartTestApp(t, imgs.V1, "--volume", volume+":/data")
		waitBody(t, app.URL+"/", "v1\n")
		req, _ := http.NewRequest(http.MethodPut, app.URL+"/file?path=/data/x", strings.NewReader("kept"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("PUT /file = %d, want 204", resp.StatusCode)
		}
		if code, body, _ := getBody(app.URL + "/file?path=/data/x"); code != 200 || body != "kept" {
			t.Fatalf("GET /file = %d %q, want 200 kept", code, body)
		}
	})
}

func TestRemoveRunObjectsRemovesOnlyThatRunsObjects(t *testing.T) {
	t.Parallel()
	imgs := TestImages(t)
	// A run id of its own, so the sweep cannot touch the objects of the
	// tests running beside this one.
	b := make([]byte, 4)
	rand.Read(b)
	otherRun := "sweep" + hex.EncodeToString(b)
	label := LabelTestRun + "=" + otherRun

	network, volume, container := UniqueName("sweep-net"), UniqueName("sweep-vol"), UniqueName("sweep-ctr")
	bystander := UniqueName("sweep-keep")
	t.Cleanup(func() {
		DockerE("container", "rm", "--force", container, bystander)
		DockerE("network", "rm", network)
		DockerE("volume", "rm", "--force", volume)
	})
	Docker(t, "network", "create", "--label", label, network)
	Docker(t, "volume", "create", "--label", label, volume)
	Docker(t, "container", "create", "--name", container, "--label", label,
		"--network", network, "--volume", volume+":/data", imgs.V1)
	Docker(t, "container", "create", "--name", bystander, "--label", LabelTestRun+"="+RunID(), imgs.V1)

	leaked, err := RemoveRunObjects(otherRun)
	if err != nil {
		t.Fatalf("RemoveRunObjects: %v", err)
	}
	if len(leaked) != 3 || !strings.HasPrefix(leaked[0], "container ") || !strings.HasPrefix(leaked[1], "network ") ||
		leaked[2] != "volume "+volume {
		t.Errorf("RemoveRunObjects reported %q, want the container, network and volume", leaked)
	}
	for _, probe := range [][]string{
		{"container", "inspect", container},
		{"network", "inspect", network},
		{"volume", "inspect", volume},
	} {
		if _, err := DockerE(probe...); err == nil {
			t.Errorf("docker %s: still exists after RemoveRunObjects", strings.Join(probe, " "))
		}
	}
	if _, err := DockerE("container", "inspect", bystander); err != nil {
		t.Errorf("container of another run was removed: %v", err)
	}
}

// TestBuildLabelKeepsEachOwnersLayersApart: two builds of one Dockerfile
// share their whole layer chain when their BuildLabel owner is the same,
// and no layer at all when it differs, so that one owner's removal never
// takes a layer from under another's build; UniqueBuildLabel removes what
// a failed build leaves behind when its test ends.
func TestBuildLabelKeepsEachOwnersLayersApart(t *testing.T) {
	t.Parallel()
	RequireDocker(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), []byte("the same content in every build"), 0o644); err != nil {
		t.Fatal(err)
	}
	// chain builds the Dockerfile of label and returns the image and its
	// parents, newest first.
	chain := func(t *testing.T, label string) []string {
		t.Helper()
		tag := UniqueName("tinyforge-acctest-buildlabel") + ":test"
		path := filepath.Join(t.TempDir(), "Dockerfile")
		if err := os.WriteFile(path, []byte("FROM scratch\n"+label+"\nCOPY x /x\nENV A=1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { DockerE("rmi", "--force", tag) })
		// With the cache, which is the point here: so the engine's race
		// of its cache lookup with any removal of a parentless image
		// (see DockerBuildE) is met by building again, as the provider
		// does.
		for attempt := 1; ; attempt++ {
			_, err := DockerE("build", "--quiet", "--tag", tag, "--file", path, dir)
			if err == nil {
				break
			}
			if attempt == 3 || !strings.Contains(err.Error(), `unable to find image "sha256:`) {
				t.Fatal(err)
			}
		}
		var ids []string
		for id := Docker(t, "image", "inspect", "--format", "{{.Id}}", tag); id != ""; {
			ids = append(ids, id)
			id = Docker(t, "image", "inspect", "--format", "{{.Parent}}", id)
		}
		return ids
	}
	shared := func(a, b []string) int {
		n := 0
		for _, id := range a {
			if slices.Contains(b, id) {
				n++
			}
		}
		return n
	}

	owner := UniqueName("owner")
	first, again := chain(t, BuildLabel(owner)), chain(t, BuildLabel(owner))
	if len(first) != 3 || !slices.Equal(first, again) {
		t.Fatalf("one owner, one Dockerfile: chains %v and %v, want the same three images (LABEL, COPY, ENV)", first, again)
	}
	one, other := chain(t, UniqueBuildLabel(t)), chain(t, UniqueBuildLabel(t))
	if n := shared(one, other) + shared(one, first) + shared(other, first); n != 0 {
		t.Fatalf("builds of different owners share %d images: %v, %v, %v", n, one, other, first)
	}

	var owned string
	t.Run("failed build", func(t *testing.T) {
		label := UniqueBuildLabel(t)
		owned = regexp.MustCompile(LabelTestBuild + `="([^"]+)"`).FindStringSubmatch(label)[1]
		path := filepath.Join(t.TempDir(), "Dockerfile")
		if err := os.WriteFile(path, []byte("FROM scratch\n"+label+"\nCOPY missing /x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := DockerBuildE("--file", path, dir); err == nil {
			t.Fatal("a build that copies a missing file succeeded")
		}
		if left := Docker(t, "image", "ls", "--quiet", "--filter", "label="+LabelTestBuild+"="+owned); left == "" {
			t.Fatal("the failed build left no image behind: the cleanup below proves nothing")
		}
	})
	if left := Docker(t, "image", "ls", "--quiet", "--filter", "label="+LabelTestBuild+"="+owned); left != "" {
		t.Fatalf("images of the failed build left after its test ended: %s", left)
	}
}
