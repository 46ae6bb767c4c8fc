package provider

import (
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/git"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/gitbuild"
)

// gitAuthModel is one git_auth block: a token for every repository on one
// Git host (an https base_url), or the SSH key for every repository on one
// SSH host (an ssh:// base_url).
type gitAuthModel struct {
	BaseURL       types.String `tfsdk:"base_url"`
	Token         types.String `tfsdk:"token"`
	SSHPrivateKey types.String `tfsdk:"ssh_private_key"`
	SSHKnownHosts types.String `tfsdk:"ssh_known_hosts"`
}

func gitAuthBlock() schema.Block {
	return schema.ListNestedBlock{
		MarkdownDescription: "The credentials of one Git host, used by the `tinyforge_pull_requests` and " +
			"`tinyforge_git_branches` data sources and by the Git sources (`dockerfile`, `static`, `compose`) " +
			"that set no token of their own: a `token` for an https host, or an `ssh_private_key` (with " +
			"`ssh_known_hosts`) for an SSH host, whose `base_url` is `ssh://host[:port]`. Provider configuration " +
			"is never stored in the state, and the token and key accept ephemeral values (Terraform 1.10+: an " +
			"`ephemeral = true` variable or an ephemeral resource), which a data source's own arguments cannot. " +
			"Errors name the block, never the token or key.",
		NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
			"base_url": schema.StringAttribute{
				MarkdownDescription: "Web root of the Git host, as the data sources and Git sources write it " +
					"(`https://gitea.example.com`); defaults to `https://github.com`. Matched without regard to a " +
					"trailing `/` or the host name's case. For an SSH host, `ssh://host` or `ssh://host:port` (no " +
					"user, no path; port 22 unless named): it matches every SSH `url` on that host and port, " +
					"`ssh://git@host/owner/repo.git` and `git@host:owner/repo.git` alike.",
				Optional:   true,
				Validators: []validator.String{engineRule("an http(s) URL or ssh://host[:port]", validateGitAuthBaseURL)},
			},
			"token": schema.StringAttribute{
				MarkdownDescription: "The token of an https host (required for one, refused for an SSH host): on " +
					"GitHub a fine-grained token with read access to pull requests and contents (and write access to " +
					"commit statuses and deployments for `report_commit_status`), on Gitea and GitLab an access token " +
					"with the same reach.",
				Optional:  true,
				Sensitive: true,
			},
			"ssh_private_key": schema.StringAttribute{
				MarkdownDescription: "The private key (PEM or OpenSSH form, unencrypted, as `ssh-keygen` writes it) " +
					"of an SSH host (required for one, refused for an https host), with which `tinyforge_git_branches` " +
					"lists an SSH `url`'s branches. Ephemeral values allowed; never stored, logged or quoted.",
				Optional:  true,
				Sensitive: true,
			},
			"ssh_known_hosts": schema.StringAttribute{
				MarkdownDescription: "`known_hosts` lines (as `ssh-keyscan` prints them) the SSH host's key must be " +
					"in, as a Git source's `ssh_known_hosts`. A key they do not record (or none set) is refused, " +
					"naming its SHA256 fingerprint: never accepted blindly.",
				Optional: true,
			},
		}},
	}
}

// validateGitAuthBaseURL is the rule for a git_auth base_url: an SSH
// host root, or a Git host's web root.
func validateGitAuthBaseURL(u string) error {
	if isSSHBase(u) {
		_, err := git.SSHHostKey(u)
		return err
	}
	return gitbuild.ValidateBaseURL(u)
}

// isSSHBase reports whether a git_auth base_url names an SSH host.
func isSSHBase(u string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(u)), "ssh://")
}

// gitTokens are the git_auth credentials by host (git.HostKey, or
// git.SSHHostKey for an SSH host).
type gitTokens map[string]gitToken

// gitToken is one git_auth block's credentials and the block's index.
type gitToken struct {
	token      string
	sshKey     string
	knownHosts string
	index      int
}

// gitTokensOf reads the git_auth blocks; two blocks for one host are an
// error naming the second, and so is a credential the host's kind does
// not take, or a missing one.
func gitTokensOf(blocks []gitAuthModel) (tokens gitTokens, diags diag.Diagnostics) {
	tokens = gitTokens{}
	for i, b := range blocks {
		block := path.Root("git_auth").AtListIndex(i)
		at := block.AtName("base_url")
		base := b.BaseURL.ValueString()
		hostKey, sshHost := git.HostKey, isSSHBase(base)
		if sshHost {
			hostKey = git.SSHHostKey
		}
		key, err := hostKey(base)
		if err != nil {
			diags.AddAttributeError(at, "Invalid git_auth base_url", err.Error())
			continue
		}
		if prev, dup := tokens[key]; dup {
			diags.AddAttributeError(at, "Two git_auth blocks for one Git host",
				fmt.Sprintf("git_auth[%d] and git_auth[%d] are both for %s: keep one", prev.index, i, key))
			continue
		}
		g := gitToken{token: b.Token.ValueString(), sshKey: b.SSHPrivateKey.ValueString(),
			knownHosts: b.SSHKnownHosts.ValueString(), index: i}
		switch {
		case sshHost && !b.Token.IsNull():
			diags.AddAttributeError(block.AtName("token"), "Token for an SSH host",
				fmt.Sprintf("git_auth[%d] is for the SSH host %s, which takes ssh_private_key, not a token", i, key))
		case sshHost && b.SSHPrivateKey.IsNull():
			diags.AddAttributeError(block.AtName("ssh_private_key"), "Missing git_auth ssh_private_key",
				fmt.Sprintf("git_auth[%d] is for the SSH host %s: set ssh_private_key", i, key))
		case sshHost && g.sshKey != "":
			if _, err := ssh.ParsePrivateKey([]byte(g.sshKey)); err != nil {
				diags.AddAttributeError(block.AtName("ssh_private_key"), "Invalid git_auth ssh_private_key",
					fmt.Sprintf("git_auth[%d]'s ssh_private_key must be an unencrypted private key in PEM or OpenSSH "+
						"form (as ssh-keygen writes it)", i))
			}
		case !sshHost && (!b.SSHPrivateKey.IsNull() || !b.SSHKnownHosts.IsNull()):
			diags.AddAttributeError(block.AtName("ssh_private_key"), "SSH key for an https host",
				fmt.Sprintf("git_auth[%d] is for %s, which takes a token: ssh_private_key and ssh_known_hosts are for "+
					"an SSH host (base_url = \"ssh://host\")", i, key))
		case !sshHost && b.Token.IsNull():
			diags.AddAttributeError(block.AtName("token"), "Missing git_auth token",
				fmt.Sprintf("git_auth[%d] is for %s: set token", i, key))
		}
		tokens[key] = g
	}
	return tokens, diags
}

// lookupSSH is the git_auth SSH key and known_hosts lines for the host of
// an SSH url, and where they are written ("git_auth[0] (base_url
// ssh://host:22)"); ok is false when no block is for that host; host is
// the host's key (for messages) either way.
func (t gitTokens) lookupSSH(url string) (key, knownHosts, block, host string, ok bool) {
	host, isSSH := git.SSHOrigin(url)
	if !isSSH {
		return "", "", "", "", false
	}
	g, ok := t[host]
	if !ok || g.sshKey == "" {
		return "", "", "", host, false
	}
	return g.sshKey, g.knownHosts, fmt.Sprintf("git_auth[%d] (base_url %s)", g.index, host), host, true
}

// lookup is the git_auth token for the host of baseURL, and where it is
// written (for messages: "git_auth[0]"); ok is false when no block is for
// that host.
func (t gitTokens) lookup(baseURL string) (token, block string, ok bool) {
	key, err := git.HostKey(baseURL)
	if err != nil {
		return "", "", false
	}
	g, ok := t[key]
	if !ok {
		return "", "", false
	}
	return g.token, fmt.Sprintf("git_auth[%d] (base_url %s)", g.index, key), true
}

// complete gives spec's Git source, when it sets no token of its own, the
// git_auth token of its host. It returns the block the token came from, ""
// when none did.
func (t gitTokens) complete(spec workload.Spec) string {
	src, ok := spec.Source.(gitbuild.Remote)
	if !ok {
		return ""
	}
	r := src.Remote()
	if r.Token != "" || r.Path != "" {
		return ""
	}
	base := r.BaseURL
	if r.URL != "" {
		// A url remote's host is its own: only an https one has a
		// git_auth block, for that host; never GitHub's by default.
		var isHTTP bool
		if base, isHTTP = gitbuild.HTTPOrigin(r.URL); !isHTTP {
			return ""
		}
	}
	token, block, ok := t.lookup(base)
	if !ok {
		return ""
	}
	r.Token = token
	return block
}
