package acctest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// hostProcess is a long-running process of a test host (dockerd, sshd,
// Caddy), started by this test process and stopped by its PID.
type hostProcess struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
}

// startHostProcess starts name (for messages) as path args..., its output
// to logPath, in a process group of its own so that a Ctrl-C of the test
// reaches the test's cleanup, not the process directly.
func startHostProcess(name, logPath, path string, args ...string) (*hostProcess, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &hostProcess{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	return p, nil
}

// waitReady polls ready until it succeeds, the process exits or ctx ends.
func (p *hostProcess) waitReady(ctx context.Context, ready func(context.Context) error) error {
	var last error
	for {
		if last = ready(ctx); last == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited (%s) before it was ready; its log:\n%s", p.name, p.cmd.ProcessState, p.logTail())
		case <-ctx.Done():
			return fmt.Errorf("%s was not ready: %v; its log:\n%s", p.name, last, p.logTail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM, waits up to grace, then kills. It does nothing for a
// process that has exited.
func (p *hostProcess) stop(grace time.Duration) error {
	if p == nil {
		return nil
	}
	select {
	case <-p.exited:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.exited:
		return fmt.Errorf("%s (pid %d) did not stop within %s of SIGTERM and was killed", p.name, p.cmd.Process.Pid, grace)
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) survived SIGKILL", p.name, p.cmd.Process.Pid)
	}
}

// logTail is the end of the process's log, for failure messages.
func (p *hostProcess) logTail() string { return lastLines(p.logText(), 30) }

// logText is the process's whole log.
func (p *hostProcess) logText() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(read %s: %v)", p.logPath, err)
	}
	return string(b)
}

// run runs a command and returns an error carrying its stderr.
func run(name string, args ...string) error {
	_, err := output(name, args...)
	return err
}

// output runs a command and returns its trimmed stdout, or an error
// carrying its stderr.
func output(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}
