# A workload deployed by this configuration: depends_on makes Terraform read
# it after the deploy, so the values are those of the new container.
data "tinyforge_workload" "web" {
  name       = tinyforge_workload.web.name
  depends_on = [tinyforge_workload.web]
}

# A workload deployed by another Terraform state (or another team), by name.
data "tinyforge_workload" "api" {
  name = "api"
}

output "web_upstream" {
  value = data.tinyforge_workload.web.upstream
}

output "api" {
  value = {
    generation = data.tinyforge_workload.api.generation
    commit     = data.tinyforge_workload.api.commit_sha
    domains    = data.tinyforge_workload.api.domains
    status     = data.tinyforge_workload.api.status
  }
}
