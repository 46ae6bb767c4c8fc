package git

import (
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
)

// lineWriter turns go-git's progress stream (messages ending in "\r" while
// a counter updates, "\n" when done) into whole lines for a callback, with
// the token scrubbed, in case a server echoes anything back.
type lineWriter struct {
	fn    func(string)
	token string

	mu      sync.Mutex
	partial strings.Builder
}

func newLineWriter(fn func(string), token string) *lineWriter {
	return &lineWriter{fn: fn, token: token}
}

// sideband is the writer to give go-git: nil when nobody listens, so that
// go-git does not ask the server for progress at all.
func (w *lineWriter) sideband() sideband.Progress {
	if w.fn == nil {
		return nil
	}
	return w
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range p {
		if b == '\n' || b == '\r' {
			w.emit()
			continue
		}
		w.partial.WriteByte(b)
	}
	return len(p), nil
}

// Line sends one line of this package's own.
func (w *lineWriter) Line(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.emit()
	w.partial.WriteString(s)
	w.emit()
}

// Flush sends what is left after the last line break.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.emit()
}

func (w *lineWriter) emit() {
	line := strings.TrimSpace(w.partial.String())
	w.partial.Reset()
	if line == "" || w.fn == nil {
		return
	}
	if w.token != "" {
		line = strings.ReplaceAll(line, w.token, "[token]")
	}
	w.fn(line)
}
