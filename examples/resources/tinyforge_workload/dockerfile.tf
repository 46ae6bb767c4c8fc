# A Git repository with a Dockerfile. The plan resolves the branch head into
# commit_sha, so a new push shows as a change; the apply clones exactly that
# commit, builds it on the Docker host, and reports the outcome on the commit.
variable "gitea_token" {
  type      = string
  sensitive = true
  ephemeral = true # Terraform 1.10+: never stored in plan or state
}

resource "tinyforge_workload" "api" {
  name            = "api"
  deploy_strategy = "blue-green" # a dockerfile source recreates by default
  domains         = ["api.example.test"]

  source {
    dockerfile {
      base_url        = "https://gitea.example.com" # provider "gitea" is detected
      repo_owner      = "acme"
      repo_name       = "platform"
      branch          = "main"
      context_path    = "services/api"      # a monorepo subfolder
      dockerfile_path = "deploy/Dockerfile" # relative to the context
      port            = 8080
      healthcheck     = "/healthz"
      build_args      = { GO_VERSION = "1.26" }

      report_commit_status    = true
      access_token_wo         = var.gitea_token # write-only: never in the state
      access_token_wo_version = 1
    }
  }
}
