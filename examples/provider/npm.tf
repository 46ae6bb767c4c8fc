# Nginx Proxy Manager instead of Caddy: each workload gets one proxy host,
# swapped from blue to green by an in-place update.
variable "npm_password" {
  type      = string
  sensitive = true
  ephemeral = true
}

provider "tinyforge" {
  proxy {
    npm {
      url        = "http://127.0.0.1:81"
      email      = "admin@example.com"
      password   = var.npm_password
      forward_to = "network" # NPM runs as a container on the provider's network
    }
  }
}
