package provider

import (
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/dockerfile"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/gitbuild"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/image"
)

// TestGitTokensCompleteOnlySourcesWithoutAToken: a git_auth token reaches
// a Git source of its host that sets no token, whatever the spelling of the
// host's URL, and nothing else.
func TestGitTokensCompleteOnlySourcesWithoutAToken(t *testing.T) {
	t.Parallel()
	tokens, diags := gitTokensOf([]gitAuthModel{
		{BaseURL: types.StringNull(), Token: types.StringValue("gh")},
		{BaseURL: types.StringValue("https://Gitea.example.com/"), Token: types.StringValue("tea")},
	})
	if diags.HasError() {
		t.Fatal(diags)
	}
	for _, tc := range []struct {
		repo      gitbuild.Repo
		token, at string
	}{
		{gitbuild.Repo{RepoOwner: "a", RepoName: "b"}, "gh", "git_auth[0] (base_url https://github.com)"},
		{gitbuild.Repo{BaseURL: "https://gitea.example.com", RepoOwner: "a", RepoName: "b"}, "tea", "git_auth[1] (base_url https://gitea.example.com)"},
		{gitbuild.Repo{BaseURL: "https://gitea.example.com", RepoOwner: "a", RepoName: "b", Token: "own"}, "own", ""},
		{gitbuild.Repo{BaseURL: "https://gitlab.example.com", RepoOwner: "a", RepoName: "b"}, "", ""},
	} {
		src := &dockerfile.Config{Repo: tc.repo, Port: 8080}
		if at := tokens.complete(workload.Spec{Source: src}); at != tc.at || src.Token != tc.token {
			t.Errorf("%s: token %q from %q, want %q from %q", tc.repo.BaseURL, src.Token, at, tc.token, tc.at)
		}
	}
	if at := tokens.complete(workload.Spec{Source: &image.Config{Ref: "x:1", Port: 80}}); at != "" {
		t.Errorf("an image source took a token from %s", at)
	}

	_, diags = gitTokensOf([]gitAuthModel{
		{BaseURL: types.StringValue("https://github.com/"), Token: types.StringValue("a")},
		{BaseURL: types.StringNull(), Token: types.StringValue("b")},
	})
	if !diags.HasError() || !strings.Contains(diags[0].Detail(), "git_auth[0] and git_auth[1] are both for https://github.com") || strings.Contains(diags[0].Detail(), `"a"`) {
		t.Errorf("two blocks for one host: %v", diags)
	}
}

func TestDefaultPreviewURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		domains []string
		https   bool
		want    string
	}{
		{[]string{"pr-1.preview.example.test", "other.test"}, false, "http://pr-1.preview.example.test"},
		{[]string{"*.example.test", "www.example.test"}, true, "https://www.example.test"},
		{[]string{"*.example.test"}, false, ""},
		{nil, false, ""},
	} {
		if got := defaultPreviewURL(tc.domains, tc.https); got != tc.want {
			t.Errorf("defaultPreviewURL(%v, %v) = %q, want %q", tc.domains, tc.https, got, tc.want)
		}
	}
}
