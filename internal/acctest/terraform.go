package acctest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ProviderAddress is the provider's registry address; the CLI config of a
// Workdir points it at a locally built binary (dev_overrides).
const ProviderAddress = "registry.terraform.io/tinyforge/tinyforge"

// providerBinaryName is the file name terraform looks for in a dev_overrides
// directory.
const providerBinaryName = "terraform-provider-tinyforge"

var (
	providerBinaryOnce sync.Once
	providerBinaryPath string
	providerBinaryErr  error
)

// ProviderBinary builds the provider from this repository once per test
// process and returns the binary's path; the test fails when it does not
// build. It is for tests that need the provider in a process of its own (a
// crash must kill the provider, not the test); others use the in-process
// provider factories.
func ProviderBinary(t testing.TB) string {
	t.Helper()
	providerBinaryOnce.Do(func() {
		dir, err := scratchDir("provider")
		if err != nil {
			providerBinaryErr = err
			return
		}
		providerBinaryPath, providerBinaryErr = BuildProviderBinary(dir)
	})
	if providerBinaryErr != nil {
		t.Fatalf("build the provider: %v", providerBinaryErr)
	}
	return providerBinaryPath
}

// BuildProviderBinary compiles the repository's main package into
// dir/terraform-provider-tinyforge and returns that path.
func BuildProviderBinary(dir string) (string, error) {
	out := filepath.Join(dir, providerBinaryName)
	if err := goBuild(context.Background(), out, "."); err != nil {
		return "", err
	}
	return out, nil
}

// Workdir is a terraform working directory driven through the real
// terraform CLI, with the provider taken from a local binary: no registry,
// no `terraform init`. A test makes one with NewWorkdir, writes its config,
// and applies; processes still running when the test ends are killed.
type Workdir struct {
	// Dir holds the configuration and the state (terraform.tfstate).
	Dir string

	t       testing.TB // nil for a Workdir of OpenWorkdir
	root    string     // Dir, the CLI config and the plugin cache live under it
	baseEnv []string   // every run's environment before its own env

	mu      sync.Mutex
	running map[*Process]struct{}
}

// NewWorkdir makes a working directory in a temp dir of the test, whose CLI
// config overrides ProviderAddress with the directory of providerBinary
// (see ProviderBinary).
func NewWorkdir(t testing.TB, providerBinary string) *Workdir {
	t.Helper()
	w, err := OpenWorkdir(t.TempDir(), providerBinary)
	if err != nil {
		t.Fatalf("%v", err)
	}
	w.t = t
	t.Cleanup(w.Close)
	return w
}

// OpenWorkdir is NewWorkdir for a program that is not a test (the
// benchmark): the working directory goes under root, which must exist and
// which the caller removes, after Close.
func OpenWorkdir(root, providerBinary string) (*Workdir, error) {
	w := &Workdir{
		Dir:     filepath.Join(root, "config"),
		root:    root,
		running: map[*Process]struct{}{},
	}
	cache := filepath.Join(root, "plugin-cache")
	for _, dir := range []string{w.Dir, cache} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, fmt.Errorf("make the terraform working directory: %w", err)
		}
	}
	cliConfig := filepath.Join(root, "cli.tfrc")
	// dev_overrides makes terraform run the binary as it is, skipping the
	// registry and the lock file; direct {} keeps every other provider on
	// the normal path (unused here: there is no network).
	rc := fmt.Sprintf(`provider_installation {
  dev_overrides {
    %q = %s
  }
  direct {}
}
plugin_cache_dir = %s
`, ProviderAddress, strconv.Quote(filepath.Dir(providerBinary)), strconv.Quote(cache))
	if err := os.WriteFile(cliConfig, []byte(rc), 0o644); err != nil {
		return nil, fmt.Errorf("write the terraform CLI config: %w", err)
	}

	// The caller's TF_* variables (a TF_CLI_CONFIG_FILE, TF_LOG, TF_CLI_ARGS,
	// TF_WORKSPACE) would change what a run does; each run states its own.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TF_") {
			w.baseEnv = append(w.baseEnv, kv)
		}
	}
	w.baseEnv = append(w.baseEnv,
		"TF_CLI_CONFIG_FILE="+cliConfig,
		"TF_IN_AUTOMATION=1",
		"CHECKPOINT_DISABLE=1",
	)
	return w, nil
}

// NewUserWorkdir makes a working directory whose terraform finds providers
// as a user's does, with no CLI configuration: TF_CLI_CONFIG_FILE names an
// empty file, and HOME is home, whose .terraform.d/plugins is the implied
// local mirror that `make install` fills. Runs need `terraform init` first.
func NewUserWorkdir(t testing.TB, home string) *Workdir {
	t.Helper()
	root := t.TempDir()
	w := &Workdir{Dir: filepath.Join(root, "config"), root: root, t: t, running: map[*Process]struct{}{}}
	cliConfig := filepath.Join(root, "empty.tfrc")
	if err := os.Mkdir(w.Dir, 0o755); err != nil {
		t.Fatalf("make the terraform working directory: %v", err)
	}
	if err := os.WriteFile(cliConfig, nil, 0o644); err != nil {
		t.Fatalf("write the empty CLI config: %v", err)
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TF_") && !strings.HasPrefix(kv, "HOME=") {
			w.baseEnv = append(w.baseEnv, kv)
		}
	}
	w.baseEnv = append(w.baseEnv, "HOME="+home, "TF_CLI_CONFIG_FILE="+cliConfig, "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1")
	t.Cleanup(w.Close)
	return w
}

// WriteConfig replaces the configuration with hcl (main.tf). A failure
// fails the test (panics in a Workdir of OpenWorkdir: writing into one's
// own temp dir does not fail but on a broken machine).
func (w *Workdir) WriteConfig(hcl string) {
	path := filepath.Join(w.Dir, "main.tf")
	if err := os.WriteFile(path, []byte(hcl), 0o644); err != nil {
		if w.t == nil {
			panic(fmt.Sprintf("write %s: %v", path, err))
		}
		w.t.Helper()
		w.t.Fatalf("write %s: %v", path, err)
	}
}

// CaptureLog makes every later run log at level (TRACE, DEBUG, INFO, ...)
// into the returned file, which terraform and the provider append to. Call
// it before starting runs. The
// log can hold provider config values: read it in the test, do not print it
// whole.
func (w *Workdir) CaptureLog(level string) string {
	path := filepath.Join(w.root, "terraform.log")
	w.baseEnv = append(w.baseEnv, "TF_LOG="+level, "TF_LOG_PATH="+path)
	return path
}

// Result is what one terraform run did.
type Result struct {
	Args           []string
	Stdout, Stderr string
	// ExitCode is the process's exit code, -1 when a signal ended it.
	ExitCode int
	Duration time.Duration
	// HasChanges is set by Plan: the plan is not empty (exit code 2 of
	// -detailed-exitcode).
	HasChanges bool
}

// Apply runs terraform apply -auto-approve; env entries ("KEY=VALUE") are
// added to the environment of terraform and of the provider it starts.
func (w *Workdir) Apply(ctx context.Context, env ...string) (Result, error) {
	return w.Run(ctx, []string{"apply", "-auto-approve", "-input=false", "-no-color"}, env...)
}

// Destroy runs terraform destroy -auto-approve.
func (w *Workdir) Destroy(ctx context.Context, env ...string) (Result, error) {
	return w.Run(ctx, []string{"destroy", "-auto-approve", "-input=false", "-no-color"}, env...)
}

// Plan runs terraform plan -detailed-exitcode. A plan with changes is not an
// error: it sets Result.HasChanges.
func (w *Workdir) Plan(ctx context.Context, env ...string) (Result, error) {
	res, err := w.Run(ctx, []string{"plan", "-input=false", "-no-color", "-detailed-exitcode"}, env...)
	if res.ExitCode == 2 {
		res.HasChanges = true
		err = nil
	}
	return res, err
}

// Run runs terraform with args in Dir and waits for it. The error is nil
// only for exit code 0; otherwise it carries the code and the tail of
// stderr.
func (w *Workdir) Run(ctx context.Context, args []string, env ...string) (Result, error) {
	p, err := w.Start(ctx, args, env...)
	if err != nil {
		return Result{Args: args, ExitCode: -1}, err
	}
	return p.Wait()
}

// Process is a terraform run in progress.
type Process struct {
	args   []string
	cmd    *exec.Cmd
	start  time.Time
	stdout LockedBuffer
	stderr LockedBuffer
	done   chan struct{}
	result Result
	err    error
}

// Start starts terraform with args in Dir without waiting for it: for tests
// that act while it runs. Terraform runs in a process group of its own, so
// that Kill (and ctx ending) also ends the provider and anything else it
// started.
func (w *Workdir) Start(ctx context.Context, args []string, env ...string) (*Process, error) {
	p := &Process{args: args, done: make(chan struct{})}
	cmd := exec.CommandContext(ctx, "terraform", args...)
	cmd.Dir = w.Dir
	cmd.Env = append(append([]string{}, w.baseEnv...), env...)
	cmd.Stdout, cmd.Stderr = &p.stdout, &p.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = p.Kill
	// A provider that outlives terraform (killed parent) could hold the
	// output pipes open; Wait must not hang on it.
	cmd.WaitDelay = 5 * time.Second
	p.cmd = cmd

	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start terraform %s: %w", strings.Join(args, " "), err)
	}
	w.mu.Lock()
	w.running[p] = struct{}{}
	w.mu.Unlock()
	go func() {
		waitErr := cmd.Wait()
		p.result = Result{
			Args:     args,
			Stdout:   p.stdout.String(),
			Stderr:   p.stderr.String(),
			ExitCode: cmd.ProcessState.ExitCode(),
			Duration: time.Since(p.start),
		}
		if waitErr != nil {
			p.err = fmt.Errorf("terraform %s: %v (exit code %d): %s",
				strings.Join(args, " "), waitErr, p.result.ExitCode, lastLines(p.result.Stderr, 20))
		}
		w.mu.Lock()
		delete(w.running, p)
		w.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// PID is terraform's process ID, which is also its process group's ID.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Stdout is what terraform has written to stdout so far.
func (p *Process) Stdout() string { return p.stdout.String() }

// Wait waits for terraform to exit and returns its result; the error is nil
// only for exit code 0. It may be called more than once.
func (p *Process) Wait() (Result, error) {
	<-p.done
	return p.result, p.err
}

// Kill sends SIGKILL to terraform's process group: terraform, the provider
// and any provisioner command die at once, as in a power cut. It does
// nothing once terraform has exited.
func (p *Process) Kill() error {
	return p.signalGroup(syscall.SIGKILL)
}

// Interrupt sends SIGINT to terraform alone, like Ctrl-C: terraform asks the
// provider to stop and exits after the operation in flight.
func (p *Process) Interrupt() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("interrupt terraform (pid %d): %w", p.PID(), err)
	}
	return nil
}

func (p *Process) signalGroup(sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil // reaped: the group ID may belong to someone else by now
	default:
	}
	if err := syscall.Kill(-p.PID(), sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal terraform's process group %d: %w", p.PID(), err)
	}
	return nil
}

// Close kills the runs still in progress (what a failed or hurried test
// left running) and waits for them. NewWorkdir calls it when the test ends.
func (w *Workdir) Close() {
	w.mu.Lock()
	procs := make([]*Process, 0, len(w.running))
	for p := range w.running {
		procs = append(procs, p)
	}
	w.mu.Unlock()
	for _, p := range procs {
		p.Kill()
		p.Wait()
	}
}

// LockedBuffer is an output buffer that can be read while another goroutine
// (a process, a logger) writes to it.
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lastLines keeps an error message readable: terraform's diagnostics end
// with the part that matters.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
