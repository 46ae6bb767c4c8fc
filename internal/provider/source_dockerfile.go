package provider

import (
	"cmp"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/mapdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/dockerfile"
)

// dockerfileModel is the source.dockerfile block.
type dockerfileModel struct {
	Provider             types.String `tfsdk:"provider"`
	BaseURL              types.String `tfsdk:"base_url"`
	RepoOwner            types.String `tfsdk:"repo_owner"`
	RepoName             types.String `tfsdk:"repo_name"`
	Branch               types.String `tfsdk:"branch"`
	ContextPath          types.String `tfsdk:"context_path"`
	DockerfilePath       types.String `tfsdk:"dockerfile_path"`
	Port                 types.Int64  `tfsdk:"port"`
	Healthcheck          types.String `tfsdk:"healthcheck"`
	ReportCommitStatus   types.Bool   `tfsdk:"report_commit_status"`
	BuildArgs            types.Map    `tfsdk:"build_args"`
	AccessToken          types.String `tfsdk:"access_token"`
	AccessTokenWO        types.String `tfsdk:"access_token_wo"`
	AccessTokenWOVersion types.Int64  `tfsdk:"access_token_wo_version"`
}

func dockerfileBlock() schema.Block {
	return schema.SingleNestedBlock{
		MarkdownDescription: "A Git repository with a Dockerfile, cloned at one commit and built on the Docker host. " +
			"The plan resolves the branch head into `commit_sha`, so a new push shows as a change; the apply builds " +
			"exactly that commit (or fails, touching nothing that runs, when it can no longer get it). Deploys " +
			"recreate by default; `blue-green` works as for images.",
		Validators: []validator.Object{requiredInBlock("repo_owner", "repo_name", "port")},
		Attributes: map[string]schema.Attribute{
			"provider": schema.StringAttribute{
				MarkdownDescription: "Git host kind: `github`, `gitea` or `gitlab`; empty detects it from `base_url` " +
					"(GitHub when `base_url` is empty).",
				Optional:   true,
				Validators: []validator.String{engineRule("a Git host kind", dockerfile.ValidateProvider)},
			},
			"base_url": schema.StringAttribute{
				MarkdownDescription: "Web root of the Git host, e.g. `https://gitea.example.com`; defaults to " +
					"`https://github.com`. Required for Gitea and GitLab. Never put credentials in it.",
				Optional:   true,
				Validators: []validator.String{engineRule("an http(s) URL", dockerfile.ValidateBaseURL)},
			},
			"repo_owner": schema.StringAttribute{
				MarkdownDescription: "Required. Owner (user, organisation or GitLab group path) of the repository.",
				Optional:            true,
			},
			"repo_name": schema.StringAttribute{
				MarkdownDescription: "Required. Name of the repository.",
				Optional:            true,
			},
			"branch": schema.StringAttribute{
				MarkdownDescription: "Branch to deploy. Defaults to `" + dockerfile.DefaultBranch + "`.",
				Optional:            true,
				Computed:            true,
				Default:             stringdefault.StaticString(dockerfile.DefaultBranch),
				Validators:          []validator.String{engineRule("a branch name", dockerfile.ValidateBranch)},
			},
			"context_path": schema.StringAttribute{
				MarkdownDescription: "Build context, relative to the repository root: no leading `/`, no `..`, and no " +
					"symlink that leads out of the clone. Defaults to the root (`.`).",
				Optional:   true,
				Computed:   true,
				Default:    stringdefault.StaticString(dockerfile.DefaultContextPath),
				Validators: []validator.String{engineRule("a relative path", dockerfile.ValidateContextPath)},
			},
			"dockerfile_path": schema.StringAttribute{
				MarkdownDescription: "Dockerfile, relative to the build context, under the same rules. Defaults to `" +
					dockerfile.DefaultDockerfilePath + "`.",
				Optional:   true,
				Computed:   true,
				Default:    stringdefault.StaticString(dockerfile.DefaultDockerfilePath),
				Validators: []validator.String{engineRule("a relative path", dockerfile.ValidateDockerfilePath)},
			},
			"port":        portAttribute(),
			"healthcheck": healthcheckAttribute(),
			"report_commit_status": schema.BoolAttribute{
				MarkdownDescription: "Report the deploy on the built commit as the status `tinyforge/<name>` " +
					"(pending, then success or failure) through the Git host's API. Best effort: a status the host " +
					"refuses is a warning, never a failed deploy. Needs a token. Defaults to `false`.",
				Optional: true,
				Computed: true,
				Default:  booldefault.StaticBool(false),
			},
			"build_args": schema.MapAttribute{
				MarkdownDescription: "Docker build arguments. They are not secret: like `docker history`, the " +
					"provider records them (in the container's `tinyforge.config` label); pass secrets as `env`.",
				ElementType: types.StringType,
				Optional:    true,
				Computed:    true,
				Default:     mapdefault.StaticValue(types.MapValueMust(types.StringType, nil)),
				Validators: []validator.Map{
					mapvalidator.KeysAre(engineRule("a build argument name", dockerfile.ValidateBuildArgName)),
				},
			},
			"access_token": schema.StringAttribute{
				MarkdownDescription: "Token to clone the repository and report statuses. Stored (sensitive) in the " +
					"state; prefer `access_token_wo`. Never written to logs or errors.",
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
		},
	}
}

// source maps the block onto the engine's source. The token comes from the
// configuration when written there write-only, else from m.
func (m *dockerfileModel) source(config *dockerfileModel) (plugin.Source, bool) {
	known := true
	for _, v := range []attr.Value{m.Provider, m.BaseURL, m.RepoOwner, m.RepoName, m.Branch, m.ContextPath,
		m.DockerfilePath, m.Port, m.Healthcheck, m.ReportCommitStatus, m.BuildArgs, m.AccessToken} {
		if v.IsUnknown() {
			known = false
		}
	}
	c := &dockerfile.Config{
		Provider:           m.Provider.ValueString(),
		BaseURL:            m.BaseURL.ValueString(),
		RepoOwner:          m.RepoOwner.ValueString(),
		RepoName:           m.RepoName.ValueString(),
		Branch:             m.Branch.ValueString(),
		ContextPath:        m.ContextPath.ValueString(),
		DockerfilePath:     m.DockerfilePath.ValueString(),
		Port:               int(m.Port.ValueInt64()),
		Healthcheck:        m.Healthcheck.ValueString(),
		ReportCommitStatus: m.ReportCommitStatus.ValueBool(),
		Token:              m.AccessToken.ValueString(),
	}
	if config != nil && !config.AccessTokenWO.IsNull() {
		if config.AccessTokenWO.IsUnknown() {
			known = false
		}
		c.Token = config.AccessTokenWO.ValueString()
	}
	if !m.BuildArgs.IsNull() && !m.BuildArgs.IsUnknown() {
		c.BuildArgs = map[string]string{}
		for k, v := range m.BuildArgs.Elements() {
			s, ok := v.(types.String)
			if !ok || s.IsUnknown() {
				known = false
				continue
			}
			c.BuildArgs[k] = s.ValueString()
		}
	}
	return c, known
}

// writeOnlyToken reports whether the token is written write-only, so that
// the state has none to refresh with.
func (m *dockerfileModel) writeOnlyToken() bool {
	return !m.AccessTokenWOVersion.IsNull() && m.AccessToken.IsNull()
}

// dockerfileModelOf rebuilds the block from a config read back from labels;
// the secrets and the write-only version are not recorded there and are kept
// from prior.
func dockerfileModelOf(c *dockerfile.Config, prior *dockerfileModel) *dockerfileModel {
	args := make(map[string]attr.Value, len(c.BuildArgs))
	for k, v := range c.BuildArgs {
		args[k] = types.StringValue(v)
	}
	m := &dockerfileModel{
		Provider:             optionalString(c.Provider),
		BaseURL:              optionalString(c.BaseURL),
		RepoOwner:            types.StringValue(c.RepoOwner),
		RepoName:             types.StringValue(c.RepoName),
		Branch:               types.StringValue(cmp.Or(c.Branch, dockerfile.DefaultBranch)),
		ContextPath:          types.StringValue(cmp.Or(c.ContextPath, dockerfile.DefaultContextPath)),
		DockerfilePath:       types.StringValue(cmp.Or(c.DockerfilePath, dockerfile.DefaultDockerfilePath)),
		Port:                 types.Int64Value(int64(c.Port)),
		Healthcheck:          optionalString(c.Healthcheck),
		ReportCommitStatus:   types.BoolValue(c.ReportCommitStatus),
		BuildArgs:            types.MapValueMust(types.StringType, args),
		AccessToken:          types.StringNull(),
		AccessTokenWO:        types.StringNull(),
		AccessTokenWOVersion: types.Int64Null(),
	}
	if prior != nil {
		m.AccessToken = prior.AccessToken
		m.AccessTokenWOVersion = prior.AccessTokenWOVersion
	}
	return m
}
