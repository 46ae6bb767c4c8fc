# Nginx Proxy Manager asks Let's Encrypt for a certificate per workload
# (with the email of the NPM user the provider logs in as).
variable "npm_password" {
  type      = string
  sensitive = true
  ephemeral = true
}

provider "tinyforge" {
  proxy {
    npm {
      url      = "http://127.0.0.1:81"
      email    = "admin@example.com"
      password = var.npm_password
      https {}
    }
  }
}
