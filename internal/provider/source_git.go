package provider

import (
	"cmp"
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/gitbuild"
)

// gitModel is the Git attributes every Git source block shares, declared
// once (gitAttributes) and embedded in each Git source's model.
type gitModel struct {
	Provider             types.String `tfsdk:"provider"`
	BaseURL              types.String `tfsdk:"base_url"`
	RepoOwner            types.String `tfsdk:"repo_owner"`
	RepoName             types.String `tfsdk:"repo_name"`
	Branch               types.String `tfsdk:"branch"`
	Ref                  types.String `tfsdk:"ref"`
	ReportCommitStatus   types.Bool   `tfsdk:"report_commit_status"`
	PreviewURL           types.String `tfsdk:"preview_url"`
	AccessToken          types.String `tfsdk:"access_token"`
	AccessTokenWO        types.String `tfsdk:"access_token_wo"`
	AccessTokenWOVersion types.Int64  `tfsdk:"access_token_wo_version"`
	URL                  types.String `tfsdk:"url"`
	SSHPrivateKeyWO      types.String `tfsdk:"ssh_private_key_wo"`
	SSHPrivateKeyVersion types.Int64  `tfsdk:"ssh_private_key_wo_version"`
	SSHKnownHosts        types.String `tfsdk:"ssh_known_hosts"`
}

// gitAttributes are the Git attributes of every Git source block, merged
// with the source's own.
func gitAttributes(own map[string]schema.Attribute) map[string]schema.Attribute {
	attrs := map[string]schema.Attribute{
		"provider": schema.StringAttribute{
			MarkdownDescription: "Git host kind: `github`, `gitea` or `gitlab`; empty detects it from `base_url` " +
				"(GitHub when `base_url` is empty).",
			Optional:   true,
			Validators: []validator.String{engineRule("a Git host kind", gitbuild.ValidateProvider)},
		},
		"base_url": schema.StringAttribute{
			MarkdownDescription: "Web root of the Git host, e.g. `https://gitea.example.com`; defaults to " +
				"`https://github.com`. Required for Gitea and GitLab. Never put credentials in it.",
			Optional:   true,
			Validators: []validator.String{engineRule("an http(s) URL", gitbuild.ValidateBaseURL)},
		},
		"repo_owner": schema.StringAttribute{
			MarkdownDescription: "Owner (user, organisation or GitLab group path) of the repository on the Git host. " +
				"The source names its origin one way: `repo_owner` and `repo_name`, or `url`" + pathOrigin + ".",
			Optional: true,
		},
		"repo_name": schema.StringAttribute{
			MarkdownDescription: "Name of the repository on the Git host; goes with `repo_owner`.",
			Optional:            true,
		},
		"url": schema.StringAttribute{
			MarkdownDescription: "Any Git remote, in place of `provider`, `base_url`, `repo_owner` and `repo_name`: " +
				"`https://host/path.git` (anonymous, or with `access_token_wo`, sent as basic auth's password under the " +
				"URL's user, else `x-access-token`), `ssh://user@host[:port]/path.git` or scp-like `user@host:path.git` " +
				"(with `ssh_private_key_wo`, the host key checked against `ssh_known_hosts`), or `file:///path/repo.git` " +
				"(a repository on the disk of the machine terraform runs on, which must be the Docker host: a local " +
				"engine; the `git` command serves it). The branch is resolved at plan as for the other remotes. A bare " +
				"url has no API: `report_commit_status` is refused with it. No credentials in it.",
			Optional:   true,
			Validators: []validator.String{engineRule("a Git remote URL", gitbuild.ValidateURL)},
		},
		"ssh_private_key_wo": schema.StringAttribute{
			MarkdownDescription: "Write-only private key (Terraform 1.11+) of an SSH `url`: a deploy key, unencrypted, " +
				"in OpenSSH or PEM form. Never stored in the state, never in logs or errors; a key the server refuses " +
				"fails the plan naming this attribute. Change `ssh_private_key_wo_version` when it changes.",
			Optional:  true,
			Sensitive: true,
			WriteOnly: true,
		},
		"ssh_private_key_wo_version": schema.Int64Attribute{
			MarkdownDescription: "Version of `ssh_private_key_wo`; change it when the key changes.",
			Optional:            true,
			Validators: []validator.Int64{
				int64validator.AlsoRequires(path.MatchRelative().AtParent().AtName("ssh_private_key_wo")),
			},
		},
		"ssh_known_hosts": schema.StringAttribute{
			MarkdownDescription: "known_hosts lines (content, not a file name) of an SSH `url`'s server, e.g. " +
				"`\"git.example.com ssh-ed25519 AAAA...\"` or `[git.example.com]:2222 ...` for another port. The host key " +
				"is never accepted blindly: a key that is not here, or that changed, fails the plan naming the host " +
				"and the key's SHA256 fingerprint, with the `ssh-keyscan` command that prints its line (check the " +
				"fingerprint with the server's administrator before adding it).",
			Optional: true,
		},
		"branch": schema.StringAttribute{
			MarkdownDescription: "Branch to deploy. Defaults to `" + gitbuild.DefaultBranch + "`.",
			Optional:            true,
			Computed:            true,
			Default:             stringdefault.StaticString(gitbuild.DefaultBranch),
			Validators:          []validator.String{engineRule("a branch name", gitbuild.ValidateBranch)},
		},
		"ref": schema.StringAttribute{
			MarkdownDescription: "Pins the deploy instead of following the head of `branch`: a tag (`v1.4.2`, " +
				"annotated or not), deployed wherever it points, or a full 40-character commit SHA of `branch`, " +
				"deployed as it is (a rollback: when that commit's image is still on the Docker host, the plan " +
				"shows its `image_id` and the apply runs it without cloning or building). A commit that is not " +
				"on `branch` fails the apply before anything running changes. Unset: the head of `branch`.",
			Optional:   true,
			Validators: []validator.String{engineRule("a tag or a full commit SHA", gitbuild.ValidateRef)},
		},
		"report_commit_status": schema.BoolAttribute{
			MarkdownDescription: "Report each deploy to the Git host: the status `tinyforge/<name>` on the built " +
				"commit (pending, then success or failure with the reason), linking to `preview_url`; on GitHub also " +
				"a deployment of the commit to the environment `preview/<name>` (in progress, then success with " +
				"`preview_url` as its environment URL, which the pull request shows, or failure), made inactive " +
				"on destroy; on GitLab the environment `preview/<name>` at `preview_url`, stopped and deleted on " +
				"destroy; on Gitea the commit status. Best effort: what the host refuses is a warning, never a " +
				"failed deploy. Needs a token (the source's, or the provider's `git_auth`). Defaults to `false`.",
			Optional: true,
			Computed: true,
			Default:  booldefault.StaticBool(false),
		},
		"preview_url": schema.StringAttribute{
			MarkdownDescription: "Where the deploy answers, told to the Git host with each report (see " +
				"`report_commit_status`). Defaults to the workload's first domain that is not a wildcard (null " +
				"without one), after `https://` when the proxy serves HTTPS (its `https` block) or the workload has " +
				"a `tls` block, else `http://`. A change redeploys nothing: the next deploy reports it.",
			Optional:   true,
			Computed:   true,
			Validators: []validator.String{engineRule("an http(s) URL", gitbuild.ValidatePreviewURL)},
		},
		"access_token": schema.StringAttribute{
			MarkdownDescription: "Token to clone the repository and report statuses. Stored (sensitive) in the " +
				"state; prefer `access_token_wo`. Never written to logs or errors. A token the Git host refuses " +
				"fails the plan, naming this attribute.",
			Optional:  true,
			Sensitive: true,
			Validators: []validator.String{
				stringvalidator.ConflictsWith(path.MatchRelative().AtParent().AtName("access_token_wo")),
			},
		},
		"access_token_wo": schema.StringAttribute{
			MarkdownDescription: "Write-only token (Terraform 1.11+): used for the plan and the apply, never " +
				"stored in the state. Change `access_token_wo_version` to tell Terraform it changed. Since the " +
				"state holds no token, refresh cannot look for new commits of a private repository with it: the " +
				"plan does.",
			Optional:  true,
			Sensitive: true,
			WriteOnly: true,
		},
		"access_token_wo_version": schema.Int64Attribute{
			MarkdownDescription: "Version of `access_token_wo`; change it when the token changes.",
			Optional:            true,
			Validators: []validator.Int64{
				int64validator.AlsoRequires(path.MatchRelative().AtParent().AtName("access_token_wo")),
			},
		},
	}
	for name, a := range own {
		attrs[name] = a
	}
	return attrs
}

// values are the Git attributes' values, for a known-ness check.
func (g *gitModel) values() []attr.Value {
	return []attr.Value{g.Provider, g.BaseURL, g.RepoOwner, g.RepoName, g.Branch, g.Ref, g.ReportCommitStatus, g.PreviewURL, g.AccessToken,
		g.URL, g.SSHKnownHosts, g.SSHPrivateKeyVersion}
}

// repo maps the Git attributes onto the engine's Repo. The token comes from
// the configuration when written there write-only (config may be nil: no
// configuration, the state). known is false when a value is unknown.
func (g *gitModel) repo(config *gitModel) (gitbuild.Repo, bool) {
	known := true
	for _, v := range g.values() {
		if v.IsUnknown() {
			known = false
		}
	}
	r := gitbuild.Repo{
		Provider:           g.Provider.ValueString(),
		BaseURL:            g.BaseURL.ValueString(),
		RepoOwner:          g.RepoOwner.ValueString(),
		RepoName:           g.RepoName.ValueString(),
		Branch:             g.Branch.ValueString(),
		Ref:                g.Ref.ValueString(),
		ReportCommitStatus: g.ReportCommitStatus.ValueBool(),
		PreviewURL:         g.PreviewURL.ValueString(),
		Token:              g.AccessToken.ValueString(),
		URL:                g.URL.ValueString(),
		KnownHosts:         g.SSHKnownHosts.ValueString(),
	}
	if config != nil && !config.AccessTokenWO.IsNull() {
		if config.AccessTokenWO.IsUnknown() {
			known = false
		}
		r.Token = config.AccessTokenWO.ValueString()
	}
	if config != nil && !config.SSHPrivateKeyWO.IsNull() {
		if config.SSHPrivateKeyWO.IsUnknown() {
			known = false
		}
		r.SSHKey = config.SSHPrivateKeyWO.ValueString()
	}
	return r, known
}

// writeOnlyToken reports whether the credentials are written write-only
// (a token, an SSH key), so that the state has none to refresh with.
func (g *gitModel) writeOnlyToken() bool {
	return (!g.AccessTokenWOVersion.IsNull() && g.AccessToken.IsNull()) || !g.SSHPrivateKeyVersion.IsNull()
}

// gitModelOf rebuilds the Git attributes from a Repo read back from labels;
// the secrets and the write-only version are not recorded there and are
// kept from prior (nil: none). So are branch, ref, report_commit_status
// and preview_url when prior names the same repository: they say what the
// next deploy follows and reports, not what runs (commit_sha does), and a
// change of them that keeps the commit deploys nothing, so the labels keep
// the former ones.
func gitModelOf(r gitbuild.Repo, prior *gitModel) gitModel {
	g := gitModel{
		Provider:             optionalString(r.Provider),
		BaseURL:              optionalString(r.BaseURL),
		RepoOwner:            optionalString(r.RepoOwner),
		RepoName:             optionalString(r.RepoName),
		Branch:               types.StringValue(cmp.Or(r.Branch, gitbuild.DefaultBranch)),
		Ref:                  optionalString(r.Ref),
		ReportCommitStatus:   types.BoolValue(r.ReportCommitStatus),
		PreviewURL:           optionalString(r.PreviewURL),
		AccessToken:          types.StringNull(),
		AccessTokenWO:        types.StringNull(),
		AccessTokenWOVersion: types.Int64Null(),
		URL:                  optionalString(r.URL),
		SSHPrivateKeyWO:      types.StringNull(),
		SSHPrivateKeyVersion: types.Int64Null(),
		SSHKnownHosts:        optionalString(r.KnownHosts),
	}
	if prior != nil {
		g.AccessToken = prior.AccessToken
		g.AccessTokenWOVersion = prior.AccessTokenWOVersion
		g.SSHPrivateKeyVersion = prior.SSHPrivateKeyVersion
		if prior.RepoOwner.Equal(g.RepoOwner) && prior.RepoName.Equal(g.RepoName) && prior.URL.Equal(g.URL) && !prior.Branch.IsNull() {
			g.Branch, g.Ref, g.ReportCommitStatus = prior.Branch, prior.Ref, prior.ReportCommitStatus
			if !prior.PreviewURL.IsUnknown() {
				g.PreviewURL = prior.PreviewURL
			}
		}
	}
	return g
}

// planPreviewURL plans preview_url when the configuration leaves it out:
// defaultPreviewURL of the planned domains (unknown while they are), over
// HTTPS when the proxy serves HTTPS (its https block) or the workload
// brings its own certificate (NPM serves it with ssl_forced; Caddy
// refuses one without https).
func (m *workloadModel) planPreviewURL(ctx context.Context, config *workloadModel, https bool) diag.Diagnostics {
	var diags diag.Diagnostics
	https = https || m.TLS != nil
	g, _ := m.Source.gitOf()
	c, _ := config.Source.gitOf()
	if g == nil || c == nil || !c.PreviewURL.IsNull() {
		return diags
	}
	if m.Domains.IsUnknown() {
		g.PreviewURL = types.StringUnknown()
		return diags
	}
	var domains []types.String
	diags.Append(m.Domains.ElementsAs(ctx, &domains, false)...)
	for _, d := range domains {
		if d.IsUnknown() {
			g.PreviewURL = types.StringUnknown()
			return diags
		}
	}
	names := make([]string, 0, len(domains))
	for _, d := range domains {
		names = append(names, d.ValueString())
	}
	g.PreviewURL = optionalString(defaultPreviewURL(names, https))
	return diags
}

// defaultPreviewURL is where a workload answers by default: its first
// domain that is not a wildcard, over HTTPS when the proxy serves it so
// (https), else HTTP; "" without such a domain.
func defaultPreviewURL(domains []string, https bool) string {
	scheme := "http://"
	if https {
		scheme = "https://"
	}
	for _, d := range domains {
		if !strings.HasPrefix(d, "*.") {
			return scheme + d
		}
	}
	return ""
}

// pathAttribute is path, for the sources that can build a local
// directory.
func pathAttribute() schema.Attribute {
	return schema.StringAttribute{
		MarkdownDescription: "A local directory to build, in place of a Git remote: relative to where terraform runs " +
			"(write `\"${path.module}/app\"`), or absolute. At plan its build context (what `.dockerignore` lets " +
			"through, file modes, symlinks as links) is hashed and the plan shows the hash as `commit_sha` " +
			"(`sha256:<hex>`): a change of any file the build includes redeploys, a change of a file `.dockerignore` " +
			"leaves out does not. The apply builds the directory if its hash is still the planned one, and fails " +
			"otherwise, asking for a new plan. Paths inside it follow the rules of a clone: a symlink that leads out of " +
			"the directory is refused. A remote Docker engine gets the context streamed. `branch`, `ref`, tokens and " +
			"`report_commit_status` do not apply.",
		Optional: true,
	}
}

// pathOrigin is how the attributes of a source that can also build a local
// directory say so; set by the sources that can (dockerfile, static).
const pathOrigin = " (or, for the dockerfile and static sources, `path`)"

// gitOrigin refuses a Git source block that names its origin in no way, or
// in more than one: repo_owner and repo_name, url, or (withPath) path.
type gitOrigin struct{ withPath bool }

func (v gitOrigin) Description(context.Context) string {
	if v.withPath {
		return "one of repo_owner and repo_name, url, or path"
	}
	return "one of repo_owner and repo_name, or url"
}

func (v gitOrigin) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (v gitOrigin) ValidateObject(_ context.Context, req validator.ObjectRequest, resp *validator.ObjectResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	attrs := req.ConfigValue.Attributes()
	set := func(name string) bool { a, ok := attrs[name]; return ok && !a.IsNull() }
	var ways []string
	if set("repo_owner") || set("repo_name") {
		ways = append(ways, "repo_owner and repo_name")
		for _, pair := range [][2]string{{"repo_owner", "repo_name"}, {"repo_name", "repo_owner"}} {
			if set(pair[0]) && !set(pair[1]) {
				resp.Diagnostics.AddAttributeError(req.Path.AtName(pair[1]), "Missing "+pair[1],
					fmt.Sprintf("%s is required with %s", pair[1], pair[0]))
			}
		}
	}
	if set("url") {
		ways = append(ways, "url")
	}
	if v.withPath && set("path") {
		ways = append(ways, "path")
	}
	switch {
	case len(ways) == 0:
		resp.Diagnostics.AddAttributeError(req.Path, "Missing source origin", "the block must set "+v.Description(context.Background()))
	case len(ways) > 1:
		resp.Diagnostics.AddAttributeError(req.Path, "Conflicting source origins",
			fmt.Sprintf("the block must set %s, not %s together", v.Description(context.Background()), strings.Join(ways, " and ")))
	}
}
