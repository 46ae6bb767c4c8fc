# The open pull requests into main, from the repository's own branches.
data "tinyforge_pull_requests" "open" {
  repo_owner  = "acme"
  repo_name   = "web"
  base_branch = "main"
}

# On Gitea or GitLab (merge requests), with the token of a git_auth block
# for that host in the provider configuration.
data "tinyforge_pull_requests" "gitlab" {
  git_provider = "gitlab"
  base_url     = "https://gitlab.example.com"
  repo_owner   = "platform/frontend"
  repo_name    = "web"
}

output "preview_domains" {
  value = [for pr in data.tinyforge_pull_requests.open.pull_requests : "pr-${pr.number}.preview.example.test"]
}
