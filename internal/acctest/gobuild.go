package acctest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// modulePath is this repository's module; the builds below refuse any other
// go.mod they might find, so a test run from a foreign working directory
// fails clearly instead of building the wrong code.
const modulePath = "github.com/tinyforge/terraform-provider-tinyforge"

// ModuleRoot is the directory of this repository's go.mod: where go builds
// of the provider and the test app run.
var ModuleRoot = sync.OnceValues(findModuleRoot)

// findModuleRoot asks the go command first (tests run inside the module),
// then falls back to this source file's location (a benchmark program run
// from elsewhere, built without -trimpath).
func findModuleRoot() (string, error) {
	if out, err := exec.Command("go", "env", "GOMOD").Output(); err == nil {
		gomod := strings.TrimSpace(string(out))
		if gomod != "" && gomod != os.DevNull && declaresModule(gomod) {
			return filepath.Dir(gomod), nil
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		for dir := filepath.Dir(file); ; dir = filepath.Dir(dir) {
			if gomod := filepath.Join(dir, "go.mod"); declaresModule(gomod) {
				return dir, nil
			}
			if parent := filepath.Dir(dir); parent == dir {
				break
			}
		}
	}
	return "", fmt.Errorf("find the root of module %s: run from inside the repository", modulePath)
}

// declaresModule reports whether gomod is this repository's go.mod.
func declaresModule(gomod string) bool {
	f, err := os.Open(gomod)
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fields := strings.Fields(s.Text()); len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == modulePath
		}
	}
	return false
}

// goBuild compiles pkg (an import path in this module, or "." for the
// module root) into out, with env added to the go command's environment.
// -trimpath keeps the binary the same wherever the repository lives.
func goBuild(ctx context.Context, out, pkg string, env ...string) error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %v: %s", pkg, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// HealthcheckPackage is the import path of a tiny static HTTP health check
// command (GET its one argument, exit 0 on 2xx): a compose healthcheck for
// images FROM scratch, which have no shell and no curl.
const HealthcheckPackage = modulePath + "/internal/acctest/healthcheck"

var healthcheckBinary = sync.OnceValues(func() (string, error) {
	dir, err := scratchDir("healthcheck")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "healthcheck")
	if err := goBuild(context.Background(), out, HealthcheckPackage, "CGO_ENABLED=0", "GOOS=linux"); err != nil {
		return "", err
	}
	return out, nil
})

// HealthcheckBinaryE is HealthcheckBinary for a caller without a test
// (make bench).
func HealthcheckBinaryE() (string, error) { return healthcheckBinary() }

// HealthcheckBinary builds the health check command once per process and
// returns its path (removed with the test images); the test fails when it
// does not build.
func HealthcheckBinary(t testing.TB) string {
	t.Helper()
	bin, err := healthcheckBinary()
	if err != nil {
		t.Fatalf("build the health check command: %v", err)
	}
	return bin
}
