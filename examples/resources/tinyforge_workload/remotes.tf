# Any Git remote, by url: a deploy key over SSH, its server's host key
# checked against ssh_known_hosts (never accepted blindly: an unknown or
# changed key fails the plan with its SHA256 fingerprint).
variable "deploy_key" {
  type      = string
  sensitive = true
  ephemeral = true
}

resource "tinyforge_workload" "shop" {
  name = "shop"

  source {
    dockerfile {
      url                        = "git@git.example.com:acme/shop.git" # or ssh://git@git.example.com:2222/acme/shop.git
      branch                     = "release"
      ssh_private_key_wo         = var.deploy_key
      ssh_private_key_wo_version = 1
      # ssh-keyscan -t ed25519 git.example.com prints it; check its
      # fingerprint (ssh-keygen -lf) with the server's administrator.
      ssh_known_hosts = "git.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHrUdCvtDUXsmZyV2ypsEDqHbfz41gmmHjzJdtJmUsqd"
      port            = 8080
    }
  }
}

# An https remote of any host (a token is sent as basic auth's password,
# under the url's user: here Bitbucket's), and a bare repository on the
# disk of the machine terraform runs on, with a local Docker engine.
variable "bitbucket_token" {
  type      = string
  sensitive = true
  ephemeral = true
}

resource "tinyforge_workload" "docs" {
  name = "docs"

  source {
    static {
      url                     = "https://x-token-auth@bitbucket.example.com/acme/docs.git"
      access_token_wo         = var.bitbucket_token
      access_token_wo_version = 1
      publish_directory       = "public"
    }
  }
}

resource "tinyforge_workload" "mirror" {
  name = "mirror"

  source {
    dockerfile {
      url  = "file:///srv/git/mirror.git"
      port = 8080
    }
  }
}
