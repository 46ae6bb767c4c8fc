package acctest

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

// RunAndCleanUp runs the tests, then removes everything this process left on
// the Docker engine: containers, networks, volumes and images labelled
// LabelTestRun=RunID(), the test images, and the process-wide temp dirs;
// and the test hosts (StartHosts) still there, with their engines. It
// is a last resort (each test cleans up after itself with t.Cleanup), so it
// reports what it had to remove on stderr: a container, network or volume
// named there is a test that leaks. It does not fail the run for it: objects
// the provider creates carry no test label, and other tests check for those. Use it as
//
//	func TestMain(m *testing.M) { os.Exit(acctest.RunAndCleanUp(m)) }
func RunAndCleanUp(m *testing.M) int {
	code := m.Run()
	hostsLeaked, err := RemoveHostLeftovers(RunID())
	if len(hostsLeaked) > 0 {
		fmt.Fprintf(os.Stderr, "acctest: last-resort cleanup removed test hosts that tests of run %s leaked: %s\n",
			RunID(), strings.Join(hostsLeaked, ", "))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "acctest: last-resort cleanup of test hosts: %v\n", err)
	}
	leaked, err := RemoveRunObjects(RunID())
	if len(leaked) > 0 {
		fmt.Fprintf(os.Stderr, "acctest: last-resort cleanup removed what tests of run %s leaked: %s\n",
			RunID(), strings.Join(leaked, ", "))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "acctest: last-resort cleanup: %v\n", err)
	}
	if err := RemoveTestImages(); err != nil {
		fmt.Fprintf(os.Stderr, "acctest: remove test images: %v\n", err)
	}
	return code
}

// RemoveRunObjects removes every container, network, volume and image
// labelled LabelTestRun=runID, in that order (a container pins its network,
// volumes and image). It returns what it removed other than images, as
// "container <id>", "network <id>", "volume <name>": anything there is a
// test that leaked. Pass RunID(); other values are for testing it.
func RemoveRunObjects(runID string) (leaked []string, err error) {
	filter := "label=" + LabelTestRun + "=" + runID
	var errs []error
	for _, kind := range []struct {
		name         string
		list, remove []string
	}{
		{"container", []string{"container", "ls", "--all", "--quiet", "--filter", filter}, []string{"container", "rm", "--force", "--volumes"}},
		{"network", []string{"network", "ls", "--quiet", "--filter", filter}, []string{"network", "rm"}},
		{"volume", []string{"volume", "ls", "--quiet", "--filter", filter}, []string{"volume", "rm", "--force"}},
		{"image", []string{"image", "ls", "--quiet", "--filter", filter}, []string{"rmi", "--force"}},
	} {
		out, err := DockerE(kind.list...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ids := uniqueFields(out)
		if len(ids) == 0 {
			continue
		}
		if kind.name != "image" {
			for _, id := range ids {
				leaked = append(leaked, kind.name+" "+id)
			}
		}
		if _, err := DockerE(append(kind.remove, ids...)...); err != nil {
			errs = append(errs, err)
		}
	}
	return leaked, errors.Join(errs...)
}

// uniqueFields splits CLI output into IDs; image ls repeats an ID once per
// tag.
func uniqueFields(out string) []string {
	seen := map[string]bool{}
	var ids []string
	for _, id := range strings.Fields(out) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids
}

// RemoveTestImages removes the test images and the static base images of
// this process and the process-wide temp dirs (the testapp binary, provider
// binaries). It is for TestMain and the benchmark; tests never call it.
// Errors are returned, not fatal: it runs when there is nobody left to
// fail.
func RemoveTestImages() error {
	var errs []error
	// Only the refs that exist: rmi fails on a missing one, and a run that
	// never built images (or failed half way) has fewer than all.
	for _, built := range []func() ([]string, error){builtTestImageRefs, builtStaticImageRefs} {
		if refs, err := built(); err != nil {
			errs = append(errs, err)
		} else if len(refs) > 0 {
			if _, err := DockerE(append([]string{"rmi", "--force"}, refs...)...); err != nil {
				errs = append(errs, err)
			}
		}
	}
	errs = append(errs, removeScratchDirs())
	return errors.Join(errs...)
}

// builtTestImageRefs lists the test image references of this process that
// exist on the engine.
func builtTestImageRefs() ([]string, error) {
	out, err := DockerE("image", "ls", "--format", "{{.Repository}}:{{.Tag}}",
		"--filter", "reference="+TestImageRef("*"))
	return strings.Fields(out), err
}

// builtStaticImageRefs lists the static base image references of this
// process that exist on the engine.
func builtStaticImageRefs() ([]string, error) {
	args := []string{"image", "ls", "--format", "{{.Repository}}:{{.Tag}}"}
	for _, name := range staticImageNames {
		args = append(args, "--filter", "reference="+StaticImageRef(name))
	}
	out, err := DockerE(args...)
	return strings.Fields(out), err
}

// scratchDirs are the process-wide temp dirs (binaries, build contexts)
// that outlive any one test; RemoveTestImages and RunAndCleanUp delete
// them.
var (
	scratchMu   sync.Mutex
	scratchDirs []string
)

// scratchDir makes a process-wide temp dir that RemoveTestImages deletes.
// It is not t.TempDir: what it holds is shared by every test of the process
// and must outlive the test that happened to build it.
func scratchDir(purpose string) (string, error) {
	dir, err := os.MkdirTemp("", "tinyforge-acctest-"+RunID()+"-"+purpose+"-")
	if err != nil {
		return "", fmt.Errorf("make a temp dir for %s: %w", purpose, err)
	}
	scratchMu.Lock()
	scratchDirs = append(scratchDirs, dir)
	scratchMu.Unlock()
	return dir, nil
}

func removeScratchDirs() error {
	scratchMu.Lock()
	dirs := scratchDirs
	scratchDirs = nil
	scratchMu.Unlock()
	var errs []error
	for _, dir := range dirs {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
