package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/git"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/gitbuild"
)

// gitRemoteModel is the repository a Git data source reads: the Git
// sources' repository attributes under the same names, with git_provider
// for the host kind (provider is a meta-argument at a data source's top
// level).
type gitRemoteModel struct {
	GitProvider types.String `tfsdk:"git_provider"`
	BaseURL     types.String `tfsdk:"base_url"`
	RepoOwner   types.String `tfsdk:"repo_owner"`
	RepoName    types.String `tfsdk:"repo_name"`
	AccessToken types.String `tfsdk:"access_token"`
}

// gitRemoteAttributes are the repository attributes of the Git data
// sources, merged with the data source's own.
func gitRemoteAttributes(own map[string]schema.Attribute) map[string]schema.Attribute {
	attrs := map[string]schema.Attribute{
		"git_provider": schema.StringAttribute{
			MarkdownDescription: "Git host kind: `github`, `gitea` or `gitlab`; unset detects it from `base_url` " +
				"(GitHub when `base_url` is unset), as a Git source's `provider` does.",
			Optional:   true,
			Validators: []validator.String{stringvalidator.OneOf(string(git.GitHub), string(git.Gitea), string(git.GitLab))},
		},
		"base_url": schema.StringAttribute{
			MarkdownDescription: "Web root of the Git host, e.g. `https://gitea.example.com`; defaults to " +
				"`https://github.com`. Required for Gitea and GitLab. Never put credentials in it.",
			Optional:   true,
			Validators: []validator.String{engineRule("an http(s) URL", gitbuild.ValidateBaseURL)},
		},
		"repo_owner": schema.StringAttribute{
			MarkdownDescription: "Owner (user, organisation or GitLab group path) of the repository.",
			Required:            true,
		},
		"repo_name": schema.StringAttribute{
			MarkdownDescription: "Name of the repository.",
			Required:            true,
		},
		"access_token": schema.StringAttribute{
			MarkdownDescription: "Token to read the repository. A data source's arguments are stored in the state " +
				"(sensitive) and cannot be ephemeral: prefer the provider's `git_auth` block for the host, which this " +
				"data source uses when `access_token` is unset. Unset with no `git_auth` block: anonymous (a public " +
				"repository). A token the host refuses is an error naming where it is written, never the token.",
			Optional:  true,
			Sensitive: true,
		},
		"id": schema.StringAttribute{
			MarkdownDescription: "`<repo_owner>/<repo_name>`.",
			Computed:            true,
		},
	}
	for name, a := range own {
		attrs[name] = a
	}
	return attrs
}

// repo is the repository, with its token: access_token, else the git_auth
// block for the host (tokenAt says which, for messages; "" when none).
func (m gitRemoteModel) repo(tokens gitTokens) (repo git.Repo, tokenAt string) {
	repo = git.Repo{
		Provider: m.GitProvider.ValueString(),
		BaseURL:  m.BaseURL.ValueString(),
		Owner:    m.RepoOwner.ValueString(),
		Name:     m.RepoName.ValueString(),
		Token:    m.AccessToken.ValueString(),
	}
	if repo.Token != "" {
		return repo, "access_token"
	}
	if token, block, ok := tokens.lookup(repo.BaseURL); ok {
		repo.Token = token
		return repo, "the provider's " + block
	}
	return repo, ""
}

// remoteError turns an error of a listing into a diagnostic on the
// attribute it is about: a refused or missing token names where the token
// is written (or how to set one), a rule broken names its attribute.
func remoteError(summary string, err error, tokenAt string) diag.Diagnostic {
	switch {
	case errors.Is(err, git.ErrCredentials) && tokenAt == "":
		return diag.NewAttributeErrorDiagnostic(path.Root("access_token"), "Git token not set",
			fmt.Sprintf("%s\n\nThe Git host wants a token to read this repository: add a git_auth block for the host to the "+
				"provider configuration (it takes ephemeral values and is never stored in the state), or set access_token.", err.Error()))
	case errors.Is(err, git.ErrCredentials) && tokenAt == "access_token":
		return diag.NewAttributeErrorDiagnostic(path.Root("access_token"), "Git credentials refused",
			fmt.Sprintf("%s\n\nThe Git host refused the token of access_token: set a token that can read the repository.", err.Error()))
	case errors.Is(err, git.ErrCredentials):
		return diag.NewErrorDiagnostic("Git credentials refused",
			fmt.Sprintf("%s\n\nThe Git host refused the token of %s, which this data source uses since it sets no "+
				"access_token: set a token there that can read the repository.", err.Error(), tokenAt))
	}
	msg := err.Error()
	for _, attr := range []string{"base_url", "repo_owner", "repo_name", "url", "base_branch", "match", "state"} {
		if strings.HasPrefix(msg, attr+" ") {
			return diag.NewAttributeErrorDiagnostic(path.Root(attr), summary, msg)
		}
	}
	if strings.HasPrefix(msg, "provider ") {
		return diag.NewAttributeErrorDiagnostic(path.Root("git_provider"), summary, "git_"+msg)
	}
	return diag.NewErrorDiagnostic(summary, msg)
}

// gitDataSource is what the Git data sources share: the provider's data,
// which Configure hands over.
type gitDataSource struct {
	providerLink
}

func (d *gitDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.take(req.ProviderData, &resp.Diagnostics)
}
