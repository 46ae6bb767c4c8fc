# The last lines of a workload's containers, read on every plan: when a
# deploy misbehaves, without ssh to the Docker host. The values of its env
# and secret_env_wo variables are masked.
data "tinyforge_workload_logs" "jobs" {
  name  = "jobs"
  tail  = 50    # per container; defaults to 100
  since = "15m" # or an RFC 3339 time
}

output "jobs_errors" {
  value = [
    for l in data.tinyforge_workload_logs.jobs.lines :
    "${l.time} ${l.instance}: ${l.text}" if l.stream == "stderr"
  ]
}
