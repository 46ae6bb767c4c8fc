// Package compose is the compose source: a compose stack from a Git
// repository, deployed with the semantics users know from `docker compose
// up` (services, build:, depends_on with health conditions, named volumes,
// networks, env interpolation) through the compose project's own Go
// packages (internal/compose). It is stack-managed: compose recreates what
// changed, except the routed service, whose new container starts beside
// the old one (start-first); two generations of the stack never run side
// by side, and blue-green is refused.
//
// What every Git source shares is in gitbuild; this package says what is
// special here: which compose files and profiles make the project, which
// service the workload's domains route to, and that the project is checked
// at the planned commit (Check) before anything runs.
package compose

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/compose"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/git"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/gitbuild"
)

// Kind is the source kind and schema block name.
const Kind = "compose"

// CheckoutRoot is where each compose workload keeps its checkout, one
// directory per workload, at the same path on every deploy: compose's
// configuration holds the project's absolute paths, so a new path would
// make every service with a relative bind mount look changed. The provider
// may set it; by default the user's cache directory.
var CheckoutRoot = gitbuild.CacheDir("compose")

// Config is a compose source as the user writes it.
type Config struct {
	gitbuild.Repo
	// Files are the compose files, relative to the repository root,
	// applied in order; empty: compose's own lookup at the root.
	Files []string `json:"files,omitempty"`
	// Profiles are the compose profiles enabled.
	Profiles []string `json:"profiles,omitempty"`
	// Service is the service the workload's domains route to.
	Service string `json:"service,omitempty"`
	// Port is that service's container port.
	Port int `json:"port,omitempty"`
	// Healthcheck is the HTTP path that gates Service; "" leaves the gate
	// to compose (its healthchecks, else running).
	Healthcheck string `json:"healthcheck,omitempty"`
	// RemoveVolumes makes destroy remove the stack's named volumes.
	RemoveVolumes bool `json:"remove_volumes,omitempty"`
}

func init() {
	plugin.Register(Kind, func(public []byte) (plugin.Source, error) {
		var c Config
		if err := json.Unmarshal(public, &c); err != nil {
			return nil, fmt.Errorf("decode compose source config: %w", err)
		}
		return &c, nil
	})
}

// String describes the source without its token.
func (c Config) String() string {
	return fmt.Sprintf("compose source %s (files %q, service %q)", c.Repo, c.Files, c.Service)
}

// GoString is String for %#v.
func (c Config) GoString() string { return c.String() }

// Kind implements plugin.Source.
func (c *Config) Kind() string { return Kind }

var profileRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// Validate implements plugin.Source: the rules that need no clone. The
// project itself is checked at the planned commit (Check).
func (c *Config) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(c.Repo.Validate())
	for i, f := range c.Files {
		add(ValidateFile(i, f))
	}
	for i, p := range c.Profiles {
		if !profileRE.MatchString(p) {
			add(fmt.Errorf("profiles[%d] must be a compose profile name ([a-zA-Z0-9][a-zA-Z0-9_.-]*) (got %q)", i, p))
		}
	}
	if c.Service != "" && c.Port == 0 {
		add(fmt.Errorf("port is required with service %q: the container port its route goes to", c.Service))
	}
	if c.Port != 0 {
		add(plugin.ValidatePort(c.Port))
		if c.Service == "" {
			add(fmt.Errorf("service is required with port %d: the service that listens on it", c.Port))
		}
	}
	if c.Healthcheck != "" && c.Service == "" {
		add(fmt.Errorf("service is required with healthcheck %q: the service it gates", c.Healthcheck))
	}
	add(plugin.ValidateHealthcheck(c.Healthcheck))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("compose source: %w", err)
	}
	return nil
}

// ValidateFile is the rule for files[i]: a compose file relative to the
// repository root, clean, no "..".
func ValidateFile(i int, f string) error {
	return git.ValidateRelPath(fmt.Sprintf("files[%d]", i), f)
}

// DefaultStrategy implements plugin.Source: a routed stack updates its
// routed service start-first (its new container gated beside the old one
// before it takes the route); otherwise compose recreates what changed.
func (c *Config) DefaultStrategy(routed bool) plugin.Strategy {
	if routed && c.Service != "" {
		return plugin.StrategyStartFirst
	}
	return plugin.StrategyRecreate
}

// RefuseStrategy implements plugin.StrategyRefuser: a stack is one compose
// project, not two generations side by side.
func (c *Config) RefuseStrategy(s plugin.Strategy) error {
	if s == plugin.StrategyBlueGreen {
		return fmt.Errorf("deploy_strategy %q cannot be used with a compose source: the stack is one compose project, "+
			"whose services other than the routed one run once and are recreated in place by compose; leave "+
			"deploy_strategy empty for the stack's own start-first update of its routed service (its new container "+
			"gated beside the old one before the route moves), or use %q to let compose recreate it in place",
			string(s), string(plugin.StrategyRecreate))
	}
	return nil
}

// Stack implements plugin.Stack.
func (c *Config) Stack() plugin.StackConfig {
	return plugin.StackConfig{Service: c.Service, Port: c.Port, RemoveVolumes: c.RemoveVolumes}
}

// Container implements plugin.Source: what the routed service listens on.
func (c *Config) Container() plugin.Container {
	return plugin.Container{Port: c.Port, Healthcheck: c.Healthcheck}
}

// Fingerprint implements plugin.Source: the repository and what selects
// the project out of it. The project's own content comes with the commit,
// which the caller compares on its own.
func (c *Config) Fingerprint() string {
	b, err := json.Marshal(struct {
		Repo     string   `json:"repo"`
		Files    []string `json:"files"`
		Profiles []string `json:"profiles"`
		Service  string   `json:"service"`
		Port     int      `json:"port"`
	}{c.Repo.Identity(), c.Files, c.Profiles, c.Service, c.Port})
	if err != nil {
		panic(fmt.Sprintf("compose source: encode fingerprint: %v", err)) // strings and ints always encode
	}
	return Kind + "|" + string(b)
}

// Public implements plugin.Source: the config without the token.
func (c *Config) Public() any {
	p := *c
	p.Repo = p.Repo.Public()
	return p
}

// Resolve implements plugin.Resolver, naming the source in its errors.
func (c *Config) Resolve(ctx context.Context) (string, error) {
	sha, err := c.Repo.Resolve(ctx)
	if err != nil {
		return "", fmt.Errorf("compose source: %w", err)
	}
	return sha, nil
}

// Report implements plugin.Reporter, naming the source in its errors.
func (c *Config) Report(ctx context.Context, workload, revision string, state plugin.DeployState, description string) error {
	if err := c.Repo.Report(ctx, workload, revision, state, description); err != nil {
		return fmt.Errorf("compose source: %w", err)
	}
	return nil
}

// checked remembers the checks that passed in this process, so that a plan
// clones a revision once however often it is asked.
var checked sync.Map // key -> struct{}

// Check implements plugin.Checker: the compose files at revision load,
// validate, and have the routed service with the port declared. It clones
// into a temporary directory, removed after.
func (c *Config) Check(ctx context.Context, revision string, vars map[string]string) error {
	key := checkKey(c, revision, vars)
	if _, ok := checked.Load(key); ok {
		return nil
	}
	dir, err := os.MkdirTemp("", "tinyforge-compose-check-")
	if err != nil {
		return fmt.Errorf("compose source: %w", err)
	}
	defer os.RemoveAll(dir)
	if _, err := c.load(ctx, dir, "check", revision, vars, nil); err != nil {
		return err
	}
	checked.Store(key, struct{}{})
	return nil
}

// checkKey identifies a check: the config, the revision and the vars,
// hashed (vars are secrets).
func checkKey(c *Config, revision string, vars map[string]string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", c.Fingerprint(), revision)
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		fmt.Fprintf(h, "%s=%s\x00", k, vars[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// load clones revision into dir and loads the project named name from it,
// checking the routed service and its port.
func (c *Config) load(ctx context.Context, dir, name, revision string, vars map[string]string, progress func(string)) (*compose.Project, error) {
	if _, err := git.CloneInto(ctx, c.Repo.WithDefaults().GitRepo(), revision, dir, progress); err != nil {
		return nil, fmt.Errorf("compose source: %w", c.Repo.CloneError(err))
	}
	p, err := compose.Load(ctx, compose.LoadSpec{
		Dir: dir, Files: c.Files, Profiles: c.Profiles, Env: vars, ProjectName: name, Commit: revision,
	})
	if err != nil {
		return nil, fmt.Errorf("compose source: at commit %s: %w", revision, err)
	}
	if c.Service == "" {
		return p, nil
	}
	svc, ok := p.Service(c.Service)
	if !ok {
		var names []string
		for _, s := range p.Services() {
			names = append(names, s.Name)
		}
		return nil, fmt.Errorf("compose source: at commit %s: service %q is not in the project (its services: %s)",
			revision, c.Service, strings.Join(names, ", "))
	}
	var declared []int
	for _, port := range svc.Ports {
		declared = append(declared, port.Target)
	}
	declared = append(declared, svc.Expose...)
	if !slices.Contains(declared, c.Port) {
		return nil, fmt.Errorf("compose source: at commit %s: port %d is not a port service %q declares (ports and expose: %v); "+
			"declare it in the compose file, or set port to one of those", revision, c.Port, c.Service, declared)
	}
	return p, nil
}

// Produce implements plugin.Source: the project at exactly env.Revision, in
// the workload's checkout (CheckoutRoot/<workload>), loaded and checked.
// compose builds its images when the stack comes up.
func (c *Config) Produce(ctx context.Context, env plugin.ProduceEnv) (plugin.Artifact, error) {
	if err := c.Validate(); err != nil {
		return plugin.Artifact{}, err
	}
	revision := env.Revision
	if revision == "" {
		var err error
		if revision, err = c.Resolve(ctx); err != nil {
			return plugin.Artifact{}, err
		}
	}
	log := env.Log
	dir := c.CheckoutDir(env.Workload)
	if log != nil {
		log.InfoContext(ctx, "cloning the compose project", "workload", env.Workload, "commit", revision)
	}
	p, err := c.load(ctx, dir, env.Workload, revision, env.Vars, func(line string) {
		if log != nil {
			log.InfoContext(ctx, "clone: "+line, "workload", env.Workload)
		}
	})
	if err != nil {
		return plugin.Artifact{}, err
	}
	for _, w := range p.Warnings() {
		if log != nil {
			log.WarnContext(ctx, "compose: "+w, "workload", env.Workload)
		}
	}
	return plugin.Artifact{Revision: revision, Project: p}, nil
}

// CheckoutDir is where workload's checkout is kept.
func (c *Config) CheckoutDir(workload string) string { return filepath.Join(CheckoutRoot, workload) }

// Forget removes the workload's checkout, once the stack is gone.
func (c *Config) Forget(workload string) error {
	if err := os.RemoveAll(c.CheckoutDir(workload)); err != nil {
		return fmt.Errorf("compose source: remove the checkout of %s: %w", workload, err)
	}
	return nil
}
