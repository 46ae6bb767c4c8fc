# On a Swarm manager (provider "swarm", on by default when the engine is one):
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
