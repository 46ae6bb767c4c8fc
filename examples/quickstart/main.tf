# Quickstart: one workload on the local Docker engine, routed by Caddy on
# hello.localhost. `make demo` builds the images (no registry needed) and
# the provider, starts a Caddy of its own, applies this with app_version =
# "v1", then with "v2" (the default, so that a plan after the demo is
# empty): a blue-green redeploy.
terraform {
  required_providers {
    tinyforge = {
      source = "tinyforge/tinyforge"
    }
  }
}

variable "app_version" {
  description = "The image tag to run (tinyforge-demo/hello:<app_version>); make demo builds v1 and v2."
  type        = string
  default     = "v2"
}

variable "http_port" {
  description = "Where Caddy serves the workloads' domains, on 127.0.0.1."
  type        = number
  default     = 9080
}

variable "caddy_admin_url" {
  description = "The admin API of the Caddy that make demo starts."
  type        = string
  default     = "http://127.0.0.1:9019"
}

provider "tinyforge" {
  network = "tinyforge-demo"
  proxy {
    caddy {
      admin_url = var.caddy_admin_url
      listen    = ["127.0.0.1:${var.http_port}"]
    }
  }
}

resource "tinyforge_workload" "hello" {
  name = "hello"
  # Routed, so a redeploy is blue-green: the new version starts beside the
  # old one, passes its health check, takes the route, and the old one
  # drains and stops.
  domains = ["hello.localhost"]

  env = {
    GREETING = "hello from tinyforge"
  }

  source {
    image {
      ref         = "tinyforge-demo/hello:${var.app_version}"
      port        = 8080
      healthcheck = "/healthz"
      pull        = "never" # built locally by make demo
    }
  }
}

output "url" {
  description = "Where the workload answers: *.localhost is the loopback address for curl and browsers."
  value       = "http://hello.localhost:${var.http_port}/"
}

output "generation" {
  value = tinyforge_workload.hello.generation
}
