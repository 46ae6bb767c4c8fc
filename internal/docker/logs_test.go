package docker

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// frame is one frame of the engine's multiplexed log stream.
func frame(stream byte, payload string) []byte {
	h := make([]byte, 8, 8+len(payload))
	h[0] = stream
	binary.BigEndian.PutUint32(h[4:], uint32(len(payload)))
	return append(h, payload...)
}

func TestReadLogLinesJoinsEachStreamApart(t *testing.T) {
	t.Parallel()
	var in bytes.Buffer
	in.Write(frame(1, "2026-01-02T03:04:05.000000006Z first out\n"))
	in.Write(frame(2, "2026-01-02T03:04:06Z half an err"))
	in.Write(frame(1, "2026-01-02T03:04:07Z second out\r\n"))
	in.Write(frame(2, "2026-01-02T03:04:08Z or, and the rest\n"))
	in.Write(frame(1, "2026-01-02T03:04:09Z no newline at the end"))
	var got []LogLine
	if err := readLogLines(&in, true, func(l LogLine) { got = append(got, l) }); err != nil {
		t.Fatal(err)
	}
	want := []LogLine{
		{"stdout", time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), "first out"},
		{"stdout", time.Date(2026, 1, 2, 3, 4, 7, 0, time.UTC), "second out"},
		{"stderr", time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC), "half an error, and the rest"},
		{"stdout", time.Date(2026, 1, 2, 3, 4, 9, 0, time.UTC), "no newline at the end"},
	}
	if !slices.EqualFunc(got, want, func(a, b LogLine) bool { return a.Stream == b.Stream && a.Time.Equal(b.Time) && a.Text == b.Text }) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestReadLogLinesReportsTheEnginesErrorAndACutStream(t *testing.T) {
	t.Parallel()
	err := readLogLines(bytes.NewReader(frame(3, "boom\n")), false, func(LogLine) {})
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("an error frame: got %v", err)
	}
	err = readLogLines(bytes.NewReader(frame(1, "cut")[:9]), false, func(LogLine) {})
	if err == nil {
		t.Error("a stream cut inside a frame: no error")
	}
}

// TestContainerLogLinesTellsTheStreamsAndTimesApart: each line comes with
// its stream and the engine's time, each stream in the order the program
// wrote it. Across streams the engine's order is the order its two
// copiers read the pipes: "one" (stdout) and "two" (stderr), written
// microseconds apart, come either way round (as in `docker logs`), while
// "three", written 1.1 s after "two", comes after it.
func TestContainerLogLinesTellsTheStreamsAndTimesApart(t *testing.T) {
	t.Parallel()
	ref, _ := testImage(t)
	c := newClient(t)
	ctx := testContext(t)
	name := acctest.UniqueName("tinyforge-docker-logs")
	removeContainer(t, name)
	id, err := c.CreateContainer(ctx, ContainerSpec{Name: name, Image: ref, RestartPolicy: "no",
		Labels: map[string]string{acctest.LabelTestRun: acctest.RunID()},
		Cmd:    []string{"task", "print=one", "stderr=two", "sleep=1100ms", "print=three", "lines=3"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.RunToEnd(ctx, id, RunOptions{Timeout: time.Minute})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("run: %+v %v", res, err)
	}
	all, err := c.ContainerLogLines(ctx, id, LogQuery{})
	if err != nil {
		t.Fatal(err)
	}
	byStream := map[string][]string{}
	at := map[string]int{}
	last := map[string]time.Time{}
	var texts []string
	for i, l := range all {
		texts = append(texts, l.Stream+":"+l.Text)
		byStream[l.Stream] = append(byStream[l.Stream], l.Text)
		at[l.Text] = i
		if l.Time.IsZero() || time.Since(l.Time) > 5*time.Minute || l.Time.Before(last[l.Stream]) {
			t.Errorf("line %q has time %v (the line before it on %s: %v)", l.Text, l.Time, l.Stream, last[l.Stream])
		}
		last[l.Stream] = l.Time
	}
	if want := []string{"one", "three", "line 1", "line 2", "line 3"}; !slices.Equal(byStream["stdout"], want) {
		t.Fatalf("stdout %q, want %q (all: %q)", byStream["stdout"], want, texts)
	}
	if want := []string{"two"}; !slices.Equal(byStream["stderr"], want) {
		t.Fatalf("stderr %q, want %q (all: %q)", byStream["stderr"], want, texts)
	}
	if len(all) != 6 || at["two"] > at["three"] || all[at["three"]].Time.Sub(all[at["two"]].Time) < time.Second {
		t.Fatalf("lines %q: want stderr's two a second before stdout's three", texts)
	}
	tail, err := c.ContainerLogLines(ctx, id, LogQuery{Tail: 2})
	if err != nil || len(tail) != 2 || tail[0].Text != "line 2" || tail[1].Text != "line 3" {
		t.Fatalf("tail 2: %+v %v", tail, err)
	}
	// Since the third line: the first two were written over a second
	// before it.
	since, err := c.ContainerLogLines(ctx, id, LogQuery{Since: all[at["three"]].Time})
	if err != nil || len(since) != 4 || since[0].Text != "three" {
		t.Fatalf("since %v: %+v %v", all[at["three"]].Time, since, err)
	}
}
