# A release command: database migrations run once per deploy, in a one-off
# container of the new image, after it is pulled or built and before any
# new container starts. If they fail (or run past release_timeout) the
# apply fails with the exit code and their last 50 lines of output, and the
# old version keeps serving, untouched.
resource "tinyforge_workload" "web" {
  name    = "web"
  domains = ["web.example.test"]
  env     = { DATABASE_HOST = "db.internal" }

  secret_env_wo         = { DATABASE_PASSWORD = var.database_password }
  secret_env_wo_version = 1

  # Replaces the image's CMD; its ENTRYPOINT stays (docker run IMAGE ...).
  release_command = ["bin/rails", "db:migrate"]
  release_timeout = 300 # seconds; defaults to 600

  source {
    image {
      ref         = "registry.example.com/acme/web:2.4.0"
      port        = 3000
      healthcheck = "/up"
    }
  }
}

variable "database_password" {
  type      = string
  sensitive = true
  ephemeral = true # Terraform 1.10+: never in the plan or the state
}
