# Quickstart: one workload on the local Docker engine. `make demo` builds the
# image (no registry needed) and the provider, then applies this.
terraform {
  required_providers {
    tinyforge = {
      source = "tinyforge/tinyforge"
    }
  }
}

provider "tinyforge" {}

variable "image" {
  description = "The image to run; make demo builds it locally."
  type        = string
  default     = "tinyforge-quickstart/hello:v1"
}

resource "tinyforge_workload" "hello" {
  name = "tinyforge-quickstart"

  env = {
    GREETING = "hello from tinyforge"
  }

  source {
    image {
      ref         = var.image
      port        = 8080
      healthcheck = "/healthz"
      pull        = "never" # built locally by make demo
    }
  }
}

output "url" {
  description = "Where the workload answers."
  value       = "http://${tinyforge_workload.hello.upstream}/"
}

output "container" {
  value = tinyforge_workload.hello.container_name
}
