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
	mathrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
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

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on, for a
// server the test starts later; it stays the test's until the test ends.
func FreePort(t testing.TB) int {
	t.Helper()
	port, release, err := reservePort()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	return port
}

// reservePort finds a port for a server that is told its port (Caddy, a
// published container port) and holds it until release. A port the kernel
// chose (listen on :0, then close) is in its ephemeral range, where it may
// hand the same port to any outgoing connection, of any process, before
// the server binds it: "address already in use", about once a run under
// load. So the port comes from below that range, where the kernel never
// chooses, and a lock keeps other test processes off it: an abstract unix
// socket named for the port, which no file outlives and the kernel frees
// when the process ends.
func reservePort() (port int, release func(), err error) {
	lo, hi := reservablePorts()
	for range 200 {
		port := lo + mathrand.IntN(hi-lo+1)
		lock, err := net.Listen("unix", "@tinyforge-acctest-port-"+strconv.Itoa(port))
		if err != nil {
			continue // another test process holds it
		}
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err != nil {
			lock.Close() // something outside the tests uses it
			continue
		} else {
			l.Close()
		}
		return port, func() { lock.Close() }, nil
	}
	return 0, nil, fmt.Errorf("find a free port: none of 200 tries in %d-%d was free", lo, hi)
}

// reservablePorts is the 8192 ports below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range, 32768-60999 by default), which Docker's
// port allocator avoids too.
func reservablePorts() (lo, hi int) {
	ephemeralLow := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 2048 {
				ephemeralLow = n
			}
		}
	}
	return max(1024, ephemeralLow-8192), ephemeralLow - 1
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

// DockerBuildE runs `docker build --quiet --no-cache args...` and returns
// its output (the image ID). Every image a test builds with the docker CLI
// goes through it: without the engine's build cache, because the classic
// builder's cache lookup fails a build when any image that shares the
// step's parent is removed while it looks (for a first step FROM scratch,
// any parentless image on the engine; see docker.ErrBuildCacheRace), and
// the tests of the suite remove images all the time. The builds whose
// cache is the point go through the provider, which builds again on that
// race.
func DockerBuildE(args ...string) (string, error) {
	return DockerE(append([]string{"build", "--quiet", "--no-cache"}, args...)...)
}

// DockerBuild is DockerBuildE; the test fails when the build does.
func DockerBuild(t testing.TB, args ...string) string {
	t.Helper()
	out, err := DockerBuildE(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
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

// Acceptance skips an acceptance test that does not go through
// resource.Test unless TF_ACC is set, as resource.Test skips its own: `go
// test ./...` then runs the unit tests alone, and `make test` (TF_ACC=1)
// runs everything.
func Acceptance(t testing.TB) {
	t.Helper()
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: set TF_ACC=1 to run it (make test does)")
	}
}
