# With the provider's swarm = true:
# a service of 3 tasks spread over the nodes, updated start-first and gated on
# the image's HEALTHCHECK, rolled back by Swarm when a new task fails.
resource "tinyforge_workload" "api" {
  name            = "api"
  deploy_strategy = "blue-green" # start-first; "recreate" is stop-first
  domains         = ["api.example.test"]
  replicas        = 3
  placement       = ["node.role==worker"]
  memory          = 256
  cpus            = 0.5
  restart         = "on-failure"
  env             = { LOG_LEVEL = "info" }
  source {
    image {
      # From a registry every node reaches; the service runs it by digest.
      ref  = "registry.example.test/acme/api:1.4.2"
      port = 8080
    }
  }
}

# A dockerfile source on Swarm: built on the manager, pushed to the provider's
# swarm_registry with its registry_auth login, run by digest on every node. The
# image's own HEALTHCHECK gates the start-first update (a healthcheck path is
# refused on Swarm: the provider does not reach the tasks).
resource "tinyforge_workload" "web" {
  name            = "web"
  deploy_strategy = "blue-green"
  domains         = ["www.example.test"]
  replicas        = 2
  source {
    dockerfile {
      repo_owner = "acme"
      repo_name  = "web"
      port       = 8080
    }
  }
}
