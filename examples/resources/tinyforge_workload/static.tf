# A plain static site: the files of the repository's "public" folder, served
# by a Caddy image the provider configures (index.html for directories, a
# 404.html page with status 404, no-cache HTML, immutable hashed assets).
resource "tinyforge_workload" "docs" {
  name    = "docs"
  domains = ["docs.example.test"]

  source {
    static {
      base_url          = "https://gitea.example.com"
      repo_owner        = "acme"
      repo_name         = "docs"
      publish_directory = "public"
    }
  }
}

# A single-page app built at the planned commit: `npm ci && npm run build`
# runs in node:22-alpine in the repository's "web" folder, and "web/dist" is
# served; unknown paths serve /index.html (client-side routing). A new
# commit redeploys blue-green: the new site answers only once it passed its
# health check.
resource "tinyforge_workload" "app" {
  name            = "app"
  deploy_strategy = "blue-green" # a static site recreates by default
  domains         = ["app.example.test"]

  source {
    static {
      base_url          = "https://gitea.example.com"
      repo_owner        = "acme"
      repo_name         = "app"
      root_directory    = "web"
      build_command     = "npm ci && npm run build"
      build_image       = "node:22-alpine"
      publish_directory = "dist"
      spa               = true
    }
  }
}

# A Deno site with storage: server code beside its files, listening on the
# port in PORT, with a named volume read-write at /data. It never runs
# twice at once, so it recreates (blue-green is refused at plan time).
resource "tinyforge_workload" "guestbook" {
  name    = "guestbook"
  domains = ["guestbook.example.test"]

  source {
    static {
      base_url   = "https://gitea.example.com"
      repo_owner = "acme"
      repo_name  = "guestbook"
      deno {
        entrypoint = "main.ts"
        storage    = "guestbook-data"
      }
    }
  }
}
