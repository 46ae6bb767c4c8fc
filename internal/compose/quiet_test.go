package compose

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// captureFDs points file descriptors 1 and 2 (whoever writes there: fmt,
// the os.Stdout and os.Stderr variables, logrus's writer chosen at init, a
// C library) at a file until the returned function is called, which puts
// them back and returns what was written.
func captureFDs(t *testing.T) func() string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "fds")
	if err != nil {
		t.Fatal(err)
	}
	var saved [3]int
	for _, fd := range []int{1, 2} {
		if saved[fd], err = syscall.Dup(fd); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Dup3(int(f.Fd()), fd, 0); err != nil {
			t.Fatal(err)
		}
	}
	var once sync.Once
	var out string
	restore := func() string {
		once.Do(func() {
			for _, fd := range []int{1, 2} {
				syscall.Dup3(saved[fd], fd, 0)
				syscall.Close(saved[fd])
			}
			b, _ := os.ReadFile(f.Name())
			f.Close()
			out = string(b)
		})
		return out
	}
	// Also when the test fails half way, so that the report reaches the
	// terminal.
	t.Cleanup(func() { restore() })
	return restore
}

// TestNothingReachesStdoutOrStderr drives every operation, a library warning
// and the volume-drift question with the process's stdout and stderr
// captured: the provider's stdout is the plugin handshake channel, and
// everything belongs in the caller's logger. It also checks that the process
// environment and the logrus level are as they were (what the docker CLI's
// Initialize would change). Not parallel: the capture is
// process-wide, and the test framework prints on stdout between parallel
// tests.
func TestNothingReachesStdoutOrStderr(t *testing.T) {
	rt := newRuntime(t)
	imgs := acctest.TestImages(t)
	dir := t.TempDir()
	project := acctest.UniqueName("tfcompose-quiet")
	copyFile(t, imgs.Binary, filepath.Join(dir, "testapp"))
	compose := func(volumeLabel string) string {
		// version: is obsolete: compose-go warns through logrus.
		return fmt.Sprintf(`version: "3.8"
services:
  app:
    build: .
    volumes: [data:/data]
volumes:
  data:
    labels: {generation: %q}
`, volumeLabel)
	}
	writeFiles(t, dir, map[string]string{
		"Dockerfile":   fmt.Sprintf("FROM scratch\nLABEL tinyforge.test-build=%s\nCOPY testapp /testapp\nENTRYPOINT [\"/testapp\"]\n", project),
		"compose.yaml": compose("one"),
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := rt.Down(ctx, project, true, nil); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})

	var logs bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := UpOptions{
		Labels:  map[string]string{acctest.LabelTestRun: acctest.RunID()},
		Publish: []Publish{{Service: "app", Port: 8080}},
		Timeout: 2 * time.Minute,
		Log:     log,
	}
	ctx := testContext(t)

	envBefore := os.Environ()
	logrusLevel := logrus.GetLevel()
	restore := captureFDs(t)
	var errs []error
	step := func(name string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	p, err := Load(ctx, LoadSpec{Dir: dir, ProjectName: project, Log: log})
	step("Load", err)
	var warnings []string
	var volumeBefore, volumeAfter string
	if err == nil {
		warnings = p.Warnings()
		step("Up", rt.Up(ctx, p, opts))
		_, err = rt.Ps(ctx, project, p)
		step("Ps", err)
		volumeBefore, err = acctest.DockerE("volume", "inspect", "--format", "{{.CreatedAt}}", project+"_data")
		step("inspect volume", err)
		// The volume's configuration changes: compose asks whether to
		// recreate it (losing its data).
		writeFiles(t, dir, map[string]string{"compose.yaml": compose("two")})
		p, err = Load(ctx, LoadSpec{Dir: dir, ProjectName: project, Log: log})
		step("Load changed", err)
		if err == nil {
			step("Up changed volume", rt.Up(ctx, p, opts))
		}
		volumeAfter, err = acctest.DockerE("volume", "inspect", "--format", "{{.CreatedAt}}", project+"_data")
		step("inspect volume", err)
		step("Down", rt.Down(ctx, project, true, log))
	}
	printed := restore()

	if envAfter := os.Environ(); !slices.Equal(envAfter, envBefore) {
		t.Errorf("the process environment changed:\nbefore %q\nafter  %q", envBefore, envAfter)
	}
	if logrus.GetLevel() != logrusLevel {
		t.Errorf("the logrus level changed from %s to %s", logrusLevel, logrus.GetLevel())
	}
	if printed != "" {
		t.Errorf("written to stdout/stderr:\n%s", printed)
	}
	for _, err := range errs {
		t.Error(err)
	}
	logMu.Lock()
	logged := logs.String()
	logMu.Unlock()
	t.Logf("logged:\n%s", logged)
	if !strings.Contains(strings.Join(warnings, "\n"), "`version` is obsolete") {
		t.Errorf("Warnings() = %q, want compose-go's warning about version", warnings)
	}
	for _, want := range []string{"`version` is obsolete", "build: #1 [internal] load build definition", "msg=built", "doesn't match configuration in compose file", "Answered no"} {
		if !strings.Contains(logged, want) {
			t.Errorf("the log does not show %q", want)
		}
	}
	if volumeBefore == "" || volumeAfter != volumeBefore {
		t.Errorf("volume created %q, after the changed Up %q: it must be kept", volumeBefore, volumeAfter)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
