# One token per Git host, for the tinyforge_pull_requests and
# tinyforge_git_branches data sources and for the Git sources that set no
# token of their own. Provider configuration is never stored in the state.
variable "github_token" {
  type      = string
  sensitive = true
  ephemeral = true
}

variable "gitea_token" {
  type      = string
  sensitive = true
  ephemeral = true
}

provider "tinyforge" {
  git_auth {
    token = var.github_token # base_url defaults to https://github.com
  }
  git_auth {
    base_url = "https://gitea.example.com"
    token    = var.gitea_token
  }
}
