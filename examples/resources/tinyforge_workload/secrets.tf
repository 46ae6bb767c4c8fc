# Secrets out of the state: secret_env_wo (write-only, Terraform 1.11+)
# reaches the containers' and the release command's environment and
# nothing else the provider writes: not the state, the plan, labels, logs
# or errors. The state holds the version only: change it to roll a new
# value out (that redeploys).
resource "tinyforge_workload" "api" {
  name    = "api"
  domains = ["api.example.test"]

  env = { LOG_LEVEL = "info" } # in the state (sensitive): for values that may be

  secret_env_wo = {
    STRIPE_API_KEY = var.stripe_api_key
    SESSION_SECRET = var.session_secret
  }
  secret_env_wo_version = 3 # was 2: the keys were rotated

  source {
    image {
      ref         = "registry.example.com/acme/api:2.1.0"
      port        = 8080
      healthcheck = "/healthz"
    }
  }
}

variable "stripe_api_key" {
  type      = string
  sensitive = true
  ephemeral = true
}

variable "session_secret" {
  type      = string
  sensitive = true
  ephemeral = true
}
