package docker

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// oneOff creates a one-off container of the test app running `task
// steps...`, removed when the test ends.
func oneOff(t *testing.T, c *Client, steps ...string) string {
	t.Helper()
	ref, _ := testImage(t)
	name := acctest.UniqueName("tinyforge-docker-oneoff")
	removeContainer(t, name)
	id, err := c.CreateContainer(testContext(t), ContainerSpec{Name: name, Image: ref, RestartPolicy: "no",
		Labels: map[string]string{acctest.LabelTestRun: acctest.RunID()},
		Env:    []string{"VERSION=one-off"},
		Cmd:    append([]string{"task"}, steps...)})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestRunToEndKeepsTheExitCodeAndTheLastLines(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	id := oneOff(t, c, "stderr=starting", "sleep=300ms", "lines=60", "exit=3")
	var mu sync.Mutex
	var streamed []string
	res, err := c.RunToEnd(testContext(t), id, RunOptions{Timeout: time.Minute, Tail: 50, Output: func(l LogLine) {
		mu.Lock()
		defer mu.Unlock()
		streamed = append(streamed, l.Text)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 3 || res.TimedOut {
		t.Errorf("result %+v, want exit code 3", res)
	}
	if len(res.Tail) != 50 || res.Tail[0].Text != "line 11" || res.Tail[49].Text != "line 60" {
		t.Errorf("tail: %d lines, %+v ... %+v; want line 11 ... line 60", len(res.Tail), res.Tail[0], res.Tail[len(res.Tail)-1])
	}
	mu.Lock()
	defer mu.Unlock()
	if len(streamed) != 61 || streamed[0] != "starting" {
		t.Errorf("streamed %d lines (%q...), want 61 from \"starting\"", len(streamed), streamed[:min(3, len(streamed))])
	}
}

func TestRunToEndKillsAtTheTimeout(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	id := oneOff(t, c, "print=migrating", "sleep=1h")
	start := time.Now()
	res, err := c.RunToEnd(testContext(t), id, RunOptions{Timeout: 2 * time.Second, Tail: 50})
	if err != nil {
		t.Fatal(err)
	}
	if !res.TimedOut || res.ExitCode != -1 || len(res.Tail) != 1 || res.Tail[0].Text != "migrating" {
		t.Errorf("result %+v, want timed out with the line it printed", res)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("took %s for a 2 s timeout", took)
	}
	if state := acctest.Docker(t, "inspect", "--format", "{{.State.Status}}", id); state != "exited" {
		t.Errorf("after the timeout the container is %q, want exited", state)
	}
}

func TestRunToEndReturnsWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	id := oneOff(t, c, "sleep=1h")
	ctx, cancel := context.WithCancel(testContext(t))
	time.AfterFunc(time.Second, cancel)
	start := time.Now()
	_, err := c.RunToEnd(ctx, id, RunOptions{Timeout: time.Hour})
	if err == nil || !strings.Contains(fmt.Sprint(err), "context canceled") {
		t.Fatalf("got %v, want the context's end", err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("returned %s after the start, for a context that ended after 1 s", took)
	}
}
