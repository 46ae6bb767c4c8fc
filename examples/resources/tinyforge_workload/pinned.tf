# Releases and rollbacks: pin the deploy with ref instead of following the
# branch head. A tag deploys wherever it points (a push to the branch plans
# nothing); a full commit SHA deploys that commit of the branch. Rolling back
# to the commit deployed before runs its image, which the provider keeps:
# the plan shows its image_id, and the apply swaps to it blue-green without
# cloning or building.
variable "release" {
  type    = string
  default = "v1.4.2" # or a commit, e.g. "3f1c2a9e0b7d4c5a8e6f1b2d3c4a5e6f7a8b9c0d"
}

resource "tinyforge_workload" "shop" {
  name            = "shop"
  deploy_strategy = "blue-green"
  domains         = ["shop.example.test"]

  source {
    dockerfile {
      repo_owner = "acme"
      repo_name  = "shop"
      branch     = "main"
      ref        = var.release
      port       = 8080
    }
  }
}
