// Package static is the static-site source: a Git repository of static
// files, optionally built by a command, served by an image the provider
// generates (a Caddy server with a config the provider writes: index files,
// SPA fallback, a 404 page, cache headers); or a Deno site, server code run
// by Deno beside its files, with an optional storage volume.
//
// What every Git source shares (the Git attributes, resolve, commit status,
// the tagged build of one commit, prune) is in gitbuild; this package says
// what is special here: the Dockerfile and the server config it generates,
// where the files are, and that a storage-backed site must never run twice
// at once (it refuses blue-green and mounts its volume).
package static

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/distribution/reference"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/git"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/gitbuild"
)

// Kind is the source kind and schema block name.
const Kind = "static"

// Defaults of the optional attributes, and what the provider chooses.
const (
	DefaultRootDirectory    = "."
	DefaultPublishDirectory = "."
	DefaultHealthcheck      = "/"
	// DefaultServerImage is the official Caddy image: a well-kept static
	// file server the provider writes a config for.
	DefaultServerImage = "caddy:2-alpine"
	// DefaultDenoImage is the official Deno image, pinned to a release.
	DefaultDenoImage = "denoland/deno:2.9.6"
	// Port is where the site's server listens; a Deno site gets it in PORT.
	Port = 8080
	// StorageTarget is where a Deno site's storage volume is mounted.
	StorageTarget = "/data"
)

// Config is a static source as the user writes it. Empty optional
// attributes mean their defaults.
type Config struct {
	gitbuild.Repo
	// RootDirectory is the site's directory, relative to the repository
	// root; the build runs there.
	RootDirectory string `json:"root_directory"`
	// BuildCommand runs in BuildImage (with /bin/sh) at the planned commit.
	BuildCommand string `json:"build_command,omitempty"`
	BuildImage   string `json:"build_image,omitempty"`
	// PublishDirectory is what is served, relative to RootDirectory.
	PublishDirectory string `json:"publish_directory"`
	// SPA serves /index.html (200) for paths that are not files.
	SPA bool `json:"spa,omitempty"`
	// ServerImage is the Caddy image the files are served from.
	ServerImage string `json:"server_image"`
	Healthcheck string `json:"healthcheck"`
	// Deno, when set, runs a Deno site instead of a file server.
	Deno *Deno `json:"deno,omitempty"`
}

// Deno is a Deno site: server code beside its files.
type Deno struct {
	// Entrypoint is the script run, relative to RootDirectory.
	Entrypoint string `json:"entrypoint"`
	Image      string `json:"image"`
	// Storage is a named volume mounted read-write at StorageTarget.
	Storage string `json:"storage,omitempty"`
}

func init() {
	plugin.Register(Kind, func(public []byte) (plugin.Source, error) {
		var c Config
		if err := json.Unmarshal(public, &c); err != nil {
			return nil, fmt.Errorf("decode static source config: %w", err)
		}
		return &c, nil
	})
}

// withDefaults returns c with the defaults applied; every method works on
// it, so "" and the default are one config.
func (c Config) withDefaults() Config {
	c.Repo = c.Repo.WithDefaults()
	c.RootDirectory = cmp.Or(c.RootDirectory, DefaultRootDirectory)
	c.PublishDirectory = cmp.Or(c.PublishDirectory, DefaultPublishDirectory)
	c.ServerImage = cmp.Or(c.ServerImage, DefaultServerImage)
	c.Healthcheck = cmp.Or(c.Healthcheck, DefaultHealthcheck)
	if c.Deno != nil {
		d := *c.Deno
		d.Image = cmp.Or(d.Image, DefaultDenoImage)
		c.Deno = &d
	}
	return c
}

// String describes the source without its token.
func (c Config) String() string {
	d := c.withDefaults()
	what := "files of " + d.PublishDirectory
	if d.Deno != nil {
		what = "Deno site " + d.Deno.Entrypoint
	}
	return fmt.Sprintf("static source %s (root_directory %q, %s)", d.Repo, d.RootDirectory, what)
}

// GoString is String for %#v.
func (c Config) GoString() string { return c.String() }

// Kind implements plugin.Source.
func (c *Config) Kind() string { return Kind }

// Validate implements plugin.Source. Every broken rule is reported; none
// needs the network.
func (c *Config) Validate() error {
	d := c.withDefaults()
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(d.Repo.Validate())
	add(ValidateRootDirectory(d.RootDirectory))
	add(ValidatePublishDirectory(d.PublishDirectory))
	add(plugin.ValidateHealthcheck(d.Healthcheck))
	add(ValidateImage("server_image", d.ServerImage))
	switch {
	case d.BuildCommand != "" && d.BuildImage == "":
		add(fmt.Errorf("build_image is required with build_command %q: the image the command runs in (it needs /bin/sh)", d.BuildCommand))
	case d.BuildImage != "" && d.BuildCommand == "":
		add(fmt.Errorf("build_command is required with build_image %q", d.BuildImage))
	case d.BuildImage != "":
		add(ValidateImage("build_image", d.BuildImage))
	}
	if d.BuildCommand != "" && strings.TrimSpace(d.BuildCommand) == "" {
		add(fmt.Errorf("build_command must not be blank (got %q)", d.BuildCommand))
	}
	if d.Deno != nil {
		add(ValidateEntrypoint(d.Deno.Entrypoint))
		add(ValidateImage("deno.image", d.Deno.Image))
		if d.Deno.Storage != "" {
			add(ValidateStorage(d.Deno.Storage))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("static source: %w", err)
	}
	return nil
}

// ValidateRootDirectory is the plan-time rule for root_directory: relative
// to the repository root, clean, no "..". Symlinks are checked after the
// clone.
func ValidateRootDirectory(p string) error {
	if p == "" {
		return nil
	}
	return git.ValidateRelPath("root_directory", p)
}

// ValidatePublishDirectory is the plan-time rule for publish_directory:
// relative to root_directory, under the same rules.
func ValidatePublishDirectory(p string) error {
	if p == "" {
		return nil
	}
	return git.ValidateRelPath("publish_directory", p)
}

// ValidateEntrypoint is the rule for deno.entrypoint: a file relative to
// root_directory.
func ValidateEntrypoint(p string) error {
	if p == "" {
		return errors.New("deno.entrypoint must name the script to run, relative to root_directory (got \"\")")
	}
	if err := git.ValidateRelPath("deno.entrypoint", p); err != nil {
		return err
	}
	if p == "." {
		return fmt.Errorf("deno.entrypoint must name a file (got %q)", p)
	}
	return nil
}

// ValidateImage is the rule for an image reference attribute.
func ValidateImage(attr, ref string) error {
	if ref == "" {
		return fmt.Errorf("%s must not be empty", attr)
	}
	if _, err := reference.ParseNormalizedNamed(ref); err != nil {
		return fmt.Errorf("%s %q is not a valid image reference: %v", attr, ref, err)
	}
	return nil
}

// ValidateStorage is the rule for deno.storage: a volume name the engine
// accepts.
func ValidateStorage(name string) error {
	if len(name) < 2 || !volumeName(name) {
		return fmt.Errorf("deno.storage must be a volume name of 2 or more characters ([a-zA-Z0-9][a-zA-Z0-9_.-]*) (got %q)", name)
	}
	return nil
}

func volumeName(s string) bool {
	for i, r := range s {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !alnum && (i == 0 || (r != '_' && r != '.' && r != '-')) {
			return false
		}
	}
	return true
}

// DefaultStrategy implements plugin.Source: static sites historically
// deploy by recreate; blue-green is there when asked for.
func (c *Config) DefaultStrategy(bool) plugin.Strategy { return plugin.StrategyRecreate }

// RefuseStrategy implements plugin.StrategyRefuser: a storage-backed Deno
// site mounts one read-write volume, which blue and green would share.
func (c *Config) RefuseStrategy(s plugin.Strategy) error {
	if s == plugin.StrategyBlueGreen && c.Deno != nil && c.Deno.Storage != "" {
		return fmt.Errorf("deploy_strategy %q cannot be used with deno.storage %q: blue and green would run side by side "+
			"and both mount that one read-write volume; a storage-backed site recreates (use %q or leave deploy_strategy empty)",
			string(s), c.Deno.Storage, string(plugin.StrategyRecreate))
	}
	return nil
}

// Mounts implements plugin.Mounter: a Deno site's storage volume.
func (c *Config) Mounts() []plugin.Mount {
	if c.Deno == nil || c.Deno.Storage == "" {
		return nil
	}
	return []plugin.Mount{{Source: c.Deno.Storage, Target: StorageTarget}}
}

// HealthcheckDefaulted implements plugin.HealthcheckDefaulter.
func (c *Config) HealthcheckDefaulted() bool { return c.Healthcheck == "" }

// Container implements plugin.Source. Deno as PID 1 crashes on SIGTERM
// unless the script listens for it: it runs under an init process, so
// that a stop ends it cleanly.
func (c *Config) Container() plugin.Container {
	return plugin.Container{Port: Port, Healthcheck: c.withDefaults().Healthcheck, Init: c.Deno != nil}
}

// fingerprint is what the image and the container are made from, apart from
// the commit: the repository and the generated build (which holds every
// attribute that shapes the image), and the storage volume.
type fingerprint struct {
	Repo    string `json:"repo"`
	Build   files  `json:"build"`
	Storage string `json:"storage,omitempty"`
}

// Fingerprint implements plugin.Source.
func (c *Config) Fingerprint() string {
	d := c.withDefaults()
	fp := fingerprint{Repo: d.Repo.Identity(), Build: d.generate("")}
	if d.Deno != nil {
		fp.Storage = d.Deno.Storage
	}
	b, err := json.Marshal(fp)
	if err != nil {
		panic(fmt.Sprintf("static source: encode fingerprint: %v", err)) // strings always encode
	}
	return Kind + "|" + string(b)
}

// Public implements plugin.Source: the config with the defaults written out
// and without the token.
func (c *Config) Public() any {
	p := c.withDefaults()
	p.Repo = p.Repo.Public()
	return p
}

// Origin implements plugin.Resolver: for a local directory, what decides
// the build context too.
func (c *Config) Origin() string { return c.build("").Origin() }

// Resolve implements plugin.Resolver, naming the source in its errors.
func (c *Config) Resolve(ctx context.Context) (string, error) {
	sha, err := c.build("").Resolve(ctx)
	if err != nil {
		return "", fmt.Errorf("static source: %w", err)
	}
	return sha, nil
}

// Report implements plugin.Reporter, naming the source in its errors.
func (c *Config) Report(ctx context.Context, workload, revision string, state plugin.DeployState, description string) error {
	if err := c.Repo.Report(ctx, workload, revision, state, description); err != nil {
		return fmt.Errorf("static source: %w", err)
	}
	return nil
}

// build is the source's build of workload at a commit: the generated files
// in the context of root_directory.
func (c *Config) build(workload string) gitbuild.Build {
	d := c.withDefaults()
	gen := d.generate(workload)
	return gitbuild.Build{
		Kind:     "static source",
		Repo:     d.Repo,
		Inputs:   gen,
		Context:  func(root string) (gitbuild.Context, error) { return d.locate(root, gen) },
		Diagnose: d.diagnose,
	}
}

// diagnose says why a build failed when the generated check did: the
// build_command left no publish_directory. The builder's own words (the
// generated shell line, its exit code) say nothing the user wrote.
func (c Config) diagnose(build error) error {
	if c.BuildCommand == "" || c.Deno != nil || !strings.Contains(build.Error(), publishMissing(c.PublishDirectory)) {
		return nil
	}
	return fmt.Errorf("publish_directory %q does not exist after build_command", c.PublishDirectory)
}

// Produce implements plugin.Source: build exactly env.Revision unless its
// image is already on the Docker host. Nothing running is touched.
func (c *Config) Produce(ctx context.Context, env plugin.ProduceEnv) (plugin.Artifact, error) {
	if err := c.Validate(); err != nil {
		return plugin.Artifact{}, err
	}
	return c.build(env.Workload).Produce(ctx, env)
}

// Built implements plugin.Prebuilder.
func (c *Config) Built(ctx context.Context, images plugin.ImageHost, workload, commit string) (string, error) {
	return c.build(workload).Built(ctx, images, workload, commit)
}

// Prune implements plugin.Pruner.
func (c *Config) Prune(ctx context.Context, env plugin.ProduceEnv, keep []string) error {
	if err := gitbuild.Prune(ctx, env, keep); err != nil {
		return fmt.Errorf("static source: %w", err)
	}
	return nil
}

// Forget implements plugin.Forgetter: the workload's cached repository
// goes with it.
func (c *Config) Forget(workload string) error {
	if err := gitbuild.Forget(workload); err != nil {
		return fmt.Errorf("static source: %w", err)
	}
	return nil
}

// locate checks the site's paths inside the clone at root, following
// symlinks (none may lead out of the clone), and returns the build context:
// root_directory, with the generated files. Without a build, what is
// served (or run) must exist at the commit; with one, the build checks it.
func (c Config) locate(root string, gen files) (gitbuild.Context, error) {
	dir, err := git.Within(root, c.RootDirectory)
	if err != nil {
		return gitbuild.Context{}, fmt.Errorf("root_directory %q: %w", c.RootDirectory, err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return gitbuild.Context{}, fmt.Errorf("root_directory %q is not a directory in the repository", c.RootDirectory)
	}
	if c.BuildCommand == "" {
		if c.Deno != nil {
			inRepo := path.Join(c.RootDirectory, c.Deno.Entrypoint)
			if p, err := git.Within(root, inRepo); err != nil {
				return gitbuild.Context{}, fmt.Errorf("deno.entrypoint %q: %w", c.Deno.Entrypoint, err)
			} else if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
				return gitbuild.Context{}, fmt.Errorf("deno.entrypoint %q (%s in the repository) is not a file", c.Deno.Entrypoint, inRepo)
			}
		} else {
			inRepo := path.Join(c.RootDirectory, c.PublishDirectory)
			if p, err := git.Within(root, inRepo); err != nil {
				return gitbuild.Context{}, fmt.Errorf("publish_directory %q: %w", c.PublishDirectory, err)
			} else if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
				return gitbuild.Context{}, fmt.Errorf("publish_directory %q (%s in the repository) is not a directory", c.PublishDirectory, inRepo)
			}
		}
	}
	generated := map[string][]byte{generatedDockerfile: []byte(gen.Dockerfile)}
	if gen.Caddyfile != "" {
		generated[generatedCaddyfile] = []byte(gen.Caddyfile)
	}
	return gitbuild.Context{
		Dir:        dir,
		Dockerfile: generatedDockerfile,
		Files:      generated,
		Prefix:     siteDir,
		// The repository's history is never published with its files.
		Exclude:  []string{".git"},
		Describe: fmt.Sprintf("the site (root_directory %q)", c.RootDirectory),
	}, nil
}
