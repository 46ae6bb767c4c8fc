# A Docker host reached over SSH, with Caddy running beside its engine.
# The key can come from an ephemeral variable (never in the state or a plan
# file), or leave ssh_private_key unset to use the SSH agent.
variable "deploy_key" {
  type      = string
  sensitive = true
  ephemeral = true
}

provider "tinyforge" {
  docker_host     = "ssh://deploy@docker1.example.com"
  ssh_private_key = var.deploy_key
  # The host's key, as `ssh-keyscan -t ed25519 docker1.example.com` prints
  # it; without it, ~/.ssh/known_hosts must hold the host's key.
  ssh_host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK1ZlWkaPTHvBxVhJJfbWfHm4JQbNJ5ZTUbcqYyqLbqD"

  proxy {
    caddy {
      # The Docker host's loopback: reached through the SSH connection.
      admin_url = "http://127.0.0.1:2019"
    }
  }
}
