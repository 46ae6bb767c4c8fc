# A directory next to the configuration, built as it is: the plan shows
# the hash of its build context as commit_sha (sha256:...), a change of
# an included file redeploys, a file .dockerignore leaves out does not. A
# remote Docker engine gets the context streamed.
resource "tinyforge_workload" "dev" {
  name    = "dev"
  domains = ["dev.example.test"]

  source {
    dockerfile {
      path        = "${path.module}/app"
      port        = 8080
      healthcheck = "/healthz"
    }
  }
}
