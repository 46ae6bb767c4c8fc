// Package dockerfile is the Git + Dockerfile source: the workload runs an
// image built on the Docker host from the user's Dockerfile, at exactly the
// commit the plan resolved on a branch of a Git repository (Gitea, GitHub or
// GitLab).
//
// What every Git source shares (the Git attributes, resolve, commit status,
// the tagged build of one commit, prune) is in gitbuild; this package says
// only what is special about this source: where the build context and the
// Dockerfile are in the repository, and the build arguments.
package dockerfile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/git"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/gitbuild"
)

// Kind is the source kind and schema block name.
const Kind = "dockerfile"

// Defaults of the optional attributes.
const (
	DefaultContextPath    = "."
	DefaultDockerfilePath = "Dockerfile"
)

// Config is a dockerfile source as the user writes it. Empty ContextPath
// and DockerfilePath mean their defaults.
type Config struct {
	gitbuild.Repo
	// ContextPath is the build context, relative to the repository root.
	ContextPath string `json:"context_path"`
	// DockerfilePath is the Dockerfile, relative to the build context.
	DockerfilePath string            `json:"dockerfile_path"`
	Port           int               `json:"port"`
	Healthcheck    string            `json:"healthcheck,omitempty"`
	BuildArgs      map[string]string `json:"build_args,omitempty"`
	// Target is the stage of a multi-stage Dockerfile to build; "" is the
	// last.
	Target string `json:"target,omitempty"`
	// BuildSecrets are what `RUN --mount=type=secret,id=<key>` reads
	// (build_secrets_wo): secrets, never serialised.
	BuildSecrets map[string]string `json:"-"`
	// BuildSecretsVersion is build_secrets_wo_version: a new version
	// builds the image anew.
	BuildSecretsVersion int64 `json:"build_secrets_version,omitempty"`
}

func init() {
	plugin.Register(Kind, func(public []byte) (plugin.Source, error) {
		var c Config
		if err := json.Unmarshal(public, &c); err != nil {
			return nil, fmt.Errorf("decode dockerfile source config: %w", err)
		}
		return &c, nil
	})
}

// withDefaults returns c with the defaults of the optional attributes
// applied; every method works on it, so "" and the default are one config.
func (c Config) withDefaults() Config {
	c.Repo = c.Repo.WithDefaults()
	if c.ContextPath == "" {
		c.ContextPath = DefaultContextPath
	}
	if c.DockerfilePath == "" {
		c.DockerfilePath = DefaultDockerfilePath
	}
	return c
}

// String describes the source without its token, so that a config printed
// with %v or %+v (or logged) cannot leak it.
func (c Config) String() string {
	d := c.withDefaults()
	return fmt.Sprintf("dockerfile source %s (context_path %q, dockerfile_path %q, port %d)",
		d.Repo, d.ContextPath, d.DockerfilePath, d.Port)
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
	if err := d.Repo.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := ValidateContextPath(d.ContextPath); err != nil {
		errs = append(errs, err)
	}
	if err := ValidateDockerfilePath(d.DockerfilePath); err != nil {
		errs = append(errs, err)
	}
	if err := plugin.ValidateOptionalPort(d.Port); err != nil {
		errs = append(errs, err)
	}
	if err := plugin.ValidateHealthcheck(d.Healthcheck); err != nil {
		errs = append(errs, err)
	}
	for _, name := range slices.Sorted(maps.Keys(d.BuildArgs)) {
		if err := ValidateBuildArgName(name); err != nil {
			errs = append(errs, err)
		}
	}
	if err := gitbuild.ValidateTarget(d.Target); err != nil {
		errs = append(errs, err)
	}
	for _, id := range slices.Sorted(maps.Keys(d.BuildSecrets)) {
		if err := gitbuild.ValidateBuildSecretID(id); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dockerfile source: %w", err)
	}
	return nil
}

// ValidateContextPath is the plan-time rule for context_path: relative to
// the repository root, clean, no "..". "" means the root. Symlinks are
// checked after the clone.
func ValidateContextPath(p string) error {
	if p == "" {
		return nil
	}
	return git.ValidateRelPath("context_path", p)
}

// ValidateDockerfilePath is the plan-time rule for dockerfile_path: a file
// relative to the build context, clean, no "..". "" means "Dockerfile".
func ValidateDockerfilePath(p string) error {
	if p == "" {
		return nil
	}
	if err := git.ValidateRelPath("dockerfile_path", p); err != nil {
		return err
	}
	if p == "." {
		return fmt.Errorf("dockerfile_path must name a file inside the build context (got %q)", p)
	}
	return nil
}

// ValidateBuildArgName is the rule for a key of build_args: what a
// Dockerfile's ARG can declare as one name.
func ValidateBuildArgName(name string) error {
	if name == "" || strings.ContainsFunc(name, func(r rune) bool { return r == '=' || unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return fmt.Errorf("build_args key must be a non-empty name without \"=\", whitespace or control characters (got %q)", name)
	}
	return nil
}

// DefaultStrategy implements plugin.Source: built sources historically
// deploy by recreate, routed or not; blue-green is there when asked for.
func (c *Config) DefaultStrategy(bool) plugin.Strategy { return plugin.StrategyRecreate }

// Container implements plugin.Source.
func (c *Config) Container() plugin.Container {
	return plugin.Container{Port: c.Port, Healthcheck: c.Healthcheck}
}

// inputs is what the image is made from, apart from the commit, which the
// caller compares on its own: part of the fingerprint and of the image tag.
type inputs struct {
	ContextPath    string            `json:"context_path"`
	DockerfilePath string            `json:"dockerfile_path"`
	BuildArgs      map[string]string `json:"build_args"` // json sorts the keys
	// Left out when unset, so that the fingerprints and tags of the
	// workloads deployed before they existed stay the same.
	Target         string `json:"target,omitempty"`
	SecretsVersion int64  `json:"build_secrets_version,omitempty"`
}

func (c Config) inputs() inputs {
	d := c.withDefaults()
	return inputs{ContextPath: d.ContextPath, DockerfilePath: d.DockerfilePath, BuildArgs: d.BuildArgs,
		Target: d.Target, SecretsVersion: d.BuildSecretsVersion}
}

// fingerprint is what the image and the container are made from, apart from
// the commit. The branch is not in it: the commit it resolves to is. The
// token, the probe path and status reporting change how a deploy is made or
// reported, not what it deploys.
type fingerprint struct {
	Repo string `json:"repo"`
	inputs
	Port int `json:"port"`
}

// Fingerprint implements plugin.Source.
func (c *Config) Fingerprint() string {
	b, err := json.Marshal(fingerprint{Repo: c.Repo.Identity(), inputs: c.inputs(), Port: c.Port})
	if err != nil {
		panic(fmt.Sprintf("dockerfile source: encode fingerprint: %v", err)) // strings and an int always encode
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

// Report implements plugin.Reporter, naming the source in its errors.
func (c *Config) Report(ctx context.Context, workload, revision string, state plugin.DeployState, description string) error {
	if err := c.Repo.Report(ctx, workload, revision, state, description); err != nil {
		return fmt.Errorf("dockerfile source: %w", err)
	}
	return nil
}

// Origin implements plugin.Resolver: for a local directory, what decides
// the build context too.
func (c *Config) Origin() string { return c.build().Origin() }

// Resolve implements plugin.Resolver, naming the source in its errors.
func (c *Config) Resolve(ctx context.Context) (string, error) {
	sha, err := c.build().Resolve(ctx)
	if err != nil {
		return "", fmt.Errorf("dockerfile source: %w", err)
	}
	return sha, nil
}

// build is the source's build at a commit.
func (c *Config) build() gitbuild.Build {
	d := c.withDefaults()
	return gitbuild.Build{
		Kind:      "dockerfile source",
		Repo:      d.Repo,
		Inputs:    d.inputs(),
		BuildArgs: d.BuildArgs,
		Target:    d.Target,
		Secrets:   d.BuildSecrets,
		Context:   d.locate,
	}
}

// Built implements plugin.Prebuilder.
func (c *Config) Built(ctx context.Context, images plugin.ImageHost, workload, commit string) (string, error) {
	return c.build().Built(ctx, images, workload, commit)
}

// ImageTag is the tag a build of commit gets (gitbuild.Build.Tag): a
// redeploy of the same commit with the same build finds it and skips the
// build; a change of context_path, dockerfile_path or build_args builds
// anew.
func (c *Config) ImageTag(workload, commit string) string { return c.build().Tag(workload, commit) }

// Produce implements plugin.Source: build exactly env.Revision unless its
// image is already on the Docker host. Nothing running is touched.
func (c *Config) Produce(ctx context.Context, env plugin.ProduceEnv) (plugin.Artifact, error) {
	if err := c.Validate(); err != nil {
		return plugin.Artifact{}, err
	}
	return c.build().Produce(ctx, env)
}

// Prune implements plugin.Pruner.
func (c *Config) Prune(ctx context.Context, env plugin.ProduceEnv, keep []string) error {
	if err := gitbuild.Prune(ctx, env, keep); err != nil {
		return fmt.Errorf("dockerfile source: %w", err)
	}
	return nil
}

// Forget implements plugin.Forgetter: the workload's cached repository
// goes with it.
func (c *Config) Forget(workload string) error {
	if err := gitbuild.Forget(workload); err != nil {
		return fmt.Errorf("dockerfile source: %w", err)
	}
	return nil
}

// locate resolves context_path and dockerfile_path inside the clone at
// root, following symlinks: the build context directory, and the
// Dockerfile's path relative to it. A symlink may not lead out of the
// clone, nor the Dockerfile out of the context: the build must read only
// the repository.
func (c Config) locate(root string) (gitbuild.Context, error) {
	contextDir, err := git.Within(root, c.ContextPath)
	if err != nil {
		return gitbuild.Context{}, fmt.Errorf("context_path %q: %w", c.ContextPath, err)
	}
	if fi, err := os.Stat(contextDir); err != nil || !fi.IsDir() {
		return gitbuild.Context{}, fmt.Errorf("context_path %q is not a directory in the repository", c.ContextPath)
	}
	inRepo := path.Join(c.ContextPath, c.DockerfilePath)
	file, err := git.Within(root, inRepo)
	if err != nil {
		return gitbuild.Context{}, fmt.Errorf("dockerfile_path %q: %w", c.DockerfilePath, err)
	}
	if fi, err := os.Stat(file); err != nil || !fi.Mode().IsRegular() {
		return gitbuild.Context{}, fmt.Errorf("dockerfile_path %q (%s in the repository) is not a file", c.DockerfilePath, inRepo)
	}
	rel, err := filepath.Rel(contextDir, file)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return gitbuild.Context{}, fmt.Errorf("dockerfile_path %q resolves outside context_path %q (through a symlink): the Dockerfile must be inside the build context",
			c.DockerfilePath, c.ContextPath)
	}
	return gitbuild.Context{
		Dir:        contextDir,
		Dockerfile: filepath.ToSlash(rel),
		Describe:   fmt.Sprintf("%s (context_path %q)", c.DockerfilePath, c.ContextPath),
	}, nil
}
