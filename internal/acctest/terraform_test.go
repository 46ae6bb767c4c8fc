package acctest

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestProviderBinaryBuildsTheRepositoryOnce(t *testing.T) {
	t.Parallel()
	path := ProviderBinary(t)
	if filepath.Base(path) != "terraform-provider-tinyforge" {
		t.Fatalf("ProviderBinary = %s, want a file named terraform-provider-tinyforge (dev_overrides looks for that name)", path)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
		t.Fatalf("%s: mode %v, want an executable file", path, info.Mode())
	}
	if again := ProviderBinary(t); again != path {
		t.Fatalf("second ProviderBinary = %s, want %s (built once per process)", again, path)
	}
}

// terraformData is a config of Terraform's built-in terraform_data only:
// the runner is tested without the provider, which may not serve yet.
func terraformData(input string) string {
	return `
variable "from_env" {
  type    = string
  default = "unset"
}

resource "terraform_data" "x" {
  input = "` + input + `"
}

output "from_env" {
  value = var.from_env
}
`
}

func TestWorkdirApplyPlanDestroy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	binary := ProviderBinary(t)
	w := NewWorkdir(t, binary)
	logPath := w.CaptureLog("INFO")
	w.WriteConfig(terraformData("a"))

	res, err := w.Apply(ctx, "TF_VAR_from_env=passed")
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if res.ExitCode != 0 || !strings.Contains(res.Stdout, "Apply complete! Resources: 1 added, 0 changed, 0 destroyed.") {
		t.Fatalf("apply: exit %d, stdout %q", res.ExitCode, res.Stdout)
	}
	// The env reached terraform, and the CLI config is the Workdir's own
	// (terraform warns that the override is in effect).
	if !strings.Contains(res.Stdout, `from_env = "passed"`) {
		t.Errorf("apply stdout %q: want the output set from TF_VAR_from_env", res.Stdout)
	}
	if out := res.Stdout + res.Stderr; !strings.Contains(out, "Provider development overrides are in effect") ||
		!strings.Contains(out, "tinyforge/tinyforge in "+filepath.Dir(binary)) {
		t.Errorf("apply output does not show the dev_overrides of the Workdir's CLI config:\n%s", out)
	}
	if res.Duration <= 0 {
		t.Errorf("Duration = %s, want the run's wall time", res.Duration)
	}

	res, err = w.Plan(ctx, "TF_VAR_from_env=passed")
	if err != nil || res.ExitCode != 0 || res.HasChanges {
		t.Fatalf("plan after apply: exit %d, HasChanges %v, %v; want 0, false (no diff)", res.ExitCode, res.HasChanges, err)
	}

	w.WriteConfig(terraformData("b"))
	res, err = w.Plan(ctx, "TF_VAR_from_env=passed")
	if err != nil || res.ExitCode != 2 || !res.HasChanges {
		t.Fatalf("plan after a change: exit %d, HasChanges %v, %v; want 2, true", res.ExitCode, res.HasChanges, err)
	}
	if _, err := w.Apply(ctx); err != nil {
		t.Fatalf("second apply: %v", err)
	}

	res, err = w.Destroy(ctx)
	if err != nil || !strings.Contains(res.Stdout, "Destroy complete! Resources: 1 destroyed.") {
		t.Fatalf("destroy: %v, stdout %q", err, res.Stdout)
	}
	res, err = w.Run(ctx, []string{"state", "list"})
	if err != nil || strings.TrimSpace(res.Stdout) != "" {
		t.Fatalf("state list after destroy = %q, %v; want empty", res.Stdout, err)
	}

	log, err := os.ReadFile(logPath)
	if err != nil || !strings.Contains(string(log), "[INFO]") {
		t.Fatalf("CaptureLog file %s: %v, %d bytes; want INFO lines", logPath, err, len(log))
	}
}

func TestWorkdirFailureIsAnErrorWithExitCode(t *testing.T) {
	t.Parallel()
	w := NewWorkdir(t, ProviderBinary(t))
	w.WriteConfig(`resource "terraform_data" "x" {
  input = undefined_thing
}`)
	for _, run := range []func(context.Context, ...string) (Result, error){w.Plan, w.Apply} {
		res, err := run(context.Background())
		if err == nil || res.ExitCode != 1 || res.HasChanges {
			t.Fatalf("run %v: exit %d, HasChanges %v, err %v; want exit 1 and an error", res.Args, res.ExitCode, res.HasChanges, err)
		}
		if !strings.Contains(err.Error(), "undefined_thing") {
			t.Errorf("error %q: want terraform's diagnostic in it", err)
		}
	}
}

// sleeperConfig makes apply start a shell that writes its PID to pidFile
// and sleeps: a stand-in for a provider that hangs.
func sleeperConfig(pidFile string) string {
	return `resource "terraform_data" "sleeper" {
  provisioner "local-exec" {
    command = "echo $$ > ` + pidFile + `; exec sleep 120"
  }
}`
}

// waitPID waits until pidFile holds a PID.
func waitPID(t *testing.T, pidFile string) int {
	t.Helper()
	var pid int
	Eventually(t, 30*time.Second, 50*time.Millisecond, "the provisioner never wrote "+pidFile, func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	return pid
}

// alive reports whether pid runs (a zombie waiting for a reaper does not).
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name: "pid (comm) S ...".
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

func TestProcessKillEndsTerraformAndItsChildren(t *testing.T) {
	t.Parallel()
	w := NewWorkdir(t, ProviderBinary(t))
	pidFile := filepath.Join(t.TempDir(), "pid")
	w.WriteConfig(sleeperConfig(pidFile))

	p, err := w.Start(context.Background(), []string{"apply", "-auto-approve", "-input=false", "-no-color"})
	if err != nil {
		t.Fatal(err)
	}
	child := waitPID(t, pidFile)
	if !strings.Contains(p.Stdout(), "Provisioning with 'local-exec'") {
		t.Errorf("Stdout while running = %q, want progress so far", p.Stdout())
	}
	if err := p.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	res, err := p.Wait()
	if err == nil || res.ExitCode != -1 {
		t.Fatalf("Wait after Kill: exit %d, err %v; want -1 and an error", res.ExitCode, err)
	}
	// The grandchild is gone too: Kill hit the whole process group.
	Eventually(t, 5*time.Second, 50*time.Millisecond, "the provisioner's sleep survived Kill", func() bool {
		return !alive(child)
	})
	if err := p.Kill(); err != nil {
		t.Fatalf("Kill after exit: %v, want nil", err)
	}
}

func TestRunEndsWithItsContext(t *testing.T) {
	t.Parallel()
	w := NewWorkdir(t, ProviderBinary(t))
	pidFile := filepath.Join(t.TempDir(), "pid")
	w.WriteConfig(sleeperConfig(pidFile))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type outcome struct {
		res Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := w.Apply(ctx)
		done <- outcome{res, err}
	}()
	child := waitPID(t, pidFile)
	cancel()
	o := <-done
	if o.err == nil || o.res.ExitCode == 0 {
		t.Fatalf("Apply with a cancelled context: exit %d, err %v; want a failure", o.res.ExitCode, o.err)
	}
	Eventually(t, 5*time.Second, 50*time.Millisecond, "the provisioner's sleep survived the cancelled context", func() bool {
		return !alive(child)
	})
}

func TestProcessInterruptStopsTerraformGracefully(t *testing.T) {
	t.Parallel()
	w := NewWorkdir(t, ProviderBinary(t))
	pidFile := filepath.Join(t.TempDir(), "pid")
	w.WriteConfig(sleeperConfig(pidFile))

	p, err := w.Start(context.Background(), []string{"apply", "-auto-approve", "-input=false", "-no-color"})
	if err != nil {
		t.Fatal(err)
	}
	waitPID(t, pidFile)
	if err := p.Interrupt(); err != nil {
		t.Fatalf("Interrupt: %v", err)
	}
	res, err := p.Wait()
	if err == nil || res.ExitCode != 1 {
		t.Fatalf("Wait after Interrupt: exit %d, err %v; want terraform's own exit code 1", res.ExitCode, err)
	}
	if out := res.Stdout + res.Stderr; !strings.Contains(out, "Interrupt received") {
		t.Fatalf("output after Interrupt:\n%s\nwant terraform's graceful shutdown message", out)
	}
}

func TestWorkdirCloseKillsWhatStillRuns(t *testing.T) {
	t.Parallel()
	w := NewWorkdir(t, ProviderBinary(t))
	pidFile := filepath.Join(t.TempDir(), "pid")
	w.WriteConfig(sleeperConfig(pidFile))
	p, err := w.Start(context.Background(), []string{"apply", "-auto-approve", "-input=false"})
	if err != nil {
		t.Fatal(err)
	}
	child := waitPID(t, pidFile)
	w.Close() // what the test's cleanup does when a test forgets a run
	if res, _ := p.Wait(); res.ExitCode != -1 {
		t.Fatalf("run after Close: exit %d, want -1 (killed)", res.ExitCode)
	}
	Eventually(t, 5*time.Second, 50*time.Millisecond, "the provisioner's sleep survived Close", func() bool {
		return !alive(child)
	})
}
