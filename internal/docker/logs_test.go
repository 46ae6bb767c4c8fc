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
	var texts []string
	for _, l := range all {
		texts = append(texts, l.Stream+":"+l.Text)
		if l.Time.IsZero() || time.Since(l.Time) > 5*time.Minute {
			t.Errorf("line %q has time %v", l.Text, l.Time)
		}
	}
	if want := []string{"stdout:one", "stderr:two", "stdout:three", "stdout:line 1", "stdout:line 2", "stdout:line 3"}; !slices.Equal(texts, want) {
		t.Fatalf("lines %q, want %q", texts, want)
	}
	tail, err := c.ContainerLogLines(ctx, id, LogQuery{Tail: 2})
	if err != nil || len(tail) != 2 || tail[1].Text != "line 3" {
		t.Fatalf("tail 2: %+v %v", tail, err)
	}
	// Since the third line: the first two were written over a second
	// before it.
	since, err := c.ContainerLogLines(ctx, id, LogQuery{Since: all[2].Time})
	if err != nil || len(since) != 4 || since[0].Text != "three" {
		t.Fatalf("since %v: %+v %v", all[2].Time, since, err)
	}
}
