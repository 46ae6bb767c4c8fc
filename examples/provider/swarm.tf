# swarm = true: each workload is a Swarm service on the overlay network
# "tinyforge", and Caddy, attached to that network, routes to tasks.<name>.
# Images that dockerfile and static sources build on the manager are pushed
# to swarm_registry, from where every node pulls them by digest.
#
# Before the first apply, on the manager: the overlay network, and Caddy on it
# with an admin config (the official image has none):
#
#   mkdir -p /etc/tinyforge
#   echo '{"admin": {"listen": "0.0.0.0:2019", "origins": ["127.0.0.1:2019", "localhost:2019"]}}' \
#     > /etc/tinyforge/caddy-admin.json
#   docker network create --driver overlay --attachable tinyforge
#   docker run -d --name caddy --restart unless-stopped --network tinyforge \
#     -p 80:80 -p 443:443 -p 127.0.0.1:2019:2019 \
#     -v /etc/tinyforge/caddy-admin.json:/etc/caddy/admin.json:ro \
#     -v caddy_data:/data -v caddy_config:/config \
#     caddy:2 caddy run --config /etc/caddy/admin.json --resume
provider "tinyforge" {
  docker_host = "ssh://deploy@manager.example.test"
  network     = "tinyforge"
  swarm       = true # fails if the engine is not a Swarm manager
  # Built images: registry.example.test/tinyforge/<workload>:<commit>-<inputs>
  swarm_registry = "registry.example.test/tinyforge"
  proxy {
    caddy { admin_url = "http://127.0.0.1:2019" }
  }
  registry_auth {
    address  = "registry.example.test"
    username = "deploy"
    password = var.registry_password
  }
}

variable "registry_password" {
  type      = string
  sensitive = true
}
