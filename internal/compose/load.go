package compose

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v5/pkg/api"
)

// LoadSpec says which compose project to load and how.
type LoadSpec struct {
	// Dir is the checkout holding the compose files: nothing the project
	// reads may lie outside it (see paths.go). Give a workload the same Dir
	// on every deploy: compose's config-hash covers the resolved absolute
	// paths, so a new Dir makes every service with a relative bind mount
	// look changed.
	Dir string
	// Files are the compose files, relative to Dir, applied in order
	// (overrides later). The folder of the first is the project directory,
	// as for the docker compose CLI: relative paths (build contexts, bind
	// mounts, env_file) and .env resolve from there. Empty: compose's own
	// lookup, in Dir only (never its parents): the first of compose.yaml,
	// compose.yml, docker-compose.yml, docker-compose.yaml, plus the first
	// compose.override.* or docker-compose.override.* found.
	Files []string
	// Profiles to activate. Empty: COMPOSE_PROFILES of Env or of the
	// project directory's .env.
	Profiles []string
	// Env is the interpolation environment (${VAR} in the compose files). Its
	// values are treated as secrets: masked in every error and log line of
	// this package and never part of anything it returns except through a
	// hash. The project directory's .env is read too, as compose does, and
	// Env wins over it. The process environment is never read.
	Env map[string]string
	// ProjectName names the compose project: container, network and volume
	// names and the com.docker.compose.project label derive from it. It must
	// be a valid compose project name (lower case letters, digits, "-", "_").
	ProjectName string
	// Commit identifies the content of the checkout (a Git commit). It goes
	// into the Fingerprint when the project reads files from the checkout at
	// run time (a build context, a bind mount, a config or secret file), so a
	// new commit shows as a change there, and only there.
	Commit string
	// Log receives compose-go's warnings while loading (also kept in
	// Project.Warnings). Nil discards them.
	Log *slog.Logger
}

// Project is a loaded and validated compose project. It is immutable: Up
// works on a copy.
type Project struct {
	raw         *types.Project
	dir         string
	redact      *redactor
	fingerprint string
	warnings    []string
}

// Service is what a plan needs to know of one service.
type Service struct {
	Name string
	// Ports are the service's `ports:` entries (container port, and the
	// host side when the file publishes it).
	Ports []Port
	// Expose are the container ports of `expose:`, reachable on the project
	// network only.
	Expose []int
	// Replicas is the number of containers the project asks for.
	Replicas int
	// Healthcheck reports whether the compose file gives the service a
	// healthcheck (one defined only in the image is not visible here).
	Healthcheck bool
	// Builds reports whether the service has a `build:` section; Up builds
	// it every time.
	Builds bool
	// Image is the image reference: given by `image:`, or the name compose
	// tags a build with (<project>-<service>).
	Image string
	// FixedName reports whether the service sets container_name: compose
	// cannot run a second container of it (UpBeside).
	FixedName bool
}

// Port is one `ports:` entry of a service.
type Port struct {
	Target    int    // container port
	Protocol  string // "tcp" or "udp"
	HostIP    string // empty: all interfaces
	Published string // host port or range; empty: engine-chosen
}

// Load reads, interpolates, validates and normalises a compose project with
// compose-go. It only reads files: no engine, no network, no process
// environment. Errors name the compose file (relative to Dir) and the
// problem, and never contain a value of spec.Env.
func Load(ctx context.Context, spec LoadSpec) (*Project, error) {
	if spec.ProjectName == "" {
		return nil, errors.New("compose: project name is empty")
	}
	if !filepath.IsAbs(spec.Dir) {
		return nil, fmt.Errorf("compose project %s: directory %q is not absolute", spec.ProjectName, spec.Dir)
	}
	dir := filepath.Clean(spec.Dir)
	redact := newRedactor(spec.Env, dir)
	fail := func(err error) (*Project, error) {
		return nil, fmt.Errorf("compose project %s: %w", spec.ProjectName, redact.Error(err))
	}

	co, err := newCheckout(dir)
	if err != nil {
		return fail(err)
	}
	files, err := composeFiles(co, spec.Files)
	if err != nil {
		return fail(err)
	}
	projectDir := filepath.Dir(files[0])
	if dotEnv := filepath.Join(projectDir, ".env"); fileExists(dotEnv) {
		if err := co.checkFile(dotEnv); err != nil {
			return fail(err)
		}
	}

	op, end := startOperation(spec.Log, redact)
	defer end()

	env := maps.Clone(spec.Env)
	if env == nil {
		env = map[string]string{}
	}
	guard := newFileGuard(co, projectDir)
	opts, err := cli.NewProjectOptions(files,
		cli.WithWorkingDirectory(projectDir),
		cli.WithEnv(envList(env)),
		// The project directory's .env, without overriding what Env sets.
		// COMPOSE_DISABLE_ENV_FILE of the process environment is still
		// honoured by compose-go.
		cli.WithEnvFiles(),
		cli.WithDotEnv,
		cli.WithDefaultProfiles(spec.Profiles...),
		cli.WithName(spec.ProjectName),
		cli.WithResourceLoader(guard),
		// env_file is read below, once its paths are checked.
		cli.WithoutEnvironmentResolution,
	)
	if err != nil {
		return fail(err)
	}
	opts.WithListeners(guard.listen)
	raw, err := opts.LoadProject(ctx)
	if err != nil {
		return fail(err)
	}
	if err := errors.Join(guard.check(), co.checkReads(raw)); err != nil {
		return fail(err)
	}
	// Resolve env_file into environment, so that what runs is in the
	// project (and in the fingerprint) rather than in a file read later.
	if raw, err = raw.WithServicesEnvironmentResolved(true); err != nil {
		return fail(err)
	}
	if err := validate(raw); err != nil {
		return fail(err)
	}
	labelServices(raw)

	p := &Project{raw: raw, dir: dir, redact: redact}
	p.fingerprint, err = fingerprint(raw, dir, spec.Commit)
	if err != nil {
		return fail(fmt.Errorf("fingerprint: %w", err))
	}
	p.warnings = op.collectedWarnings()
	return p, nil
}

// composeFiles returns the absolute paths of the compose files: the given
// ones, which must stay inside the checkout, or compose's default names
// looked up at its root alone.
func composeFiles(co checkout, files []string) ([]string, error) {
	if len(files) > 0 {
		abs := make([]string, len(files))
		for i, f := range files {
			if f == "" || filepath.IsAbs(f) || !filepath.IsLocal(f) {
				return nil, fmt.Errorf("compose file %q: want a path relative to the checkout, inside it", f)
			}
			abs[i] = filepath.Join(co.dir, f)
			if err := co.checkFile(abs[i]); err != nil {
				return nil, fmt.Errorf("compose file %w", err)
			}
		}
		return abs, nil
	}
	// cli.WithDefaultConfigPath would walk up to the parent directories of
	// the checkout when it has no compose file: only its root counts here.
	first := func(names []string) string {
		for _, name := range names {
			if fileExists(filepath.Join(co.dir, name)) {
				return filepath.Join(co.dir, name)
			}
		}
		return ""
	}
	main := first(cli.DefaultFileNames)
	if main == "" {
		return nil, fmt.Errorf("no compose file in the checkout (looked for %s)", strings.Join(cli.DefaultFileNames, ", "))
	}
	found := []string{main}
	if override := first(cli.DefaultOverrideFileNames); override != "" {
		found = append(found, override)
	}
	for _, f := range found {
		if err := co.checkFile(f); err != nil {
			return nil, fmt.Errorf("compose file %w", err)
		}
	}
	return found, nil
}

// fileExists reports whether path names something that is not a directory.
func fileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir()
}

func envList(env map[string]string) []string {
	list := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		list = append(list, k+"="+env[k])
	}
	return list
}

// validate refuses what compose-go accepts but this runtime will not do:
// anything that would run a program outside this process. What would read
// outside the checkout is refused before (checkout.checkReads).
func validate(p *types.Project) error {
	if len(p.Services) == 0 {
		return errors.New("the project has no services (or none enabled by the active profiles)")
	}
	if len(p.Models) > 0 {
		return errors.New("top-level models are not supported (compose runs them through the docker model plugin)")
	}
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		if s.Provider != nil {
			return fmt.Errorf("service %s: provider services are not supported (compose runs them through a plugin binary)", name)
		}
		if len(s.Models) > 0 {
			return fmt.Errorf("service %s: models are not supported (compose runs them through the docker model plugin)", name)
		}
	}
	return nil
}

// labelServices sets the labels the compose library keys on (project,
// service, working dir, config files, one-off): what its LoadProject does,
// which cannot be used here because it reads the process environment and
// loads remote (Git, OCI) includes.
func labelServices(p *types.Project) {
	for name, s := range p.Services {
		s.CustomLabels = map[string]string{
			api.ProjectLabel:     p.Name,
			api.ServiceLabel:     name,
			api.VersionLabel:     api.ComposeVersion,
			api.WorkingDirLabel:  p.WorkingDir,
			api.ConfigFilesLabel: strings.Join(p.ComposeFiles, ","),
			api.OneoffLabel:      "False",
		}
		p.Services[name] = s
	}
}

// fingerprint hashes the normalised project as compose-go marshals it:
// services (image, command, environment values, ports, healthcheck, build
// section, ...), networks, volumes, configs and secrets, with the checkout's
// absolute path replaced by ".". Not covered: the interpolation environment
// itself (only the values it put into the project count), top-level x-
// extensions, compose's labels, the content of images the project does not
// build (a moving tag is the registry's business), and the content of the
// checkout, for which commit stands in when the project reads it at run
// time.
func fingerprint(p *types.Project, dir, commit string) (string, error) {
	doc, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	// The checkout's path as it appears inside JSON strings.
	quotedDir, err := json.Marshal(dir)
	if err != nil {
		return "", err
	}
	normalised := strings.ReplaceAll(string(doc), strings.Trim(string(quotedDir), `"`), ".")
	h := sha256.New()
	h.Write([]byte(normalised))
	if readsCheckout(p, dir) {
		h.Write([]byte("\x00commit\x00" + commit))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// readsCheckout reports whether anything that runs depends on files of the
// checkout beyond the compose files: a build, a bind mount, a config or
// secret file inside it.
func readsCheckout(p *types.Project, dir string) bool {
	inside := func(path string) bool {
		rel, err := filepath.Rel(dir, path)
		return err == nil && (rel == "." || filepath.IsLocal(rel))
	}
	for _, s := range p.Services {
		if s.Build != nil {
			return true
		}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind && inside(v.Source) {
				return true
			}
		}
	}
	for _, c := range p.Configs {
		if c.File != "" && inside(c.File) {
			return true
		}
	}
	for _, s := range p.Secrets {
		if s.File != "" && inside(s.File) {
			return true
		}
	}
	return false
}

// Name is the compose project name.
func (p *Project) Name() string { return p.raw.Name }

// Fingerprint is a SHA-256 (hex) of the normalised project and, when the
// project reads the checkout at run time, of LoadSpec.Commit: it changes
// exactly when what Up would run changes, as far as the compose files and the
// commit tell (see LoadSpec.Commit). Environment values enter it only
// through the hash; like compose's own com.docker.compose.config-hash label,
// it lets someone who can guess a value confirm the guess, and reveals
// nothing else.
func (p *Project) Fingerprint() string { return p.fingerprint }

// Warnings are compose-go's warnings while loading (an unset variable, an
// obsolete `version:`), masked.
func (p *Project) Warnings() []string { return slices.Clone(p.warnings) }

// Services lists the enabled services, sorted by name.
func (p *Project) Services() []Service {
	names := p.raw.ServiceNames()
	slices.Sort(names)
	out := make([]Service, 0, len(names))
	for _, name := range names {
		s := p.raw.Services[name]
		svc := Service{
			Name:        name,
			Replicas:    s.GetScale(),
			Healthcheck: s.HealthCheck != nil && !s.HealthCheck.Disable,
			Builds:      s.Build != nil,
			Image:       api.GetImageNameOrDefault(s, p.raw.Name),
			FixedName:   s.ContainerName != "",
		}
		for _, port := range s.Ports {
			svc.Ports = append(svc.Ports, Port{
				Target:    int(port.Target),
				Protocol:  port.Protocol,
				HostIP:    port.HostIP,
				Published: port.Published,
			})
		}
		for _, e := range s.Expose {
			var n int
			if _, err := fmt.Sscanf(e, "%d", &n); err == nil {
				svc.Expose = append(svc.Expose, n)
			}
		}
		out = append(out, svc)
	}
	return out
}

// Replicas is how many containers each enabled service asks for, by
// service (plugin.Project).
func (p *Project) Replicas() map[string]int {
	out := map[string]int{}
	for _, s := range p.Services() {
		out[s.Name] = s.Replicas
	}
	return out
}

// Service returns the named service.
func (p *Project) Service(name string) (Service, bool) {
	for _, s := range p.Services() {
		if s.Name == name {
			return s, true
		}
	}
	return Service{}, false
}
