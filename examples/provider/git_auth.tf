# One token per Git host, for the tinyforge_pull_requests and
# tinyforge_git_branches data sources and for the Git sources that set no
# token of their own; and an SSH host's key, with which
# tinyforge_git_branches lists an SSH url on that host. Provider
# configuration is never stored in the state.
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

variable "git_ssh_key" {
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
  git_auth {
    # An SSH host: every ssh://git@git.example.com/... and
    # git@git.example.com:... url (port 22 unless base_url names one).
    base_url        = "ssh://git.example.com"
    ssh_private_key = var.git_ssh_key
    # The host's line, as ssh-keyscan prints it: an unknown or changed
    # host key is refused, naming its SHA256 fingerprint.
    ssh_known_hosts = "git.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHc3kYs3v9HcU5Qnqz5ujbKf0wEkqUrQp4dXbJpKn1Jp"
  }
}
