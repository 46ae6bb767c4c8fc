provider "tinyforge" {
  # Defaults shown: $DOCKER_HOST, then the local socket.
  docker_host     = "unix:///var/run/docker.sock"
  network         = "tinyforge"
  publish_address = "127.0.0.1"

  # Optional: route workloads' domains through Caddy's admin API.
  proxy {
    caddy {
      admin_url = "http://127.0.0.1:2019"
      server    = "tinyforge"
      listen    = [":80"]
    }
  }
}
