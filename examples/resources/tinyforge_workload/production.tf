# Production settings: three replicas behind Caddy (the route balances over
# all of them; a blue-green redeploy starts three new ones, gates every one,
# then swaps the route to all three at once), resource limits, a restart
# policy and the process to run. A change of any setting redeploys; refresh
# and import read each one back from the containers.
resource "tinyforge_workload" "api" {
  name     = "api"
  domains  = ["api.example.test"]
  replicas = 3 # Caddy only: Nginx Proxy Manager forwards a host to one target

  memory       = 512 # MiB, a hard limit
  cpus         = 1.5
  restart      = "on-failure" # default "unless-stopped"
  command      = ["serve", "--port", "8080"]
  user         = "1000:1000"
  working_dir  = "/srv"
  stop_signal  = "SIGTERM"
  stop_timeout = 30 # seconds between stop_signal and SIGKILL
  labels = {
    "com.example.team" = "payments" # keys under tinyforge. are the provider's own
  }

  source {
    image {
      ref         = "registry.example.com/acme/api:2.1.0" # see registry_auth on the provider
      port        = 8080
      healthcheck = "/healthz"
    }
  }
}
