package provider

import (
	"fmt"

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
// Git host.
type gitAuthModel struct {
	BaseURL types.String `tfsdk:"base_url"`
	Token   types.String `tfsdk:"token"`
}

func gitAuthBlock() schema.Block {
	return schema.ListNestedBlock{
		MarkdownDescription: "A token for every repository on one Git host, used by the `tinyforge_pull_requests` " +
			"and `tinyforge_git_branches` data sources and by the Git sources (`dockerfile`, `static`, `compose`) " +
			"that set no token of their own. Provider configuration is never stored in the state, and the token " +
			"accepts ephemeral values (Terraform 1.10+: an `ephemeral = true` variable or an ephemeral resource), " +
			"which a data source's own arguments cannot. Errors name the block, never the token.",
		NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
			"base_url": schema.StringAttribute{
				MarkdownDescription: "Web root of the Git host, as the data sources and Git sources write it " +
					"(`https://gitea.example.com`); defaults to `https://github.com`. Matched without regard to a " +
					"trailing `/` or the host name's case.",
				Optional:   true,
				Validators: []validator.String{engineRule("an http(s) URL", gitbuild.ValidateBaseURL)},
			},
			"token": schema.StringAttribute{
				MarkdownDescription: "The token: on GitHub a fine-grained token with read access to pull requests " +
					"and contents (and write access to commit statuses and deployments for `report_commit_status`), " +
					"on Gitea and GitLab an access token with the same reach.",
				Required:  true,
				Sensitive: true,
			},
		}},
	}
}

// gitTokens are the git_auth tokens by host (git.HostKey).
type gitTokens map[string]gitToken

// gitToken is one git_auth token and the block it was written in.
type gitToken struct {
	token string
	index int
}

// gitTokensOf reads the git_auth blocks; two blocks for one host are an
// error naming the second.
func gitTokensOf(blocks []gitAuthModel) (gitTokens, diag.Diagnostics) {
	var diags diag.Diagnostics
	tokens := gitTokens{}
	for i, b := range blocks {
		key, err := git.HostKey(b.BaseURL.ValueString())
		at := path.Root("git_auth").AtListIndex(i).AtName("base_url")
		if err != nil {
			diags.AddAttributeError(at, "Invalid git_auth base_url", err.Error())
			continue
		}
		if prev, dup := tokens[key]; dup {
			diags.AddAttributeError(at, "Two git_auth blocks for one Git host",
				fmt.Sprintf("git_auth[%d] and git_auth[%d] are both for %s: keep one", prev.index, i, key))
			continue
		}
		tokens[key] = gitToken{token: b.Token.ValueString(), index: i}
	}
	return tokens, diags
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
