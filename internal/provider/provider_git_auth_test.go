package provider

import (
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
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

// TestGitAuthSSHHosts: an ssh:// block gives its key to the SSH urls of
// its host and port, in either spelling, and to nothing else; a block's
// credential must fit its host's kind, and no message quotes it.
func TestGitAuthSSHHosts(t *testing.T) {
	t.Parallel()
	key := acctest.NewSSHKeyPEM(t)
	tokens, diags := gitTokensOf([]gitAuthModel{
		{BaseURL: types.StringValue("https://git.example.com"), Token: types.StringValue("tea")},
		{BaseURL: types.StringValue("ssh://Git.Example.com"), SSHPrivateKey: types.StringValue(key), SSHKnownHosts: types.StringValue("lines")},
	})
	if diags.HasError() {
		t.Fatal(diags)
	}
	for url, want := range map[string]string{
		"git@git.example.com:acme/app.git":            "git_auth[1] (base_url ssh://git.example.com:22)",
		"ssh://deploy@git.example.com:22/acme/app":    "git_auth[1] (base_url ssh://git.example.com:22)",
		"ssh://git@git.example.com:2222/acme/app.git": "",
		"ssh://git@other.example.com/acme/app.git":    "",
		"https://git.example.com/acme/app.git":        "",
	} {
		k, known, block, _, ok := tokens.lookupSSH(url)
		if block != want || ok != (want != "") || (ok && (k != key || known != "lines")) {
			t.Errorf("lookupSSH(%q) = block %q, %v; want %q", url, block, ok, want)
		}
	}
	if _, _, ok := tokens.lookup("ssh://git.example.com"); ok {
		t.Error("an https lookup found the SSH block")
	}

	for _, tc := range []struct {
		block gitAuthModel
		want  string
	}{
		{gitAuthModel{BaseURL: types.StringValue("ssh://h"), Token: types.StringValue("t"), SSHPrivateKey: types.StringValue(key)}, "takes ssh_private_key, not a token"},
		{gitAuthModel{BaseURL: types.StringValue("ssh://h")}, "set ssh_private_key"},
		{gitAuthModel{BaseURL: types.StringValue("ssh://h"), SSHPrivateKey: types.StringValue("not-a-key-secret")}, "unencrypted private key"},
		{gitAuthModel{BaseURL: types.StringValue("https://h"), Token: types.StringValue("t"), SSHPrivateKey: types.StringValue(key)}, "are for an SSH host"},
		{gitAuthModel{BaseURL: types.StringValue("https://h")}, "set token"},
		{gitAuthModel{BaseURL: types.StringValue("ssh://git@h/acme"), SSHPrivateKey: types.StringValue(key)}, "no user and no path"},
	} {
		_, diags := gitTokensOf([]gitAuthModel{tc.block})
		if !diags.HasError() || !strings.Contains(diags[0].Detail(), tc.want) ||
			strings.Contains(diags[0].Detail(), "secret") || strings.Contains(diags[0].Detail(), keyBody(key)) {
			t.Errorf("%s: %v, want an error saying %q and quoting no key", tc.block.BaseURL, diags, tc.want)
		}
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
