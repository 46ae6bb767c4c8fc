package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// noopAddress is where the no-op provider is served (see noopprovider).
const noopAddress = "registry.terraform.io/tinyforge-bench/noop"

// labelWorkload is the label the provider puts on every container it runs.
const labelWorkload = "tinyforge.workload"

// env is what every scenario runs against: the test images, the two
// provider binaries, one real Caddy, one Docker network, and the temp dir
// that holds the terraform working directories. Everything it creates is
// named after the run (prefix) or labelled acctest.LabelTestRun, and close
// removes it.
type env struct {
	tmp      string
	prefix   string // workload names start with it: "tfb-<run id>"
	images   acctest.Images
	provider string // terraform-provider-tinyforge
	noop     string // terraform-provider-noop
	noopRC   string // CLI config serving noop at noopAddress
	// schema is ./schemaprovider, named terraform-provider-tinyforge in a
	// directory of its own: tinyforge's schema without its behaviour.
	schema string
	caddy  *acctest.Caddy
	// httpsCaddy serves scenario 1's HTTPS run: http_port set to its HTTP
	// port, certificates from its internal CA.
	httpsCaddy *acctest.Caddy
	network    string

	mu       sync.Mutex
	workdirs []*acctest.Workdir
}

// newEnv builds and starts everything. On error, what was made so far is
// still removed by close.
func newEnv(ctx context.Context, e *env) error {
	var err error
	if e.tmp, err = os.MkdirTemp("", "tinyforge-bench-"); err != nil {
		return err
	}
	e.prefix = "tfb-" + acctest.RunID()
	e.network = "tfb-net-" + acctest.RunID()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		imgs, err := acctest.BuildTestImages(gctx)
		e.images = imgs
		return err
	})
	g.Go(func() error {
		dir := filepath.Join(e.tmp, "bin-tinyforge")
		if err := os.Mkdir(dir, 0o755); err != nil {
			return err
		}
		bin, err := acctest.BuildProviderBinary(dir)
		e.provider = bin
		return err
	})
	g.Go(func() error { return e.buildNoop(gctx) })
	g.Go(func() error {
		var err error
		e.schema, err = buildBinary(gctx, e.tmp, "bin-schema", "terraform-provider-tinyforge", "./internal/bench/schemaprovider")
		return err
	})
	g.Go(func() error {
		_, err := acctest.DockerE("network", "create",
			"--label", acctest.LabelTestRun+"="+acctest.RunID(),
			"--label", "tinyforge.managed=true", e.network)
		return err
	})
	g.Go(func() error {
		c, err := acctest.StartCaddyProcess(gctx)
		e.caddy = c
		return err
	})
	g.Go(func() error {
		c, err := acctest.StartCaddyProcessWithConfig(gctx, acctest.HTTPSConfig)
		e.httpsCaddy = c
		return err
	})
	return g.Wait()
}

// buildNoop compiles ./internal/bench/noopprovider from this module, so it
// uses exactly our terraform-plugin-framework version, and writes the CLI
// config that serves it.
func (e *env) buildNoop(ctx context.Context) error {
	var err error
	if e.noop, err = buildBinary(ctx, e.tmp, "bin-noop", "terraform-provider-noop", "./internal/bench/noopprovider"); err != nil {
		return err
	}
	e.noopRC = filepath.Join(e.tmp, "noop.tfrc")
	rc := fmt.Sprintf("provider_installation {\n  dev_overrides {\n    %q = %s\n  }\n  direct {}\n}\n",
		noopAddress, strconv.Quote(filepath.Dir(e.noop)))
	return os.WriteFile(e.noopRC, []byte(rc), 0o644)
}

// buildBinary compiles pkg (a package of this module) into tmp/dir/name.
func buildBinary(ctx context.Context, tmp, dir, name, pkg string) (string, error) {
	root, err := acctest.ModuleRoot()
	if err != nil {
		return "", err
	}
	if err := os.Mkdir(filepath.Join(tmp, dir), 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(tmp, dir, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v: %s", pkg, err, b)
	}
	return out, nil
}

// workdir is a terraform working directory of one provider binary.
type workdir struct {
	*acctest.Workdir
	binary string   // the provider it runs, for the RSS sampler
	env    []string // added to every run
}

// tinyforgeWorkdir makes a working directory running our provider.
func (e *env) tinyforgeWorkdir(name string) (*workdir, error) {
	w, err := e.openWorkdir(name, e.provider)
	if err != nil {
		return nil, err
	}
	return &workdir{Workdir: w, binary: e.provider}, nil
}

// schemaWorkdir makes a working directory running the schema-only
// provider at tinyforge's address.
func (e *env) schemaWorkdir(name string) (*workdir, error) {
	w, err := e.openWorkdir(name, e.schema)
	if err != nil {
		return nil, err
	}
	return &workdir{Workdir: w, binary: e.schema}, nil
}

// noopWorkdir makes a working directory running the no-op provider: its
// runs take the CLI config of noopRC (the later of two equal variables
// wins in os/exec).
func (e *env) noopWorkdir(name string) (*workdir, error) {
	w, err := e.openWorkdir(name, e.noop)
	if err != nil {
		return nil, err
	}
	return &workdir{Workdir: w, binary: e.noop, env: []string{"TF_CLI_CONFIG_FILE=" + e.noopRC}}, nil
}

func (e *env) openWorkdir(name, binary string) (*acctest.Workdir, error) {
	root := filepath.Join(e.tmp, "wd-"+name)
	if err := os.Mkdir(root, 0o755); err != nil {
		return nil, err
	}
	w, err := acctest.OpenWorkdir(root, binary)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.workdirs = append(e.workdirs, w)
	e.mu.Unlock()
	return w, nil
}

func (w *workdir) apply(ctx context.Context, extraArgs []string, env ...string) (acctest.Result, error) {
	args := append([]string{"apply", "-auto-approve", "-input=false", "-no-color"}, extraArgs...)
	return w.Run(ctx, args, append(append([]string{}, w.env...), env...)...)
}

func (w *workdir) destroy(ctx context.Context) (acctest.Result, error) {
	return w.Run(ctx, []string{"destroy", "-auto-approve", "-input=false", "-no-color"}, w.env...)
}

func (w *workdir) plan(ctx context.Context, env ...string) (acctest.Result, error) {
	return w.Plan(ctx, append(append([]string{}, w.env...), env...)...)
}

// sampled runs terraform with args while an rssSampler watches the
// provider processes it starts; it returns the result and what the sampler
// saw of them.
func (w *workdir) sampled(ctx context.Context, args []string, env ...string) (acctest.Result, sampled, error) {
	p, err := w.Start(ctx, args, append(append([]string{}, w.env...), env...)...)
	if err != nil {
		return acctest.Result{}, sampled{}, err
	}
	s := newRSSSampler(p.PID(), w.binary)
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.run(sctx); close(done) }()
	res, err := p.Wait()
	res.HasChanges = args[0] == "plan" && res.ExitCode == 2
	stop()
	<-done
	return res, s.result(), err
}

// close removes everything the run made, whatever state it is in: the
// terraform runs still going, the containers of our workloads (by name
// prefix: the provider labels them tinyforge.workload, not with the test
// label), whatever carries the test label (floor containers, the network),
// the images, Caddy and the temp dir. It returns what it could not remove.
func (e *env) close() error {
	e.mu.Lock()
	wds := e.workdirs
	e.mu.Unlock()
	for _, w := range wds {
		w.Close()
	}
	var errs []error
	if e.prefix != "" {
		if err := removeWorkloadContainers(e.prefix + "-"); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := acctest.RemoveRunObjects(acctest.RunID()); err != nil {
		errs = append(errs, err)
	}
	if err := acctest.RemoveTestImages(); err != nil {
		errs = append(errs, err)
	}
	for _, c := range []*acctest.Caddy{e.caddy, e.httpsCaddy} {
		if c != nil {
			c.Stop()
		}
	}
	if e.tmp != "" {
		if err := os.RemoveAll(e.tmp); err != nil {
			errs = append(errs, err)
		}
	}
	if e.prefix != "" {
		if left, err := workloadContainers(e.prefix + "-"); err != nil || len(left) > 0 {
			errs = append(errs, fmt.Errorf("containers left after cleanup: %v %v", left, err))
		}
	}
	return errors.Join(errs...)
}

// workloadContainers lists the IDs of containers whose tinyforge.workload
// label starts with namePrefix.
func workloadContainers(namePrefix string) ([]string, error) {
	out, err := acctest.DockerE("container", "ls", "--all", "--filter", "label="+labelWorkload,
		"--format", `{{.ID}} {{.Label "`+labelWorkload+`"}}`)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && strings.HasPrefix(f[1], namePrefix) {
			ids = append(ids, f[0])
		}
	}
	return ids, nil
}

// removeWorkloadContainers force-removes them, a batch at a time so that
// the command lines stay short.
func removeWorkloadContainers(namePrefix string) error {
	ids, err := workloadContainers(namePrefix)
	if err != nil {
		return err
	}
	var errs []error
	for len(ids) > 0 {
		n := min(len(ids), 50)
		if _, err := acctest.DockerE(append([]string{"container", "rm", "--force", "--volumes"}, ids[:n]...)...); err != nil {
			errs = append(errs, err)
		}
		ids = ids[n:]
	}
	return errors.Join(errs...)
}

// machine describes where the figures were taken.
func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if kb, err := procStatusKB(string(b), "MemTotal"); err == nil {
			m.MemoryGiB = float64(kb) / (1 << 20)
		}
	}
	m.Docker, _ = acctest.DockerE("version", "--format", "{{.Server.Version}}")
	if out, err := exec.Command("terraform", "version").Output(); err == nil {
		m.Terraform = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	if out, err := exec.Command(acctest.CaddyBinary, "version").Output(); err == nil {
		m.Caddy = strings.TrimSpace(string(out))
	}
	return m
}

// since rounds an elapsed time for progress lines.
func since(t time.Time) string { return time.Since(t).Round(100 * time.Millisecond).String() }
