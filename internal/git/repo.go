// Package git is how the engine talks to a Git host (Gitea, GitHub or
// GitLab) for the Git-backed sources: it resolves a branch to the SHA a
// deploy will build (RemoteHead, at plan time), fetches exactly that commit
// (Clone, at apply time), keeps paths from the repository inside the clone
// (Within, ValidateRelPath) and reports the deploy's outcome on the commit
// (ReportStatus) and, for a preview, where it runs (ReportPreview,
// RetirePreview). For previews it also lists a repository's pull requests
// (ListPullRequests) and branches (ListBranches).
//
// It sits below internal/workload and is the only importer of go-git. The
// access token is a secret: it travels only in an auth header, never in a
// URL, and is scrubbed from every error this package returns.
package git

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// Host is the kind of Git service a repository lives on; it decides the
// auth form and the commit-status API.
type Host string

const (
	GitHub Host = "github"
	Gitea  Host = "gitea"
	GitLab Host = "gitlab"
)

// githubURL is where a GitHub repository lives when base_url is empty.
const githubURL = "https://github.com"

// Repo names one branch of a repository on a Git host, and how to reach it.
type Repo struct {
	// Provider is "github", "gitea", "gitlab", or "" to detect it from BaseURL.
	Provider string
	// BaseURL is the host's web root (https://gitea.example.com); empty means
	// https://github.com. It must not carry credentials.
	BaseURL string
	// Owner is the user, organisation or (GitLab) group path, e.g. "acme" or
	// "acme/platform".
	Owner string
	Name  string
	// Branch is the branch a deploy follows, or, with Tag or a pinned
	// commit, the branch whose history holds the commit.
	Branch string
	// Tag, when set, is the tag a deploy follows instead of the branch:
	// RemoteHead resolves it, Clone fetches it.
	Tag string
	// Token is the access token; a secret. Empty means anonymous access.
	Token string
	// URL, when set, is the remote itself, in place of Provider, BaseURL,
	// Owner and Name: any Git remote (see remote.go).
	URL string
	// SSHKey is the private key of an SSH remote (PEM or OpenSSH); a
	// secret.
	SSHKey string
	// KnownHosts are the known_hosts lines an SSH remote's host key must
	// be in.
	KnownHosts string
}

// Host returns the kind of Git service, detecting it from BaseURL when
// Provider is empty: no base URL means GitHub, a host name containing
// "github" or "gitlab" means that service, anything else Gitea.
func (r Repo) Host() (Host, error) {
	if r.URL != "" {
		return "", errors.New("a url remote has no Git host API (commit statuses, previews): name the repository with provider, base_url, repo_owner and repo_name instead")
	}
	base, err := r.baseURL()
	if err != nil {
		return "", err
	}
	switch Host(r.Provider) {
	case GitHub:
		return GitHub, nil
	case Gitea, GitLab:
		if base == nil {
			return "", fmt.Errorf("base_url is required for provider %q", r.Provider)
		}
		return Host(r.Provider), nil
	case "":
		if base == nil {
			return GitHub, nil
		}
		host := strings.ToLower(base.Hostname())
		switch {
		case strings.Contains(host, "github"):
			return GitHub, nil
		case strings.Contains(host, "gitlab"):
			return GitLab, nil
		default:
			return Gitea, nil
		}
	default:
		return "", fmt.Errorf("provider must be one of \"github\", \"gitea\", \"gitlab\" or empty to detect it from base_url (got %q)", r.Provider)
	}
}

// baseURL parses BaseURL; nil means none was given. Errors quote the value
// only where it cannot hold credentials: never one with user:password@, and
// only up to a query or fragment (?private_token=...).
func (r Repo) baseURL() (*url.URL, error) {
	if r.BaseURL == "" {
		return nil, nil
	}
	if strings.Contains(r.BaseURL, "@") {
		return nil, fmt.Errorf("base_url must not carry credentials (user:password@); set the token instead")
	}
	shown := shownBaseURL(r.BaseURL)
	u, err := url.Parse(strings.TrimRight(r.BaseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("base_url is not a valid URL (got %q)", shown)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("base_url must be an http:// or https:// URL with a host (got %q)", shown)
	}
	// Checked on the text: url.Parse drops an empty fragment ("https://h#").
	if strings.ContainsAny(r.BaseURL, "?#") {
		return nil, fmt.Errorf("base_url must not have a query or fragment (got %q)", shown)
	}
	return u, nil
}

// shownBaseURL is what an error may quote of a base_url without "@": the
// value up to its first "?" or "#", then "...", since a query or fragment
// may hold a token.
func shownBaseURL(v string) string {
	if i := strings.IndexAny(v, "?#"); i >= 0 {
		return v[:i+1] + "..."
	}
	return v
}

// base returns the web root without a trailing slash.
func (r Repo) base() (string, error) {
	u, err := r.baseURL()
	if err != nil {
		return "", err
	}
	if u == nil {
		return githubURL, nil
	}
	return u.String(), nil
}

// HostKey names the Git host a base_url points at, for credentials that
// serve every repository there: the web root with its host in lower case
// and no trailing slash; "" is https://github.com.
func HostKey(baseURL string) (string, error) {
	u, err := Repo{BaseURL: baseURL}.baseURL()
	if err != nil {
		return "", err
	}
	if u == nil {
		return githubURL, nil
	}
	u.Host = strings.ToLower(u.Host)
	return strings.TrimRight(u.String(), "/"), nil
}

// namePart is one path segment of an owner or repository name, as the three
// hosts allow them.
var namePart = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

func validNamePart(s string) bool {
	return namePart.MatchString(s) && s != "." && s != ".."
}

// Validate checks everything that can be checked without the network: the
// host, the URL, the owner, name and branch. Plan time and deploy time call
// the same function.
func (r Repo) Validate() error {
	if err := r.ValidateRemote(); err != nil {
		return err
	}
	if r.Branch == "" {
		return fmt.Errorf("branch is required")
	}
	// git refuses a branch named HEAD; go-git's rule takes refs/heads/HEAD.
	if err := plumbing.NewBranchReferenceName(r.Branch).Validate(); err != nil || strings.HasPrefix(r.Branch, "refs/") || r.Branch == "HEAD" {
		return fmt.Errorf("branch must be a branch name such as \"main\" (got %q)", r.Branch)
	}
	if r.Tag != "" {
		if err := plumbing.NewTagReferenceName(r.Tag).Validate(); err != nil || strings.HasPrefix(r.Tag, "refs/") || r.Tag == "HEAD" {
			return fmt.Errorf("tag must be a tag name such as \"v1.4.2\" (got %q)", r.Tag)
		}
	}
	return nil
}

// ValidateRemote checks where the repository is, without the branch: the
// host, the URL, the owner and name. A listing of the repository's pull
// requests or branches needs no more.
func (r Repo) ValidateRemote() error {
	if r.URL != "" {
		return r.validateURL()
	}
	host, err := r.Host()
	if err != nil {
		return err
	}
	if r.Owner == "" {
		return fmt.Errorf("repo_owner is required")
	}
	parts := []string{r.Owner}
	if host == GitLab {
		parts = strings.Split(r.Owner, "/") // subgroups: group/subgroup
	}
	for _, p := range parts {
		if !validNamePart(p) {
			return fmt.Errorf("repo_owner must be letters, digits, '.', '_' or '-'%s (got %q)", ownerHint(host), r.Owner)
		}
	}
	if r.Name == "" {
		return fmt.Errorf("repo_name is required")
	}
	if !validNamePart(r.Name) {
		return fmt.Errorf("repo_name must be letters, digits, '.', '_' or '-' (got %q)", r.Name)
	}
	return nil
}

// followed is the reference a deploy follows: the tag when one is set,
// else the branch.
func (r Repo) followed() plumbing.ReferenceName {
	if r.Tag != "" {
		return plumbing.NewTagReferenceName(r.Tag)
	}
	return plumbing.NewBranchReferenceName(r.Branch)
}

// describeFollowed names what a deploy follows, for messages.
func (r Repo) describeFollowed() string {
	if r.Tag != "" {
		return fmt.Sprintf("tag %q", r.Tag)
	}
	return fmt.Sprintf("branch %q", r.Branch)
}

func ownerHint(h Host) string {
	if h == GitLab {
		return ", with '/' between subgroups"
	}
	return ""
}

// CloneURL returns <base>/<owner>/<name>.git, without credentials; for a
// URL remote, the URL.
func (r Repo) CloneURL() (string, error) {
	if err := r.Validate(); err != nil {
		return "", err
	}
	if r.URL != "" {
		return strings.TrimSpace(r.URL), nil
	}
	base, err := r.base()
	if err != nil {
		return "", err
	}
	return base + "/" + r.Owner + "/" + r.Name + ".git", nil
}

// auth is the HTTPS git credential each host expects for a token: basic auth
// with the token as password, under the username the host documents (GitHub
// x-access-token; Gitea takes any name; GitLab oauth2). Nil is anonymous.
func (r Repo) auth() (transport.AuthMethod, error) {
	if r.URL != "" {
		return r.urlAuth()
	}
	if r.Token == "" {
		return nil, nil
	}
	host, err := r.Host()
	if err != nil {
		return nil, err
	}
	user := "oauth2"
	if host == GitHub {
		user = "x-access-token"
	}
	return &githttp.BasicAuth{Username: user, Password: r.Token}, nil
}
