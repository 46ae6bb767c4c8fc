# BuildKit's features, with a Dockerfile like this one in the repository (no
# "# syntax=" line: the engine's own Dockerfile frontend understands
# RUN --mount):
#
#   FROM golang:1.26 AS build
#   WORKDIR /src
#   COPY go.mod go.sum ./
#   RUN --mount=type=cache,target=/go/pkg/mod \
#       --mount=type=secret,id=netrc,target=/root/.netrc \
#       go mod download
#   COPY . .
#   RUN --mount=type=cache,target=/go/pkg/mod \
#       --mount=type=cache,target=/root/.cache/go-build \
#       go build -o /out/api ./cmd/api
#
#   FROM gcr.io/distroless/static AS release
#   COPY --from=build /out/api /api
#   ENTRYPOINT ["/api"]
#
#   FROM build AS test
#   RUN go test ./...
variable "netrc" {
  type      = string
  sensitive = true
  ephemeral = true # a write-only value's source: never in a plan file
}

resource "tinyforge_workload" "api" {
  name = "api"

  source {
    dockerfile {
      repo_owner  = "acme"
      repo_name   = "api"
      port        = 8080
      healthcheck = "/healthz"

      # The stage to build; the "test" stage after it is not built.
      target = "release"

      # Each key is a secret id: RUN --mount=type=secret,id=netrc reads it
      # during that step only. Never in the state, the plan, the image or
      # a log. A new version builds and deploys anew.
      build_secrets_wo         = { netrc = var.netrc }
      build_secrets_wo_version = 1
    }
  }
}
