package provider

import (
	"context"
	"maps"
	"slices"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/git"
)

var (
	_ datasource.DataSource              = (*gitBranchesDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*gitBranchesDataSource)(nil)
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

func (d *gitBranchesDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m gitBranchesModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !d.configured(&resp.Diagnostics) {
		return
	}
	repo, tokenAt := m.repo(d.data.gitTokens)
	heads, err := git.ListBranches(ctx, repo, m.Match.ValueString())
	if err != nil {
		resp.Diagnostics.Append(remoteError("Cannot list the branches of "+repo.Owner+"/"+repo.Name, err, tokenAt))
		return
	}
	names := slices.Sorted(maps.Keys(heads))
	tflog.Info(ctx, "listed the branches", map[string]any{"repository": repo.Owner + "/" + repo.Name, "branches": len(names)})
	headValues := make(map[string]attr.Value, len(heads))
	for name, sha := range heads {
		headValues[name] = types.StringValue(sha)
	}
	m.ID = types.StringValue(repo.Owner + "/" + repo.Name)
	m.Names = stringList(names)
	m.Heads = types.MapValueMust(types.StringType, headValues)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
