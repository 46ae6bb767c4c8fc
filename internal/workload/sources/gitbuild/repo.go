// Package gitbuild is what every Git source shares: where the source comes
// from (Repo: the Git host, repository, branch and token, declared once for
// every Git source), the revision a deploy would use now (Resolve, at plan
// time), the commit status of a deploy (Report), and the build of exactly
// that commit on the Docker host (Build: clone, build context, image tagged
// by workload and commit, reuse of an image already built, Prune).
//
// A Git source (dockerfile, static, compose) embeds Repo in its config and
// says only what is special about it: where its build context is and which
// Dockerfile builds it. It sits between the sources (above) and
// internal/git and internal/docker (below).
//
// The access token is a secret: it is never serialised (Public, labels),
// never formatted (String), and travels only inside internal/git, which
// scrubs it from every error.
package gitbuild

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/git"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
)

// DefaultBranch is the branch followed when none is written.
const DefaultBranch = "main"

// Repo is where a Git source comes from, as the user writes it: the Git
// attributes every Git source shares. Its JSON is part of each source's
// Public config (the tinyforge.config label), without the token.
type Repo struct {
	// Provider is "gitea", "github", "gitlab", or "" to detect it from
	// BaseURL.
	Provider string `json:"provider,omitempty"`
	// BaseURL is the Git host's web root; "" means https://github.com.
	BaseURL   string `json:"base_url,omitempty"`
	RepoOwner string `json:"repo_owner"`
	RepoName  string `json:"repo_name"`
	// Branch is the branch followed; "" means DefaultBranch. With a Ref
	// that is a commit, the branch whose history holds it.
	Branch string `json:"branch"`
	// Ref pins the source instead of following the branch: a tag name
	// ("v1.4.2"), followed wherever it points, or a full commit SHA of
	// Branch. "" follows the branch head.
	Ref string `json:"ref,omitempty"`
	// ReportCommitStatus reports each deploy to the Git host: a commit
	// status, and where the host has them a deployment (GitHub) or an
	// environment (GitLab) at PreviewURL.
	ReportCommitStatus bool `json:"report_commit_status,omitempty"`
	// PreviewURL is where the deploy answers, told to the Git host with
	// each report (the commit status's target URL); "" for none.
	PreviewURL string `json:"preview_url,omitempty"`
	// Token is the access token (access_token or access_token_wo); a
	// secret, never serialised.
	Token string `json:"-"`
	// URL is any Git remote (url), in place of Provider, BaseURL,
	// RepoOwner and RepoName: https://, ssh:// or user@host:path, file://.
	URL string `json:"url,omitempty"`
	// SSHKey is an SSH remote's private key (ssh_private_key_wo); a
	// secret, never serialised.
	SSHKey string `json:"-"`
	// KnownHosts are the known_hosts lines (ssh_known_hosts) an SSH
	// remote's host key must be in. Public keys: recorded.
	KnownHosts string `json:"ssh_known_hosts,omitempty"`
	// Path is a local directory (path), in place of a Git remote: its
	// content, hashed at plan, is the revision.
	Path string `json:"path,omitempty"`
}

// WithDefaults returns r with the defaults of the optional attributes
// applied, so that "" and the default are one config.
func (r Repo) WithDefaults() Repo {
	if r.Branch == "" {
		r.Branch = DefaultBranch
	}
	return r
}

// Public is r as recorded: defaults written out, no token, no key.
func (r Repo) Public() Repo {
	p := r.WithDefaults()
	p.Token, p.SSHKey = "", ""
	return p
}

// GitRepo is where the source comes from, for internal/git.
func (r Repo) GitRepo() git.Repo { return r.git() }

// Remote is implemented by every Git source, through the Repo it embeds:
// the Repo itself, which the provider completes with the token of its
// git_auth for the host when the source sets none.
type Remote interface{ Remote() *Repo }

// Remote implements Remote.
func (r *Repo) Remote() *Repo { return r }

// git is where the source comes from, for internal/git.
func (r Repo) git() git.Repo {
	d := r.WithDefaults()
	return git.Repo{
		Provider:   d.Provider,
		BaseURL:    d.BaseURL,
		Owner:      d.RepoOwner,
		Name:       d.RepoName,
		Branch:     d.Branch,
		Tag:        d.tag(),
		Token:      d.Token,
		URL:        d.URL,
		SSHKey:     d.SSHKey,
		KnownHosts: d.KnownHosts,
	}
}

// PinnedCommit reports whether Ref is a commit SHA: the commit to deploy,
// known without asking the Git host.
func (r Repo) PinnedCommit() bool { return git.IsFullSHA(r.Ref) }

// tag is the tag Ref names, "" when it names none.
func (r Repo) tag() string {
	if r.PinnedCommit() {
		return ""
	}
	return r.Ref
}

// followed names what a deploy follows, for messages.
func (r Repo) followed() string {
	d := r.WithDefaults()
	switch {
	case d.PinnedCommit():
		return fmt.Sprintf("commit %s of branch %q", d.Ref, d.Branch)
	case d.Ref != "":
		return fmt.Sprintf("tag %q", d.Ref)
	}
	return fmt.Sprintf("branch %q", d.Branch)
}

// String describes the repository without its token, so that a config
// printed with %v or %+v (or logged) cannot leak it.
func (r Repo) String() string {
	d := r.WithDefaults()
	switch {
	case d.Path != "":
		return fmt.Sprintf("directory %s", d.Path)
	case d.URL != "":
		return fmt.Sprintf("%s %s", d.URL, d.followed())
	}
	return fmt.Sprintf("%s/%s %s", d.RepoOwner, d.RepoName, d.followed())
}

// GoString is String for %#v.
func (r Repo) GoString() string { return r.String() }

// Validate checks the Git attributes; none of the rules needs the network.
// A source names its origin one way: repo_owner and repo_name (on a Git
// host with an API), url (any Git remote) or path (a local directory).
func (r Repo) Validate() error {
	if r.Path != "" {
		return r.validatePath()
	}
	if err := ValidateRef(r.Ref); err != nil {
		return err
	}
	if err := ValidatePreviewURL(r.PreviewURL); err != nil {
		return err
	}
	if r.URL != "" && r.ReportCommitStatus {
		return fmt.Errorf("report_commit_status needs a Git host's API (GitHub, Gitea or GitLab, named by repo_owner and repo_name): a bare url (%s) has none", r.URL)
	}
	if r.URL == "" && r.RepoOwner == "" && r.RepoName == "" {
		return errors.New("the source needs repo_owner and repo_name, url or path")
	}
	return r.git().Validate()
}

// validatePath checks a local directory source: nothing of a Git remote
// goes with it.
func (r Repo) validatePath() error {
	var set []string
	for attr, v := range map[string]bool{
		"provider": r.Provider != "", "base_url": r.BaseURL != "", "repo_owner": r.RepoOwner != "", "repo_name": r.RepoName != "",
		"url": r.URL != "", "ref": r.Ref != "", "report_commit_status": r.ReportCommitStatus, "access_token": r.Token != "",
		"ssh_private_key_wo": r.SSHKey != "", "ssh_known_hosts": r.KnownHosts != "", "preview_url": r.PreviewURL != "",
	} {
		if v {
			set = append(set, attr)
		}
	}
	if len(set) > 0 {
		slices.Sort(set)
		return fmt.Errorf("path %q is a local directory: %s do not apply to it", r.Path, strings.Join(set, ", "))
	}
	return nil
}

// ValidatePreviewURL is the rule for preview_url: "" (none) or an absolute
// http(s) URL, which the Git hosts take as a link.
func ValidatePreviewURL(u string) error {
	if u == "" {
		return nil
	}
	parsed, err := url.Parse(u)
	if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" || parsed.User != nil {
		return fmt.Errorf("preview_url must be an http:// or https:// URL with a host and no credentials (got %q)", u)
	}
	return nil
}

// CloneError says, for a clone that did not find the commit to deploy, what
// the user wrote wrong: a pinned commit that is not on the branch is a
// mistake in ref or branch, not a branch that moved since the plan.
func (r Repo) CloneError(err error) error {
	var nob *git.NotOnBranchError
	d := r.WithDefaults()
	if d.PinnedCommit() && errors.As(err, &nob) {
		return &plugin.AttrError{Attr: "ref", Err: fmt.Errorf("ref %s is not a commit of branch %q (its head is %s): set branch to the branch that holds it", d.Ref, d.Branch, nob.Head)}
	}
	if errors.Is(err, git.ErrNotFound) {
		return d.notFound(err)
	}
	return err
}

// notFound is the error of a tag or branch the repository does not have,
// pointed at the attribute that names it.
func (r Repo) notFound(err error) error {
	if r.Ref != "" {
		return &plugin.AttrError{Attr: "ref", Err: fmt.Errorf("ref: %w", err)}
	}
	return &plugin.AttrError{Attr: "branch", Err: err}
}

// ValidateRef is the rule for ref: "", a tag name or a full lowercase
// commit SHA. A short SHA is not refused here (it is a valid tag name):
// resolving it finds no such tag and says to write the SHA in full.
func ValidateRef(ref string) error {
	switch {
	case ref == "" || git.IsFullSHA(ref):
		return nil
	case git.IsFullSHA(strings.ToLower(ref)):
		return fmt.Errorf("ref must be a tag name or a full commit SHA in lowercase hex (got %q)", ref)
	}
	// Owner, name and branch are placeholders: only the tag rule can fail.
	if err := (git.Repo{Owner: "owner", Name: "name", Branch: "main", Tag: ref}).Validate(); err != nil {
		return fmt.Errorf("ref must be a tag name such as \"v1.4.2\" or a full 40-character commit SHA (got %q)", ref)
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

// ValidateURL is the rule for url on its own: "" or a Git remote URL
// without a password; whether its credentials fit is checked by Validate.
func ValidateURL(u string) error {
	if u == "" {
		return nil
	}
	return git.Repo{URL: u, Branch: DefaultBranch}.ValidateRemote()
}

// HTTPOrigin is an http(s) url remote's scheme and host
// ("https://git.example.com"), which a git_auth block names; false for
// another kind of remote.
func HTTPOrigin(url string) (string, bool) { return git.HTTPOrigin(url) }

// IsSSHURL reports whether url is an SSH remote (ssh:// or scp-like).
func IsSSHURL(url string) bool { return git.IsSSHURL(url) }

// IsFileURL reports whether url is a file:// remote: a repository on the
// disk of the machine the provider runs on.
func IsFileURL(url string) bool { return git.IsFileURL(url) }

// ValidateBranch is the rule for branch; "" means DefaultBranch.
func ValidateBranch(b string) error {
	if b == "" {
		return nil
	}
	// Owner and name are placeholders: only the branch rule can fail.
	return git.Repo{Owner: "owner", Name: "name", Branch: b}.Validate()
}

// Identity names the repository whatever its spelling: the clone URL, so
// that provider "" and "gitea" on the same base_url are one repository. It
// is part of a Git source's fingerprint (the branch is not: the commit it
// resolves to is).
func (r Repo) Identity() string {
	d := r.WithDefaults()
	if d.Path != "" {
		return "path:" + d.Path
	}
	if u, err := r.git().CloneURL(); err == nil {
		return u
	}
	return fmt.Sprintf("%s|%s|%s|%s", d.Provider, d.BaseURL, d.RepoOwner, d.RepoName)
}

// Resolve implements plugin.Resolver: the commit the branch (or the tag)
// points at now, or the pinned commit, which the plan shows and the deploy
// builds. Refused credentials and an unavailable host are marked
// (plugin.ErrCredentials, plugin.ErrUnavailable) so that the plan can tell
// them apart; a tag or branch the repository does not have is a
// plugin.AttrError of ref or branch. A pinned commit needs no Git host.
func (r Repo) Resolve(ctx context.Context) (string, error) {
	d := r.WithDefaults()
	if d.PinnedCommit() {
		return d.Ref, nil
	}
	sha, err := git.RemoteHead(ctx, d.git())
	if errors.Is(err, git.ErrNotFound) {
		return "", d.notFound(err)
	}
	if err != nil {
		err = fmt.Errorf("resolve %s: %w", d.followed(), err)
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

// Origin implements plugin.Resolver: the repository, branch and ref, with
// the defaults applied and no token.
func (r Repo) Origin() string {
	d := r.WithDefaults()
	return strings.Join([]string{d.Provider, d.BaseURL, d.RepoOwner, d.RepoName, d.Branch, d.Ref, d.URL, d.Path}, "|")
}

// commitStates maps a deploy's outcome onto a commit status and a
// preview's deployment state.
var commitStates = map[plugin.DeployState]struct{ status, preview string }{
	plugin.DeployPending: {git.StatePending, git.PreviewInProgress},
	plugin.DeploySuccess: {git.StateSuccess, git.PreviewSuccess},
	plugin.DeployFailure: {git.StateFailure, git.PreviewFailure},
}

// Environment is the name of the workload's preview on the Git host: its
// GitHub deployments' environment, its GitLab environment.
func Environment(workload string) string { return "preview/" + workload }

// Report implements plugin.Reporter: with report_commit_status, the
// deploy's outcome becomes a commit status "tinyforge/<workload>" on the
// built commit with PreviewURL as its target, and on GitHub a deployment of
// the commit to the environment "preview/<workload>" (on GitLab that
// environment, at PreviewURL); DeployRetired marks that preview gone. The
// caller turns an error into a warning.
func (r Repo) Report(ctx context.Context, workload, revision string, state plugin.DeployState, description string) error {
	if !r.ReportCommitStatus {
		return nil
	}
	repo := r.git()
	if state == plugin.DeployRetired {
		return git.RetirePreview(ctx, repo, Environment(workload))
	}
	s, ok := commitStates[state]
	if !ok {
		return fmt.Errorf("no commit status for deploy state %q", string(state))
	}
	statusErr := git.ReportStatus(ctx, repo, revision, git.Status{
		State:       s.status,
		Context:     "tinyforge/" + workload,
		Description: description,
		TargetURL:   r.PreviewURL,
	})
	previewErr := git.ReportPreview(ctx, repo, git.Preview{Environment: Environment(workload), SHA: revision, URL: r.PreviewURL}, s.preview, description)
	return errors.Join(statusErr, previewErr)
}
