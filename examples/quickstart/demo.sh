#!/usr/bin/env bash
# make demo / make demo-destroy: a real terraform apply (or destroy) of this
# example against the local Docker engine, with the provider built from this
# checkout (bin/) and an app image built here: no registry is needed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin="$root/bin"
image=tinyforge-quickstart/hello:v1

build_image() {
  local ctx
  ctx=$(mktemp -d)
  # The app: a tiny static Go HTTP server (the one the tests use), FROM scratch.
  CGO_ENABLED=0 go build -trimpath -o "$ctx/hello" "$root/internal/acctest/testapp"
  cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY hello /hello
ENV VERSION=hello-from-tinyforge
EXPOSE 8080
ENTRYPOINT ["/hello"]
DOCKERFILE
  docker build --quiet --tag "$image" "$ctx" >/dev/null
  rm -rf "$ctx"
}

# Terraform takes the provider from bin/ (dev_overrides): no registry, no init.
cat >"$bin/dev.tfrc" <<TFRC
provider_installation {
  dev_overrides {
    "registry.terraform.io/tinyforge/tinyforge" = "$bin"
  }
  direct {}
}
TFRC
export TF_CLI_CONFIG_FILE="$bin/dev.tfrc" TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
cd "$here"

case "${1:-apply}" in
apply)
  build_image
  terraform apply -auto-approve -input=false
  url=$(terraform output -raw url)
  echo
  echo "The workload answers on $url"
  echo "  GET $url -> $(curl -fsS "$url")"
  echo "  GET ${url}env/GREETING -> $(curl -fsS "${url}env/GREETING")"
  echo "Run 'make demo-destroy' to remove it."
  ;;
destroy)
  terraform destroy -auto-approve -input=false
  docker rmi "$image" >/dev/null 2>&1 || true
  ;;
*)
  echo "usage: $0 apply|destroy" >&2
  exit 2
  ;;
esac
