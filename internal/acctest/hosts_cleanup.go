package acctest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// deleteNamespace deletes the host's namespace; its end of the veth pair
// goes with it.
func (h *Host) deleteNamespace() error {
	if err := killNamespaceProcesses(h.Name); err != nil {
		return err
	}
	return run("ip", "netns", "del", h.Name)
}

// killNamespaceProcesses kills, by PID, what still runs in a test host's
// namespace: only processes the test started (through its dockerd, sshd
// or Caddy) ever run there.
func killNamespaceProcesses(name string) error {
	out, err := output("ip", "netns", "pids", name)
	if err != nil {
		if _, statErr := os.Stat("/run/netns/" + name); os.IsNotExist(statErr) {
			return nil
		}
		return err
	}
	pids := strings.Fields(out)
	for _, p := range pids {
		if pid, err := strconv.Atoi(p); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if len(pids) == 0 {
		return nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if out, _ := output("ip", "netns", "pids", name); strings.TrimSpace(out) == "" {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("processes %v in namespace %s did not end", pids, name)
}

// undoStack is what a fixture has created, as the steps that remove it,
// run last first.
type undoStack struct {
	mu    sync.Mutex
	steps []undoStep
}

type undoStep struct {
	what string
	fn   func() error
}

func (u *undoStack) push(what string, fn func() error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.steps = append(u.steps, undoStep{what, fn})
}

// run runs every step, last first, and empties the stack; a step that
// fails does not stop the others.
func (u *undoStack) run() error {
	u.mu.Lock()
	steps := u.steps
	u.steps = nil
	u.mu.Unlock()
	var errs []error
	for i := len(steps) - 1; i >= 0; i-- {
		if err := steps[i].fn(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", steps[i].what, err))
		}
	}
	return errors.Join(errs...)
}

// removeHostDir detaches whatever is still mounted under dir and removes
// it.
func removeHostDir(dir string) error {
	if err := unmountUnder(dir); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// unmountUnder detaches every mount below dir, deepest first: what an
// engine that was killed leaves (overlay layers, namespace files).
func unmountUnder(dir string) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		if p := unescapeMountPath(f[4]); p == dir || strings.HasPrefix(p, dir+"/") {
			points = append(points, p)
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// liveHosts are the Hosts of this process not closed yet, for the
// last-resort cleanup.
var (
	liveHostsMu sync.Mutex
	liveHosts   = map[*Hosts]struct{}{}
)

func registerHosts(hs *Hosts) {
	liveHostsMu.Lock()
	defer liveHostsMu.Unlock()
	liveHosts[hs] = struct{}{}
}

func unregisterHosts(hs *Hosts) {
	liveHostsMu.Lock()
	defer liveHostsMu.Unlock()
	delete(liveHosts, hs)
}

// RemoveHostLeftovers is the last resort of RunAndCleanUp: it closes the
// Hosts of runID that this process still has open, then removes whatever
// else carries runID in its name: namespaces (and what runs in them), links,
// FORWARD rules and directories under /var/lib/tinyforge-hosts. It returns
// what it had to remove: anything there is a test that leaks. Hosts of any
// other run ID are left alone, also this process's own (a test that calls
// it with a run ID of its own runs beside tests whose hosts are in use).
func RemoveHostLeftovers(runID string) (leaked []string, err error) {
	prefix := "tf" + runID
	liveHostsMu.Lock()
	open := make([]*Hosts, 0, len(liveHosts))
	for hs := range liveHosts {
		if strings.HasPrefix(hs.prefix, prefix) {
			open = append(open, hs)
		}
	}
	liveHostsMu.Unlock()
	var errs []error
	for _, hs := range open {
		leaked = append(leaked, "test hosts "+hs.prefix)
		errs = append(errs, hs.Close())
	}

	// Namespaces: what runs there first, so that the engines' mounts go.
	if out, err := output("ip", "netns", "list"); err == nil {
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], prefix) {
				leaked = append(leaked, "namespace "+f[0])
				errs = append(errs, killNamespaceProcesses(f[0]), run("ip", "netns", "del", f[0]))
			}
		}
	} else {
		errs = append(errs, err)
	}
	if rules, err := output("iptables", "-w", "-S", "FORWARD"); err == nil {
		for _, rule := range strings.Split(rules, "\n") {
			if strings.HasPrefix(rule, "-A FORWARD ") && strings.Contains(rule, " "+prefix) {
				leaked = append(leaked, "iptables rule "+rule)
				errs = append(errs, run("iptables", append([]string{"-w", "-D"}, strings.Fields(rule)[1:]...)...))
			}
		}
	} else {
		errs = append(errs, err)
	}
	if links, err := net.Interfaces(); err == nil {
		for _, l := range links {
			if strings.HasPrefix(l.Name, prefix) {
				leaked = append(leaked, "link "+l.Name)
				errs = append(errs, run("ip", "link", "del", l.Name))
			}
		}
	} else {
		errs = append(errs, err)
	}
	dirs, _ := filepath.Glob(filepath.Join(hostsRoot, prefix+"*"))
	for _, dir := range dirs {
		leaked = append(leaked, "directory "+dir)
		errs = append(errs, removeHostDir(dir))
	}
	return leaked, errors.Join(errs...)
}
