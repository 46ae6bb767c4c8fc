package docker

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
)

// LogLine is one line a container (or a Swarm task) wrote.
type LogLine struct {
	// Stream is "stdout" or "stderr".
	Stream string
	// Time is when the engine received the line; zero when not asked for.
	Time time.Time
	Text string
}

// LogQuery says which lines to read.
type LogQuery struct {
	// Tail is how many of the last lines; 0 reads all.
	Tail int
	// Since drops the lines written before it; zero keeps all.
	Since time.Time
}

func (q LogQuery) options(timestamps, follow bool) container.LogsOptions {
	o := container.LogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: timestamps, Follow: follow, Tail: "all"}
	if q.Tail > 0 {
		o.Tail = strconv.Itoa(q.Tail)
	}
	if !q.Since.IsZero() {
		o.Since = strconv.FormatInt(q.Since.Unix(), 10) + "." + fmt.Sprintf("%09d", q.Since.Nanosecond())
	}
	return o
}

// ContainerLogLines returns the lines the container wrote per q, each with
// its stream and time, in the engine's order: each stream in the order
// written; across streams, the order the engine read them, so that a
// stdout and a stderr line written microseconds apart may come either way
// round (as in `docker logs`).
func (c *Client) ContainerLogLines(ctx context.Context, id string, q LogQuery) ([]LogLine, error) {
	rc, err := c.api.ContainerLogs(ctx, id, q.options(true, false))
	if err != nil {
		return nil, fmt.Errorf("logs of container %s: %w", id, classify(err))
	}
	defer rc.Close()
	var out []LogLine
	if err := readLogLines(rc, true, func(l LogLine) { out = append(out, l) }); err != nil {
		return nil, fmt.Errorf("logs of container %s: %w", id, err)
	}
	return out, nil
}

// TaskLogLines returns the lines a Swarm task wrote per q, wherever it
// ran, as the manager collects them.
func (c *Client) TaskLogLines(ctx context.Context, taskID string, q LogQuery) ([]LogLine, error) {
	rc, err := c.api.TaskLogs(ctx, taskID, q.options(true, false))
	if err != nil {
		return nil, fmt.Errorf("logs of task %s: %w", taskID, classify(err))
	}
	defer rc.Close()
	var out []LogLine
	if err := readLogLines(rc, true, func(l LogLine) { out = append(out, l) }); err != nil {
		return nil, fmt.Errorf("logs of task %s: %w", taskID, err)
	}
	return out, nil
}

// readLogLines reads the engine's log stream of a container created
// without a TTY: frames of an 8-byte header (stream, 3 zero bytes, big
// endian length) and a payload. A line may span frames (the engine splits
// long ones); each stream is joined apart. With timestamps, each frame
// starts with the engine's RFC 3339 time and a space.
func readLogLines(r io.Reader, timestamps bool, each func(LogLine)) error {
	br := bufio.NewReaderSize(r, 32<<10)
	partial := map[byte]*strings.Builder{1: {}, 2: {}}
	emit := func(stream byte, text string) {
		l := LogLine{Stream: "stdout", Text: strings.TrimSuffix(text, "\r")}
		if stream == 2 {
			l.Stream = "stderr"
		}
		if timestamps {
			if ts, rest, ok := strings.Cut(l.Text, " "); ok {
				if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
					l.Time, l.Text = t, rest
				}
			}
		}
		each(l)
	}
	var header [8]byte
	for {
		if _, err := io.ReadFull(br, header[:]); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return errors.New("the log stream ended inside a frame header")
			}
			return err
		}
		stream := header[0]
		size := binary.BigEndian.Uint32(header[4:])
		if stream != 1 && stream != 2 {
			// stdin (0) is never sent back; 3 is the engine's own error.
			payload, _ := io.ReadAll(io.LimitReader(br, int64(size)))
			if stream == 3 {
				return fmt.Errorf("the engine: %s", strings.TrimSpace(string(payload)))
			}
			continue
		}
		payload := make([]byte, size)
		if _, err := io.ReadFull(br, payload); err != nil {
			return fmt.Errorf("the log stream ended inside a frame: %w", err)
		}
		b := partial[stream]
		if timestamps && b.Len() > 0 {
			// The rest of a long line split by the engine: each part comes
			// with its own time; the line keeps its first.
			if ts, rest, ok := strings.Cut(string(payload), " "); ok {
				if _, err := time.Parse(time.RFC3339Nano, ts); err == nil {
					payload = []byte(rest)
				}
			}
		}
		for len(payload) > 0 {
			i := strings.IndexByte(string(payload), '\n')
			if i < 0 {
				b.Write(payload)
				break
			}
			b.Write(payload[:i])
			emit(stream, b.String())
			b.Reset()
			payload = payload[i+1:]
		}
	}
	for _, stream := range []byte{1, 2} {
		if b := partial[stream]; b.Len() > 0 {
			emit(stream, b.String())
		}
	}
	return nil
}
