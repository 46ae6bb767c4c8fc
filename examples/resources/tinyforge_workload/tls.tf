# A certificate of the workload's own (a wildcard bought elsewhere): the key
# is write-only, never in the state or the plan. To rotate it, change both
# files and bump private_key_pem_wo_version.
variable "shop_tls_key" {
  type      = string
  sensitive = true
  ephemeral = true
}

resource "tinyforge_workload" "shop" {
  name    = "shop"
  domains = ["shop.example.com", "*.shop.example.com"]
  tls {
    certificate_pem            = file("${path.module}/shop.example.com.fullchain.pem")
    private_key_pem_wo         = var.shop_tls_key
    private_key_pem_wo_version = 1
  }
  source {
    image {
      ref         = "ghcr.io/acme/shop:2.0.1"
      port        = 8080
      healthcheck = "/healthz"
    }
  }
}
