// Package acctest holds the fixtures the tests run against: the test app and
// its images, a real Caddy, a real Git server, stand-ins for hosted APIs, a
// terraform CLI runner and a load generator. Every object a fixture creates on
// the shared Docker engine carries a unique name and the label
// LabelTestRun=RunID(), and is removed when the test ends, also when it fails.
//
// Assertions about the Docker host use the docker CLI, not internal/docker,
// so that a test checks the provider with a tool it does not share code with.
package acctest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// LabelTestRun marks every Docker object a test run creates.
const LabelTestRun = "tinyforge.test-run"

var (
	runIDOnce sync.Once
	runID     string
)

// RunID is a short random identifier of this test process, used in names and
// labels so that concurrent runs on one engine never collide.
func RunID() string {
	runIDOnce.Do(func() {
		b := make([]byte, 4)
		if _, err := rand.Read(b); err != nil {
			panic(err)
		}
		runID = hex.EncodeToString(b)
	})
	return runID
}

// UniqueName returns prefix-<run id>-<random>, a name no other test uses.
func UniqueName(prefix string) string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return fmt.Sprintf("%s-%s-%s", prefix, RunID(), hex.EncodeToString(b))
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Docker runs the docker CLI and returns its trimmed stdout; the test fails
// when the command fails.
func Docker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := DockerE(args...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return out
}

// DockerE runs the docker CLI and returns its trimmed stdout, or an error
// carrying its stderr.
func DockerE(args ...string) (string, error) {
	cmd := exec.Command("docker", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// RequireDocker fails the test (it does not skip: a skipped test is a failing
// test) when no Docker engine answers.
func RequireDocker(t testing.TB) {
	t.Helper()
	if _, err := DockerE("version", "--format", "{{.Server.Version}}"); err != nil {
		t.Fatalf("a Docker engine is required (start dockerd, see README.md): %v", err)
	}
}

// Eventually polls cond every interval until it returns true or timeout
// passes, then fails the test with msg.
func Eventually(t testing.TB, timeout, interval time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, msg)
		}
		time.Sleep(interval)
	}
}
