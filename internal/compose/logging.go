package compose

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/docker/compose/v5/pkg/api"
	"github.com/sirupsen/logrus"
)

// The compose library, compose-go and their dependencies (containerd/log,
// buildkit) log warnings through the process-wide logrus logger, which writes
// to stderr by default. logrusBridge takes that logger over once, the first
// time this package does any work: its output goes to io.Discard and a hook
// forwards each entry to the loggers of the operations of this package that
// are running at that moment. This is the one process-wide change this
// package makes (logrus level, formatter and exit function are left alone);
// nothing else in the provider logs through logrus.
//
// logrus entries carry no operation: when two operations run at once, each
// receives the other's library warnings too (marked source=compose-library).
var logrusBridge = struct {
	once   sync.Once
	mu     sync.Mutex
	active map[*operation]struct{}
}{active: map[*operation]struct{}{}}

func installLogrusBridge() {
	logrusBridge.once.Do(func() {
		std := logrus.StandardLogger()
		std.SetOutput(io.Discard)
		std.AddHook(bridgeHook{})
	})
}

type bridgeHook struct{}

func (bridgeHook) Levels() []logrus.Level { return logrus.AllLevels }

func (bridgeHook) Fire(e *logrus.Entry) error {
	logrusBridge.mu.Lock()
	ops := make([]*operation, 0, len(logrusBridge.active))
	for op := range logrusBridge.active {
		ops = append(ops, op)
	}
	logrusBridge.mu.Unlock()
	level := slog.LevelInfo
	switch {
	case e.Level <= logrus.ErrorLevel:
		level = slog.LevelError
	case e.Level == logrus.WarnLevel:
		level = slog.LevelWarn
	case e.Level >= logrus.DebugLevel:
		level = slog.LevelDebug
	}
	for _, op := range ops {
		op.libraryEntry(level, e.Message)
	}
	return nil
}

// operation is one call of this package (Load, Up, Down, Ps): where its
// progress, build output and library warnings go, masked.
type operation struct {
	log    *slog.Logger
	redact *redactor

	mu       sync.Mutex
	warnings []string // library warnings, kept for Load's Project.Warnings
}

// startOperation registers an operation with the logrus bridge; call the
// returned function when it ends.
func startOperation(log *slog.Logger, redact *redactor) (*operation, func()) {
	installLogrusBridge()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	op := &operation{log: log, redact: redact}
	logrusBridge.mu.Lock()
	logrusBridge.active[op] = struct{}{}
	logrusBridge.mu.Unlock()
	return op, func() {
		logrusBridge.mu.Lock()
		delete(logrusBridge.active, op)
		logrusBridge.mu.Unlock()
	}
}

func (op *operation) libraryEntry(level slog.Level, msg string) {
	msg = op.redact.String(strings.TrimSpace(msg))
	if level >= slog.LevelWarn {
		op.mu.Lock()
		op.warnings = append(op.warnings, msg)
		op.mu.Unlock()
	}
	op.log.Log(context.Background(), level, msg, "source", "compose-library")
}

func (op *operation) collectedWarnings() []string {
	op.mu.Lock()
	defer op.mu.Unlock()
	return append([]string(nil), op.warnings...)
}

// lineWriter turns what compose writes to its stdout and stderr streams
// (classic build output, mostly) into one log record per line.
type lineWriter struct {
	op     *operation
	stream string
	mu     sync.Mutex
	buf    bytes.Buffer
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			// An incomplete line: keep it for the next write.
			w.buf.Reset()
			w.buf.WriteString(line)
			return len(p), nil
		}
		w.emit(line)
	}
}

// Flush logs a last line that had no newline.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len() > 0 {
		w.emit(w.buf.String())
		w.buf.Reset()
	}
}

func (w *lineWriter) emit(line string) {
	// Progress bars redraw with carriage returns: keep the last state.
	if i := strings.LastIndexByte(strings.TrimRight(line, "\r\n"), '\r'); i >= 0 {
		line = line[i+1:]
	}
	line = strings.TrimSpace(line)
	if line == "" {
		return
	}
	w.op.log.Info(w.op.redact.String(line), "stream", w.stream)
}

// eventLog is compose's api.EventProcessor: each resource's status change
// (container created, started, healthy; image built; network removed)
// becomes one log record. Repeated progress of the same status is dropped.
type eventLog struct {
	op   *operation
	mu   sync.Mutex
	last map[string]string
}

var _ api.EventProcessor = (*eventLog)(nil)

func newEventLog(op *operation) *eventLog {
	return &eventLog{op: op, last: map[string]string{}}
}

func (l *eventLog) Start(_ context.Context, operation string) {
	l.op.log.Debug("compose "+operation+" started", "operation", operation)
}

func (l *eventLog) Done(operation string, failed bool) {
	// compose passes err != nil as its second argument.
	l.op.log.Debug("compose "+operation+" ended", "operation", operation, "failed", failed)
}

func (l *eventLog) On(events ...api.Resource) {
	for _, e := range events {
		text := e.Text
		if e.Details != "" {
			text += ": " + e.Details
		}
		l.mu.Lock()
		seen := l.last[e.ID] == text
		l.last[e.ID] = text
		l.mu.Unlock()
		if seen {
			continue
		}
		level := slog.LevelInfo
		switch e.Status {
		case api.Warning:
			level = slog.LevelWarn
		case api.Error:
			level = slog.LevelError
		}
		l.op.log.Log(context.Background(), level, l.op.redact.String(e.ID+" "+text), "resource", l.op.redact.String(e.ID), "status", e.Text)
	}
}
