# A registry image behind Caddy, redeployed blue-green (the default for an
# image source routed by a proxy): a new ref starts the new container beside
# the old one, waits for /healthz, swaps the route, then retires the old one.
resource "tinyforge_workload" "web" {
  name          = "web"
  domains       = ["web.example.test"]
  drain_timeout = 5

  env = {
    LOG_LEVEL = "info"
  }

  volume {
    source = "web-data" # a named volume: destroy leaves it in place
    target = "/data"
  }

  source {
    image {
      ref         = "ghcr.io/acme/web:1.4.2"
      port        = 8080
      healthcheck = "/healthz"
    }
  }
}
