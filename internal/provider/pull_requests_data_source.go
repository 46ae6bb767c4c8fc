package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/git"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/gitbuild"
)

var (
	_ datasource.DataSource              = (*pullRequestsDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*pullRequestsDataSource)(nil)
)

// NewPullRequestsDataSource is the tinyforge_pull_requests data source: a
// repository's pull requests (GitLab: merge requests), for a workload per
// pull request.
func NewPullRequestsDataSource() datasource.DataSource { return &pullRequestsDataSource{} }

type pullRequestsDataSource struct {
	gitDataSource
}

// pullRequestsModel is data.tinyforge_pull_requests as Terraform holds it.
type pullRequestsModel struct {
	gitRemoteModel
	ID           types.String `tfsdk:"id"`
	State        types.String `tfsdk:"state"`
	BaseBranch   types.String `tfsdk:"base_branch"`
	IncludeForks types.Bool   `tfsdk:"include_forks"`
	PullRequests types.List   `tfsdk:"pull_requests"`
}

// pullRequestType is one element of pull_requests.
var pullRequestType = types.ObjectType{AttrTypes: map[string]attr.Type{
	"number": types.Int64Type, "title": types.StringType, "author": types.StringType, "head_branch": types.StringType,
	"head_sha": types.StringType, "base_branch": types.StringType, "from_fork": types.BoolType,
}}

func (d *pullRequestsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_pull_requests"
}

func (d *pullRequestsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "The pull requests of a repository on GitHub, Gitea or GitLab (merge requests), sorted by " +
			"number: `for_each` over them makes a preview workload per pull request, and a pull request that closes " +
			"leaves the list, so the next apply destroys its workload. Read with one API call per page (100 pull " +
			"requests on GitHub and GitLab, 50 on Gitea). A host that cannot be reached fails the plan: an empty list " +
			"would destroy every preview.",
		Attributes: gitRemoteAttributes(map[string]schema.Attribute{
			// Optional
			"state": schema.StringAttribute{
				MarkdownDescription: "`open` (default), `closed` (merged or not) or `all`.",
				Optional:            true,
				Validators:          []validator.String{engineRule("a pull request state", git.ValidatePullState)},
			},
			"base_branch": schema.StringAttribute{
				MarkdownDescription: "Only the pull requests that merge into this branch.",
				Optional:            true,
				Validators:          []validator.String{engineRule("a branch name", gitbuild.ValidateBranch)},
			},
			"include_forks": schema.BoolAttribute{
				MarkdownDescription: "Include the pull requests from forks. Defaults to `false`: a fork's code is " +
					"someone else's, and its preview would run it on the Docker host with the workload's `env` (see " +
					"the Previews guide). A fork's head branch is in the fork, not in this repository.",
				Optional: true,
			},

			// Computed
			"pull_requests": schema.ListNestedAttribute{
				MarkdownDescription: "The pull requests, sorted by number.",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"number": schema.Int64Attribute{Computed: true, MarkdownDescription: "Its number (GitLab: the `!` number, iid)."},
					"title":  schema.StringAttribute{Computed: true, MarkdownDescription: "Its title."},
					"author": schema.StringAttribute{Computed: true, MarkdownDescription: "Login of who opened it."},
					"head_branch": schema.StringAttribute{Computed: true, MarkdownDescription: "The branch of its changes: " +
						"what a preview's `branch` is set to, with `ref = head_sha`."},
					"head_sha":    schema.StringAttribute{Computed: true, MarkdownDescription: "The commit at the head of that branch."},
					"base_branch": schema.StringAttribute{Computed: true, MarkdownDescription: "The branch it merges into."},
					"from_fork":   schema.BoolAttribute{Computed: true, MarkdownDescription: "Whether its head branch is in a fork."},
				}},
			},
		}),
	}
}

func (d *pullRequestsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m pullRequestsModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !d.configured(&resp.Diagnostics) {
		return
	}
	repo, tokenAt := m.repo(d.data.gitTokens)
	filter := git.PullFilter{State: m.State.ValueString(), BaseBranch: m.BaseBranch.ValueString()}
	prs, err := git.ListPullRequests(ctx, repo, filter)
	if err != nil {
		resp.Diagnostics.Append(remoteError("Cannot list the pull requests of "+repo.Owner+"/"+repo.Name, err, tokenAt))
		return
	}
	elems := make([]attr.Value, 0, len(prs))
	forks := 0
	for _, pr := range prs {
		if pr.FromFork && !m.IncludeForks.ValueBool() {
			forks++
			continue
		}
		elems = append(elems, types.ObjectValueMust(pullRequestType.AttrTypes, map[string]attr.Value{
			"number": types.Int64Value(pr.Number), "title": types.StringValue(pr.Title), "author": types.StringValue(pr.Author),
			"head_branch": types.StringValue(pr.HeadBranch), "head_sha": types.StringValue(pr.HeadSHA),
			"base_branch": types.StringValue(pr.BaseBranch), "from_fork": types.BoolValue(pr.FromFork),
		}))
	}
	tflog.Info(ctx, "listed the pull requests", map[string]any{"repository": repo.Owner + "/" + repo.Name,
		"state": filter.State, "kept": len(elems), "forks_left_out": forks})
	m.ID = types.StringValue(repo.Owner + "/" + repo.Name)
	m.PullRequests = types.ListValueMust(pullRequestType, elems)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
