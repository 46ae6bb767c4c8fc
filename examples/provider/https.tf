# Every workload served over HTTPS, with certificates from Let's Encrypt.
# Caddy listens on :80 (the redirect to HTTPS and the ACME challenge) and
# :443; each domain must resolve to this Caddy.
provider "tinyforge" {
  proxy {
    caddy {
      admin_url = "http://127.0.0.1:2019"
      https {
        email = "ops@example.com"
        # issuer = "internal"  # Caddy's own CA, for private names
      }
    }
  }
}
