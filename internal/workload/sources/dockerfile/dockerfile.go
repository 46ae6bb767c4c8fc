// Package dockerfile is the Git + Dockerfile source: the workload runs an
// image built on the Docker host from the user's Dockerfile, at exactly the
// commit the plan resolved on a branch of a Git repository (Gitea, GitHub or
// GitLab).
//
// It sits between internal/git (resolve the branch, clone the commit, keep
// paths inside the clone, report commit statuses) and internal/docker
// (build, inspect, list and remove images), and says only what is special
// about this source; rollout runs the deploy. Builds are tagged by workload
// and commit, so a redeploy of a commit already built reuses its image, and
// Prune keeps the disk from growing per deploy.
//
// The access token is a secret: it is never serialised (Public, labels),
// never formatted (String), and travels only inside internal/git, which
// scrubs it from every error.
package dockerfile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/git"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
)

// Kind is the source kind and schema block name.
const Kind = "dockerfile"

// Defaults of the optional attributes.
const (
	DefaultBranch         = "main"
	DefaultContextPath    = "."
	DefaultDockerfilePath = "Dockerfile"
)

// Config is a dockerfile source as the user writes it. Empty Branch,
// ContextPath and DockerfilePath mean their defaults.
type Config struct {
	// Provider is "gitea", "github", "gitlab", or "" to detect it from
	// BaseURL.
	Provider string `json:"provider,omitempty"`
	// BaseURL is the Git host's web root; "" means https://github.com.
	BaseURL   string `json:"base_url,omitempty"`
	RepoOwner string `json:"repo_owner"`
	RepoName  string `json:"repo_name"`
	Branch    string `json:"branch"`
	// ContextPath is the build context, relative to the repository root.
	ContextPath string `json:"context_path"`
	// DockerfilePath is the Dockerfile, relative to the build context.
	DockerfilePath     string            `json:"dockerfile_path"`
	Port               int               `json:"port"`
	Healthcheck        string            `json:"healthcheck,omitempty"`
	ReportCommitStatus bool              `json:"report_commit_status,omitempty"`
	BuildArgs          map[string]string `json:"build_args,omitempty"`
	// Token is the access token (access_token or access_token_wo); a secret,
	// never serialised.
	Token string `json:"-"`
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
	if c.Branch == "" {
		c.Branch = DefaultBranch
	}
	if c.ContextPath == "" {
		c.ContextPath = DefaultContextPath
	}
	if c.DockerfilePath == "" {
		c.DockerfilePath = DefaultDockerfilePath
	}
	return c
}

// repo is where the source comes from, for internal/git.
func (c Config) repo() git.Repo {
	return git.Repo{
		Provider: c.Provider,
		BaseURL:  c.BaseURL,
		Owner:    c.RepoOwner,
		Name:     c.RepoName,
		Branch:   c.Branch,
		Token:    c.Token,
	}
}

// String describes the source without its token, so that a config printed
// with %v or %+v (or logged) cannot leak it.
func (c Config) String() string {
	d := c.withDefaults()
	return fmt.Sprintf("dockerfile source %s/%s branch %s (context_path %q, dockerfile_path %q, port %d)",
		d.RepoOwner, d.RepoName, d.Branch, d.ContextPath, d.DockerfilePath, d.Port)
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
	if err := d.repo().Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := ValidateContextPath(d.ContextPath); err != nil {
		errs = append(errs, err)
	}
	if err := ValidateDockerfilePath(d.DockerfilePath); err != nil {
		errs = append(errs, err)
	}
	if err := plugin.ValidatePort(d.Port); err != nil {
		errs = append(errs, err)
	}
	if err := plugin.ValidateHealthcheck(d.Healthcheck); err != nil {
		errs = append(errs, err)
	}
	for _, name := range sortedKeys(d.BuildArgs) {
		if err := ValidateBuildArgName(name); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dockerfile source: %w", err)
	}
	return nil
}

// ValidateProvider is the rule for provider on its own; whether gitea and
// gitlab have the base_url they need is checked by Validate.
func ValidateProvider(p string) error {
	switch git.Host(p) {
	case "", git.GitHub, git.Gitea, git.GitLab:
		return nil
	}
	return fmt.Errorf("provider must be one of %q, %q, %q or empty to detect it from base_url (got %q)",
		git.Gitea, git.GitHub, git.GitLab, p)
}

// ValidateBaseURL is the rule for base_url on its own: "" (GitHub), or an
// http(s) URL with a host and no credentials.
func ValidateBaseURL(u string) error {
	_, err := git.Repo{BaseURL: u}.Host()
	return err
}

// ValidateBranch is the rule for branch; "" means "main".
func ValidateBranch(b string) error {
	if b == "" {
		return nil
	}
	// Owner and name are placeholders: only the branch rule can fail.
	return git.Repo{Owner: "owner", Name: "name", Branch: b}.Validate()
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

// fingerprint is what the image and the container are made from, apart from
// the commit, which the caller compares on its own. The branch is not in it:
// the commit it resolves to is. The token, the probe path and status
// reporting change how a deploy is made or reported, not what it deploys.
type fingerprint struct {
	Repo           string            `json:"repo"`
	ContextPath    string            `json:"context_path"`
	DockerfilePath string            `json:"dockerfile_path"`
	BuildArgs      map[string]string `json:"build_args"` // json sorts the keys
	Port           int               `json:"port"`
}

// Fingerprint implements plugin.Source.
func (c *Config) Fingerprint() string {
	d := c.withDefaults()
	// The clone URL is the repository's one spelling: provider "" and
	// "gitea" on the same base_url are the same repository.
	repo, err := d.repo().CloneURL()
	if err != nil {
		repo = fmt.Sprintf("%s|%s|%s|%s", d.Provider, d.BaseURL, d.RepoOwner, d.RepoName)
	}
	b, err := json.Marshal(fingerprint{
		Repo: repo, ContextPath: d.ContextPath, DockerfilePath: d.DockerfilePath,
		BuildArgs: d.BuildArgs, Port: d.Port,
	})
	if err != nil {
		panic(fmt.Sprintf("dockerfile source: encode fingerprint: %v", err)) // strings and an int always encode
	}
	return Kind + "|" + string(b)
}

// Public implements plugin.Source: the config with the defaults written out
// and without the token.
func (c *Config) Public() any {
	p := c.withDefaults()
	p.Token = ""
	return p
}

// Resolve implements plugin.Resolver: the commit the branch points at now,
// which the plan shows and the deploy builds.
func (c *Config) Resolve(ctx context.Context) (string, error) {
	d := c.withDefaults()
	sha, err := git.RemoteHead(ctx, d.repo())
	if err != nil {
		err = fmt.Errorf("dockerfile source: resolve branch %q: %w", d.Branch, err)
		switch {
		case errors.Is(err, git.ErrCredentials):
			return "", plugin.MarkError(err, plugin.ErrCredentials)
		case errors.Is(err, git.ErrUnavailable):
			return "", plugin.MarkError(err, plugin.ErrUnavailable)
		}
		return "", err
	}
	return sha, nil
}

// Origin implements plugin.Resolver: the repository and branch, with the
// defaults applied and no token.
func (c *Config) Origin() string {
	d := c.withDefaults()
	return strings.Join([]string{d.Provider, d.BaseURL, d.RepoOwner, d.RepoName, d.Branch}, "|")
}

// commitStates maps a deploy's outcome onto a commit status.
var commitStates = map[plugin.DeployState]string{
	plugin.DeployPending: git.StatePending,
	plugin.DeploySuccess: git.StateSuccess,
	plugin.DeployFailure: git.StateFailure,
}

// Report implements plugin.Reporter: with report_commit_status, the
// deploy's outcome becomes a commit status "tinyforge/<workload>" on the
// built commit. The caller turns an error into a warning.
func (c *Config) Report(ctx context.Context, workload, revision string, state plugin.DeployState, description string) error {
	if !c.ReportCommitStatus {
		return nil
	}
	gitState, ok := commitStates[state]
	if !ok {
		return fmt.Errorf("dockerfile source: no commit status for deploy state %q", string(state))
	}
	d := c.withDefaults()
	err := git.ReportStatus(ctx, d.repo(), revision, git.Status{
		State:       gitState,
		Context:     "tinyforge/" + workload,
		Description: description,
	})
	if err != nil {
		return fmt.Errorf("dockerfile source: %w", err)
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
