# The release branches of a repository and their heads: one ls-remote, no
# clone.
data "tinyforge_git_branches" "releases" {
  git_provider = "gitea"
  base_url     = "https://gitea.example.com"
  repo_owner   = "acme"
  repo_name    = "web"
  match        = "release/*"
}

# A workload per release branch, each at the commit the listing saw.
resource "tinyforge_workload" "release" {
  for_each = toset(data.tinyforge_git_branches.releases.names)

  # release/1.4 -> web-release-1-4: a workload name is a DNS label.
  name    = "web-${replace(each.key, "/[^a-z0-9]+/", "-")}"
  domains = ["${replace(each.key, "/[^a-z0-9]+/", "-")}.staging.example.test"]
  source {
    dockerfile {
      base_url   = "https://gitea.example.com"
      repo_owner = "acme"
      repo_name  = "web"
      branch     = each.key
      ref        = data.tinyforge_git_branches.releases.heads[each.key]
      port       = 8080
    }
  }
}
