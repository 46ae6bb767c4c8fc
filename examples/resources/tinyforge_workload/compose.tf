# A compose stack from Git: compose builds and runs every service with its
# own semantics (build:, depends_on with health conditions, named volumes),
# and the proxy routes the domains to one of them. The plan checks the
# compose files at the planned commit; a service stopped by hand shows in
# `services` and comes back at the next apply, the others untouched.
variable "shop_db_password" {
  type      = string
  sensitive = true
}

resource "tinyforge_workload" "shop" {
  name    = "shop"
  domains = ["shop.example.test"]
  env = {
    DB_PASSWORD = var.shop_db_password # ${DB_PASSWORD} in the compose files
  }

  source {
    compose {
      base_url    = "https://gitea.example.com"
      repo_owner  = "acme"
      repo_name   = "shop"
      files       = ["deploy/compose.yaml"]
      service     = "web"
      port        = 8080
      healthcheck = "/healthz"
    }
  }
}
