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

# Any https://, SSH or file:// remote, named by its url as a Git source's
# url is; an https host's token comes from the provider's git_auth block for
# it.
data "tinyforge_git_branches" "mirror" {
  url   = "https://git.example.com/mirrors/web.git"
  match = "feature/*"
}

# An SSH remote: the key and the host's known_hosts line come from the
# provider's git_auth block with base_url = "ssh://git.example.com" (see the
# provider's page), never from this data source, whose arguments are stored
# in the state. With no such block the plan is refused, naming url.
data "tinyforge_git_branches" "over_ssh" {
  url = "git@git.example.com:acme/web.git"
}
