package provider

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/hashicorp/terraform-plugin-framework-validators/datasourcevalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/git"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/gitbuild"
)

var (
	_ datasource.DataSource                     = (*gitBranchesDataSource)(nil)
	_ datasource.DataSourceWithConfigure        = (*gitBranchesDataSource)(nil)
	_ datasource.DataSourceWithConfigValidators = (*gitBranchesDataSource)(nil)
)

// NewGitBranchesDataSource is the tinyforge_git_branches data source: the
// branches of a repository and their heads, for a workload per branch.
func NewGitBranchesDataSource() datasource.DataSource { return &gitBranchesDataSource{} }

type gitBranchesDataSource struct {
	gitDataSource
}

// gitBranchesModel is data.tinyforge_git_branches as Terraform holds it.
type gitBranchesModel struct {
	gitRemoteModel
	URL   types.String `tfsdk:"url"`
	ID    types.String `tfsdk:"id"`
	Match types.String `tfsdk:"match"`
	Names types.List   `tfsdk:"names"`
	Heads types.Map    `tfsdk:"heads"`
}

func (d *gitBranchesDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_git_branches"
}

func (d *gitBranchesDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "The branches of a repository a Git source can clone, each with the commit at its head, " +
			"read with one listing of the remote's references (what `git ls-remote --heads` does): no clone, no " +
			"API. `for_each` over `names` makes a workload per branch. A host that cannot be reached fails the " +
			"plan: an empty list would destroy every workload made from it.",
		Attributes: gitRemoteAttributes(map[string]schema.Attribute{
			// Optional
			"repo_owner": schema.StringAttribute{
				MarkdownDescription: "Owner (user, organisation or GitLab group path) of the repository, with `repo_name`; " +
					"or set `url` instead.",
				Optional:   true,
				Validators: []validator.String{stringvalidator.AlsoRequires(path.MatchRoot("repo_name"))},
			},
			"repo_name": schema.StringAttribute{
				MarkdownDescription: "Name of the repository, with `repo_owner`.",
				Optional:            true,
				Validators:          []validator.String{stringvalidator.AlsoRequires(path.MatchRoot("repo_owner"))},
			},
			"url": schema.StringAttribute{
				MarkdownDescription: "Any Git remote, in place of `git_provider`, `base_url`, `repo_owner` and `repo_name`, " +
					"as a Git source's `url`: `https://host/path.git` (the token of `access_token`, else of the " +
					"provider's `git_auth` block for that host, else none), `ssh://user@host[:port]/path.git` or " +
					"`user@host:path.git` (the `ssh_private_key` and `ssh_known_hosts` of the provider's `git_auth` " +
					"block with `base_url = \"ssh://host[:port]\"`: the key is never an argument here, since a data " +
					"source's arguments are stored in the state; the host key is checked, never accepted blindly) or " +
					"`file:///path/repo.git` (a repository on the disk of the machine Terraform runs on).",
				Optional: true,
				Validators: []validator.String{
					engineRule("a Git remote URL", gitbuild.ValidateURL),
					stringvalidator.ConflictsWith(path.MatchRoot("git_provider"), path.MatchRoot("base_url"),
						path.MatchRoot("repo_owner"), path.MatchRoot("repo_name")),
				},
			},
			"id": schema.StringAttribute{
				MarkdownDescription: "`<repo_owner>/<repo_name>`, or the `url`.",
				Computed:            true,
			},
			"match": schema.StringAttribute{
				MarkdownDescription: "Only the branches whose name matches this glob: `*` matches within one " +
					"`/`-separated part (`feature/*` matches `feature/login`, not `feature/a/b`), `?` one character, " +
					"`[...]` a class. Unset: every branch.",
				Optional:   true,
				Validators: []validator.String{engineRule("a glob", git.ValidateBranchPattern)},
			},

			// Computed
			"names": schema.ListAttribute{
				MarkdownDescription: "The branch names, sorted.",
				ElementType:         types.StringType,
				Computed:            true,
			},
			"heads": schema.MapAttribute{
				MarkdownDescription: "Each branch's head commit (full SHA), by name: with `ref = heads[name]` a workload " +
					"deploys the commit this listing saw.",
				ElementType: types.StringType,
				Computed:    true,
			},
		}),
	}
}

func (d *gitBranchesDataSource) ConfigValidators(context.Context) []datasource.ConfigValidator {
	return []datasource.ConfigValidator{
		datasourcevalidator.ExactlyOneOf(path.MatchRoot("repo_owner"), path.MatchRoot("url")),
	}
}

func (d *gitBranchesDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m gitBranchesModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !d.configured(&resp.Diagnostics) {
		return
	}
	repo, tokenAt, id := m.remote(d.data.gitTokens)
	var heads map[string]string
	if git.IsSSHURL(repo.URL) {
		var ok bool
		if heads, ok = m.listSSH(ctx, d.data.gitTokens, repo.URL, &resp.Diagnostics); !ok {
			return
		}
	} else {
		var err error
		if heads, err = git.ListBranches(ctx, repo, m.Match.ValueString()); err != nil {
			resp.Diagnostics.Append(remoteError("Cannot list the branches of "+id, err, tokenAt))
			return
		}
	}
	names := slices.Sorted(maps.Keys(heads))
	tflog.Info(ctx, "listed the branches", map[string]any{"repository": id, "branches": len(names)})
	headValues := make(map[string]attr.Value, len(heads))
	for name, sha := range heads {
		headValues[name] = types.StringValue(sha)
	}
	m.ID = types.StringValue(id)
	m.Names = stringList(names)
	m.Heads = types.MapValueMust(types.StringType, headValues)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// remote is the repository to list, with its token and where that is
// written (as gitRemoteModel.repo), and its id: owner/name, or the url.
// A url remote takes a git_auth token only for its own https host.
func (m gitBranchesModel) remote(tokens gitTokens) (repo git.Repo, tokenAt, id string) {
	url := m.URL.ValueString()
	if url == "" {
		repo, tokenAt = m.repo(tokens)
		return repo, tokenAt, repo.Owner + "/" + repo.Name
	}
	repo = git.Repo{URL: url, Token: m.AccessToken.ValueString()}
	if repo.Token != "" {
		return repo, "access_token", url
	}
	if origin, isHTTP := git.HTTPOrigin(url); isHTTP {
		if token, block, ok := tokens.lookup(origin); ok {
			return git.Repo{URL: url, Token: token}, "the provider's " + block, url
		}
	}
	return repo, "", url
}

// listSSH lists the branches of an SSH url with the key of the provider's
// git_auth block for its host, checking the host key against that block's
// ssh_known_hosts. No key for the host, or a token set beside the url, is
// an error on the attribute; no message quotes the key.
func (m gitBranchesModel) listSSH(ctx context.Context, tokens gitTokens, url string, diags *diag.Diagnostics) (map[string]string, bool) {
	if m.AccessToken.ValueString() != "" {
		diags.AddAttributeError(path.Root("access_token"), "Token for an SSH remote",
			fmt.Sprintf("url %q is an SSH remote, which authenticates with a key, not a token: unset access_token; "+
				"the key comes from the provider's git_auth block for the host.", url))
		return nil, false
	}
	key, knownHosts, block, host, ok := tokens.lookupSSH(url)
	if !ok {
		diags.AddAttributeError(path.Root("url"), "No SSH key for this remote",
			fmt.Sprintf("url %q is an SSH remote and no git_auth block of the provider has a key for %s. Add one to "+
				"the provider configuration (never stored in the state; ephemeral values allowed):\n\n"+
				"  git_auth {\n    base_url        = %q\n    ssh_private_key = var.git_ssh_key\n"+
				"    ssh_known_hosts = \"<the host's line, as ssh-keyscan prints it>\"\n  }\n\n"+
				"A data source cannot take the key itself: its arguments are stored in the state.", url, host, host))
		return nil, false
	}
	heads, err := git.ListBranches(ctx, git.Repo{URL: url, SSHKey: key, KnownHosts: knownHosts}, m.Match.ValueString())
	var hostKey *git.HostKeyError
	switch {
	case err == nil:
		return heads, true
	case errors.As(err, &hostKey):
		diags.AddError("SSH host key refused", fmt.Sprintf("%s\n\nssh_known_hosts is the one of the provider's %s.", hostKey.Error(), block))
	case errors.Is(err, git.ErrCredentials):
		diags.AddError("SSH key refused", fmt.Sprintf("The SSH server of %s refused the ssh_private_key of the provider's %s "+
			"(or its account may not read the repository): set there a key the server accepts for this repository.", url, block))
	default:
		diags.Append(remoteError("Cannot list the branches of "+url, err, ""))
	}
	return nil, false
}
