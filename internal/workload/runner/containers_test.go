package runner_test

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/runner"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/image"
)

// containers is a Containers on the local engine with a network of the
// test's own, removed when the test ends with every container of name.
func containers(t *testing.T, name string) *runner.Containers {
	t.Helper()
	acctest.RequireDocker(t)
	client, err := docker.New(docker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	network := acctest.UniqueName("rt-net")
	t.Cleanup(func() {
		if ids, _ := acctest.DockerE("ps", "-aq", "--filter", "label="+workload.LabelWorkload+"="+name); ids != "" {
			acctest.DockerE(append([]string{"rm", "-f"}, strings.Fields(ids)...)...)
		}
		acctest.DockerE("network", "rm", network)
		client.Close()
	})
	return &runner.Containers{Docker: client, Network: network, PublishAddress: "127.0.0.1", ForwardTo: runner.ForwardPublished, StopTimeout: 2 * time.Second}
}

func get(t *testing.T, addr, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s%s: %v", addr, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

// TestContainersLifecycle starts an instance and follows it through List,
// Inspect, Logs, Env, Stop, Resume and Remove, as the engine sees it.
func TestContainersLifecycle(t *testing.T) {
	t.Parallel()
	imgs := acctest.TestImages(t)
	name := acctest.UniqueName("rt")
	c := containers(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	spec := workload.Spec{
		Name: name, Owner: "me", Env: map[string]string{"GREETING": "hello"},
		Source: &image.Config{Ref: imgs.V1, Port: 8080, Healthcheck: "/healthz"},
	}
	in, err := c.Start(ctx, spec, plugin.Artifact{Image: imgs.V1}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(in.Name, name+"-3-") || in.Recorded.Generation != 3 || in.Recorded.Owner != "me" || in.Published == "" || in.Upstream != in.Published {
		t.Fatalf("started %+v", in)
	}
	if !strings.HasPrefix(in.Published, "127.0.0.1:") {
		t.Fatalf("published on %s, want 127.0.0.1", in.Published)
	}
	acctest.Eventually(t, 10*time.Second, 100*time.Millisecond, "the instance never answered", func() bool {
		resp, err := http.Get("http://" + in.Published + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	if got := get(t, in.Published, "/env/GREETING"); got != "hello" {
		t.Fatalf("env GREETING = %q", got)
	}
	if net := acctest.Docker(t, "inspect", "--format", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}", in.ID); net != c.Network {
		t.Fatalf("the container is on %q, want %q", net, c.Network)
	}

	byWorkload, unreadable, err := c.List(ctx, name)
	if err != nil || len(unreadable) != 0 || len(byWorkload[name]) != 1 || byWorkload[name][0].ID != in.ID {
		t.Fatalf("List: %+v %v %v", byWorkload, unreadable, err)
	}
	h, err := c.Inspect(ctx, in)
	if err != nil || h.State != docker.ContainerRunning || h.Published != in.Published || h.Restarts != 0 || !h.Created.Equal(in.Created) {
		t.Fatalf("Inspect: %+v %v (instance created %s)", h, err, in.Created)
	}
	env, err := c.Env(ctx, in)
	if err != nil || !slices.Contains(env, "GREETING=hello") {
		t.Fatalf("Env: %v %v", env, err)
	}
	lines, err := c.Logs(ctx, in, 5)
	if err != nil || !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "listening") }) {
		t.Fatalf("Logs: %q %v", lines, err)
	}

	if err := c.Stop(ctx, in); err != nil {
		t.Fatal(err)
	}
	if h, _ := c.Inspect(ctx, in); h.State != docker.ContainerExited || h.Published != "" {
		t.Fatalf("after Stop: %+v", h)
	}
	if err := c.Resume(ctx, in); err != nil {
		t.Fatal(err)
	}
	if h, _ := c.Inspect(ctx, in); h.State != docker.ContainerRunning {
		t.Fatalf("after Resume: %+v", h)
	}
	in.State = docker.ContainerRunning
	if err := c.Remove(ctx, in); err != nil {
		t.Fatal(err)
	}
	if _, err := acctest.DockerE("inspect", in.ID); err == nil {
		t.Fatal("Remove left the container")
	}
	if err := c.Remove(ctx, in); err != nil {
		t.Fatalf("removing an instance already gone: %v", err)
	}
}

// TestStartThatFailsLeavesNothing: an image the engine lacks, and a start
// interrupted by a cancelled context, leave no container.
func TestStartThatFailsLeavesNothing(t *testing.T) {
	t.Parallel()
	imgs := acctest.TestImages(t)
	name := acctest.UniqueName("rtfail")
	c := containers(t, name)
	spec := workload.Spec{Name: name, Source: &image.Config{Ref: imgs.V1, Port: 8080}}
	if _, err := c.Start(context.Background(), spec, plugin.Artifact{Image: "tinyforge-acctest/absent:" + acctest.RunID()}, 1); err == nil {
		t.Fatal("a start from a missing image succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Start(ctx, spec, plugin.Artifact{Image: imgs.V1}, 2); err == nil {
		t.Fatal("a start on a cancelled context succeeded")
	}
	if left := acctest.Docker(t, "ps", "-aq", "--filter", "label="+workload.LabelWorkload+"="+name); left != "" {
		t.Fatalf("failed starts left containers: %s", left)
	}
}
