# A preview per open pull request, Vercel-style: each gets its own workload on
# pr-<number>.preview.example.test, its link on the pull request (a GitHub
# deployment), and goes away with its route and images when the pull request
# closes. Production follows main. Run terraform apply on a schedule or from
# the Git host's CI (see the Previews guide).
terraform {
  required_providers {
    tinyforge = { source = "tinyforge/tinyforge" }
  }
}

variable "github_token" {
  description = "A fine-grained token: read pull requests and contents, write commit statuses and deployments."
  type        = string
  sensitive   = true
  ephemeral   = true
}

provider "tinyforge" {
  proxy {
    caddy {}
  }

  # One token for every repository on github.com: the data source and the
  # Git sources below use it, and it never reaches the state.
  git_auth {
    token = var.github_token
  }
}

data "tinyforge_pull_requests" "open" {
  repo_owner  = "acme"
  repo_name   = "web"
  base_branch = "main"
  # include_forks = false: a fork's code is someone else's (see the guide).
}

resource "tinyforge_workload" "preview" {
  for_each = { for pr in data.tinyforge_pull_requests.open.pull_requests : tostring(pr.number) => pr }

  name    = "web-pr-${each.value.number}"
  domains = ["pr-${each.value.number}.preview.example.test"]
  env = {
    APP_ENV = "preview"
  }

  source {
    dockerfile {
      repo_owner = "acme"
      repo_name  = "web"
      # The pull request's head commit, pinned: the plan shows it without
      # asking the Git host again, and a push to the pull request shows as
      # a change of this one preview.
      branch               = each.value.head_branch
      ref                  = each.value.head_sha
      port                 = 8080
      healthcheck          = "/healthz"
      report_commit_status = true # the pull request links to preview_url
    }
  }
}

resource "tinyforge_workload" "production" {
  name            = "web"
  domains         = ["www.example.test"]
  deploy_strategy = "blue-green"
  env = {
    APP_ENV = "production"
  }

  source {
    dockerfile {
      repo_owner  = "acme"
      repo_name   = "web"
      branch      = "main"
      port        = 8080
      healthcheck = "/healthz"
    }
  }
}

output "previews" {
  description = "Where each open pull request's preview answers."
  value       = { for number, w in tinyforge_workload.preview : number => w.source.dockerfile.preview_url }
}
