# A worker: the same image as the web workload, another command, no port.
# It gets no route and no published port; a new version is gated on its
# liveness (running, not restarting, for a few seconds). blue-green starts
# the new replicas beside the old ones and stops the old only once the new
# passed their gate; recreate stops first. stop_signal and stop_timeout give
# a job in progress time to finish on the way out.
resource "tinyforge_workload" "jobs" {
  name            = "jobs"
  deploy_strategy = "blue-green"
  replicas        = 2
  command         = ["bin/jobs", "--queue", "default"]
  stop_signal     = "SIGTERM"
  stop_timeout    = 120

  env = { DATABASE_HOST = "db.internal" }

  source {
    image {
      ref = "registry.example.com/acme/web:2.4.0"
      # no port: a worker
    }
  }
}
