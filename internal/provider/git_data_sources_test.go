package provider

import (
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// TestAccGitDataSources reads pull requests (Gitea's pulls, GitLab's merge
// requests) and branches from the Git server and its stand-ins, with the
// token of a git_auth block; a refused or missing token fails the plan,
// naming where the token is written and never the token.
func TestAccGitDataSources(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	env := newTestEnv(t)
	srv := acctest.StartGitServer(t)
	repo := srv.CreateRepo(t, "acme", acctest.UniqueName("ds"))
	repo.Commit(t, map[string][]byte{"a": []byte("a")}, "main")
	login := repo.CommitTo(t, "feature/login", map[string]acctest.File{"l": {Content: []byte("l")}}, "login")
	repo.CommitTo(t, "feature/a/b", map[string]acctest.File{"d": {Content: []byte("d")}}, "deep")
	project := repo.Owner + "/" + repo.Name
	srv.Gitea.OpenPullRequest(project, acctest.PullRequest{Number: 12, Title: "Login", Author: "dev", HeadBranch: "feature/login"})
	srv.Gitea.OpenPullRequest(project, acctest.PullRequest{Number: 3, Title: "Deep", Author: "dev", HeadBranch: "feature/a/b", BaseBranch: "release"})
	srv.GitLab.OpenPullRequest(project, acctest.PullRequest{Number: 7, Title: "Login", Author: "dev", HeadBranch: "feature/login"})

	gitAuth := func(token string) string {
		return fmt.Sprintf("  git_auth {\n    base_url = %q\n    token    = %q\n  }\n", srv.URL+"/", token)
	}
	sources := func(extra string) string {
		return fmt.Sprintf(`
data "tinyforge_pull_requests" "gitea" {
  git_provider = "gitea"
  base_url     = %[1]q
  repo_owner   = %[2]q
  repo_name    = %[3]q
%[4]s}

data "tinyforge_pull_requests" "gitlab" {
  git_provider = "gitlab"
  base_url     = %[1]q
  repo_owner   = %[2]q
  repo_name    = %[3]q
  base_branch  = "main"
}

data "tinyforge_git_branches" "features" {
  base_url   = %[1]q
  repo_owner = %[2]q
  repo_name  = %[3]q
  match      = "feature/*"
}

data "tinyforge_git_branches" "by_url" {
  url   = "%[1]s/%[2]s/%[3]s.git"
  match = "feature/*"
}

data "tinyforge_git_branches" "on_disk" {
  url = "file://%[5]s"
}
`, srv.URL, repo.Owner, repo.Name, extra, repo.Path())
	}
	// An SSH url with no git_auth key for its host, and a url named twice.
	sshURL := `
data "tinyforge_git_branches" "ssh" {
  url = "ssh://git@git.example.test/acme/app.git"
}
`
	twice := `
data "tinyforge_git_branches" "twice" {
  url        = "https://git.example.test/acme/app.git"
  repo_owner = "acme"
  repo_name  = "app"
}
`
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories,
		Steps: []resource.TestStep{
			{ // no token anywhere: the host wants one
				Config:      env.provider("") + sources(""),
				ExpectError: wrapped("Git token not set", "add a git_auth block"),
			},
			{ // a refused git_auth token: the error names the block
				Config:      env.provider(gitAuth("wrong-token-1")) + sources(""),
				ExpectError: wrapped("Git credentials refused", "git_auth[0] (base_url "+srv.URL+")"),
			},
			{ // a refused access_token: the error is on the attribute
				Config:      env.provider(gitAuth(srv.Token)) + sources(`  access_token = "wrong-token-2"`+"\n"),
				ExpectError: wrapped("Git credentials refused", "access_token"),
			},
			{ // an ssh url with no git_auth key for its host is refused naming url and what to add
				Config: env.provider(gitAuth(srv.Token)) + sshURL,
				ExpectError: atAttr("url", "ssh://git@git.example.test/acme/app.git", "is an SSH remote",
					"no git_auth block", "ssh://git.example.test:22", "ssh_private_key", "stored in the state"),
			},
			{ // url names the remote alone
				Config:      env.provider("") + twice,
				ExpectError: wrapped("Invalid Attribute Combination", "url"),
			},
			{
				Config:           env.provider(gitAuth(srv.Token)) + sources(""),
				ConfigPlanChecks: emptyPlanAfterApply(),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("data.tinyforge_pull_requests.gitea", tfjsonpath.New("pull_requests"), knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectExact(map[string]knownvalue.Check{
							"number": knownvalue.Int64Exact(3), "title": knownvalue.StringExact("Deep"), "author": knownvalue.StringExact("dev"),
							"head_branch": knownvalue.StringExact("feature/a/b"), "head_sha": knownvalue.StringExact(repo.Head(t, "feature/a/b")),
							"base_branch": knownvalue.StringExact("release"), "from_fork": knownvalue.Bool(false),
						}),
						pullRequest(12, "feature/login", login, false),
					})),
					statecheck.ExpectKnownValue("data.tinyforge_pull_requests.gitlab", tfjsonpath.New("pull_requests"), knownvalue.ListExact([]knownvalue.Check{
						pullRequest(7, "feature/login", login, false),
					})),
					statecheck.ExpectKnownValue("data.tinyforge_git_branches.features", tfjsonpath.New("names"),
						knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("feature/login")})),
					statecheck.ExpectKnownValue("data.tinyforge_git_branches.features", tfjsonpath.New("heads"),
						knownvalue.MapExact(map[string]knownvalue.Check{"feature/login": knownvalue.StringExact(login)})),
					// The https url took git_auth's token for its host.
					statecheck.ExpectKnownValue("data.tinyforge_git_branches.by_url", tfjsonpath.New("heads"),
						knownvalue.MapExact(map[string]knownvalue.Check{"feature/login": knownvalue.StringExact(login)})),
					statecheck.ExpectKnownValue("data.tinyforge_git_branches.on_disk", tfjsonpath.New("heads"),
						knownvalue.MapExact(map[string]knownvalue.Check{
							"main": knownvalue.StringExact(repo.Head(t, "main")), "feature/login": knownvalue.StringExact(login),
							"feature/a/b": knownvalue.StringExact(repo.Head(t, "feature/a/b")),
						})),
				},
			},
		},
	})
}

// pullRequest checks one element of a tinyforge_pull_requests list whose
// base branch is main.
func pullRequest(number int64, branch, sha string, fork bool) knownvalue.Check {
	return knownvalue.ObjectExact(map[string]knownvalue.Check{
		"number": knownvalue.Int64Exact(number), "title": knownvalue.NotNull(), "author": knownvalue.NotNull(),
		"head_branch": knownvalue.StringExact(branch), "head_sha": knownvalue.StringExact(sha),
		"base_branch": knownvalue.StringExact("main"), "from_fork": knownvalue.Bool(fork),
	})
}
