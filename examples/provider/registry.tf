# Pull from private registries. A registry_auth block wins for its registry;
# any other registry uses the Docker config file's logins (auths, and
# credHelpers/credsStore through docker-credential-* programs).
variable "ghcr_token" {
  type      = string
  sensitive = true
  ephemeral = true
}

provider "tinyforge" {
  docker_config_file = "/home/deploy/.docker/config.json" # the default is ~/.docker/config.json

  registry_auth {
    address  = "ghcr.io"
    username = "acme-deploy"
    password = var.ghcr_token
  }
}
