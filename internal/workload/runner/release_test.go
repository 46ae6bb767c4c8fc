package runner_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/image"
)

// releaseContainers lists the one-offs of workload name, with the CLI.
func releaseContainers(t *testing.T, name string) []string {
	t.Helper()
	return strings.Fields(acctest.Docker(t, "ps", "-aq", "--filter", "label="+workload.LabelRelease+"="+name))
}

// TestContainersRelease runs release commands in one-off containers of the
// workload's image, with its env, secrets and volume, and finds none left
// after a success, a failure, an interrupt, or one an earlier apply left.
func TestContainersRelease(t *testing.T) {
	t.Parallel()
	imgs := acctest.TestImages(t)
	name := acctest.UniqueName("rt-rel")
	c := containers(t, name)
	volume := name + "-data"
	t.Cleanup(func() {
		if ids := releaseContainers(t, name); len(ids) > 0 {
			acctest.DockerE(append([]string{"rm", "-f"}, ids...)...)
		}
		acctest.DockerE("volume", "rm", "-f", volume)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	spec := func(command ...string) workload.Spec {
		return workload.Spec{
			Name: name, Owner: "me",
			Env:       map[string]string{"LEVEL": "debug"},
			SecretEnv: map[string]string{"DB_PASSWORD": "canary-5e1f"},
			Volumes:   []workload.Volume{{Source: volume, Target: "/data"}},
			Release:   workload.Release{Command: append([]string{"task"}, command...), Timeout: 20 * time.Second},
			Source:    &image.Config{Ref: imgs.V2, Port: 8080},
		}
	}
	art := plugin.Artifact{Image: imgs.V2}

	var streamed []string
	r, err := c.Release(ctx, spec("env=LEVEL", "env=DB_PASSWORD", "append=/data/runs"), art, 4, func(l docker.LogLine) {
		streamed = append(streamed, l.Text)
	})
	if err != nil || r.ExitCode != 0 || r.TimedOut {
		t.Fatalf("release: %+v %v", r, err)
	}
	if !strings.HasPrefix(r.Name, name+"-release-4-") {
		t.Errorf("one-off named %q", r.Name)
	}
	if got := strings.Join(streamed, "|"); got != "LEVEL=debug|DB_PASSWORD=canary-5e1f" {
		t.Errorf("the one-off printed %q: want the env and the secret it got", got)
	}
	if left := releaseContainers(t, name); len(left) != 0 {
		t.Fatalf("one-offs left after a success: %v", left)
	}
	// The volume holds what it wrote: read by a second release.
	streamed = nil
	r, err = c.Release(ctx, spec("append=/data/runs", "print=done", "exit=5"), art, 5, func(l docker.LogLine) { streamed = append(streamed, l.Text) })
	if err != nil || r.ExitCode != 5 || len(r.Tail) != 1 || r.Tail[0].Text != "done" {
		t.Fatalf("failing release: %+v %v", r, err)
	}
	if left := releaseContainers(t, name); len(left) != 0 {
		t.Fatalf("one-offs left after a failure: %v", left)
	}
	streamed = nil
	if _, err := c.Release(ctx, spec("cat=/data/runs"), art, 5, func(l docker.LogLine) { streamed = append(streamed, l.Text) }); err != nil {
		t.Fatal(err)
	}
	if len(streamed) != 2 || !strings.HasPrefix(streamed[0], "v2 ") {
		t.Errorf("the volume holds %q: want the two lines the releases appended, by the image's VERSION v2", streamed)
	}

	// One a killed apply left behind goes before the next runs.
	stale := name + "-release-3-stale"
	acctest.Docker(t, "create", "--name", stale, "--label", workload.LabelRelease+"="+name, "--label", workload.LabelOwner+"=me",
		"--label", acctest.LabelTestRun+"="+acctest.RunID(), imgs.V1, "task", "sleep=1h")
	if _, err := c.Release(ctx, spec("print=ok"), art, 6, nil); err != nil {
		t.Fatal(err)
	}
	if left := releaseContainers(t, name); len(left) != 0 {
		t.Fatalf("the stale one-off stays: %v", left)
	}

	// An interrupt: the release returns the context's end, and removes it.
	ictx, icancel := context.WithCancel(ctx)
	time.AfterFunc(2*time.Second, icancel)
	start := time.Now()
	_, err = c.Release(ictx, spec("print=migrating", "sleep=1h"), art, 7, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted release: %v, want the context's end", err)
	}
	if took := time.Since(start); took > 40*time.Second {
		t.Errorf("the interrupted release returned after %s", took)
	}
	if left := releaseContainers(t, name); len(left) != 0 {
		t.Fatalf("one-offs left after an interrupt: %v", left)
	}
}
