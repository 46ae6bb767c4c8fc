#!/usr/bin/env bash
# make demo / make demo-destroy: the main job, for real, on this machine.
#
#   apply    builds the app's images v1 and v2 here (no registry needed),
#            starts a Caddy of the demo's own (run with --resume, its admin
#            API on 127.0.0.1:$DEMO_ADMIN_PORT, its config and autosave
#            under .demo/), runs `terraform apply` with the provider built
#            from this checkout (bin/, dev_overrides) so that Caddy routes
#            hello.localhost to v1, restarts Caddy to show the route
#            survives, then applies v2 (a blue-green redeploy) while a
#            request loop runs, and prints how many requests failed and
#            which versions answered.
#   destroy  terraform destroy, then removes the demo's Caddy, images,
#            network and files: nothing of the demo's is left.
#
# hello.localhost needs no /etc/hosts line: curl (7.78 and later) and the
# browsers resolve every *.localhost name to the loopback address
# themselves (RFC 6761).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin="$root/bin"
demo="$here/.demo"

# The ports are kept in .demo/ports, so that destroy uses those of apply.
if [ -f "$demo/ports" ]; then
  # shellcheck source=/dev/null
  . "$demo/ports"
fi
http_port=${DEMO_HTTP_PORT:-${http_port:-9080}}
admin_port=${DEMO_ADMIN_PORT:-${admin_port:-9019}}
admin_url="http://127.0.0.1:$admin_port"
url="http://hello.localhost:$http_port/"
network=tinyforge-demo
image_label=tinyforge-demo=quickstart

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
tf_vars=(-var "http_port=$http_port" -var "caddy_admin_url=$admin_url")
# Colours for a terminal, none in a log.
[ -t 1 ] || tf_vars+=(-no-color)
cd "$here"

say() { printf '\n==> %s\n' "$*"; }

# build_images builds tinyforge-demo/hello:v1 and :v2 FROM scratch: the
# tests' tiny Go HTTP server, which answers GET / with its VERSION.
build_images() {
  local ctx version out
  ctx=$(mktemp -d)
  CGO_ENABLED=0 go build -trimpath -o "$ctx/hello" "$root/internal/acctest/testapp"
  for version in v1 v2; do
    cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM scratch
COPY hello /hello
ENV VERSION=$version
EXPOSE 8080
ENTRYPOINT ["/hello"]
DOCKERFILE
    # The docker CLI's notice that its legacy builder is deprecated is
    # noise here; its output is shown when the build fails.
    if ! out=$(docker build --quiet --label "$image_label" --tag "tinyforge-demo/hello:$version" "$ctx" 2>&1); then
      echo "$out" >&2
      exit 1
    fi
  done
  rm -rf "$ctx"
}

caddy_pid() { cat "$demo/caddy.pid" 2>/dev/null || true; }
caddy_running() { local pid; pid=$(caddy_pid); [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_caddy starts the demo's Caddy unless it runs. --resume loads the
# config Caddy saved at its last change (routes included), or the initial
# config (the admin API's address alone) the first time.
start_caddy() {
  caddy_running && return 0
  local port
  for port in "$admin_port" "$http_port"; do
    if listening "$port"; then
      echo "demo: something else listens on 127.0.0.1:$port; free it, or choose other ports:" >&2
      echo "      make demo DEMO_HTTP_PORT=... DEMO_ADMIN_PORT=..." >&2
      exit 1
    fi
  done
  mkdir -p "$demo/caddy"
  printf 'http_port=%s\nadmin_port=%s\n' "$http_port" "$admin_port" >"$demo/ports"
  printf '{"admin": {"listen": "127.0.0.1:%s"}}\n' "$admin_port" >"$demo/caddy/initial.json"
  # setsid: a Ctrl-C on make stops the demo, not its Caddy.
  HOME="$demo/caddy" XDG_CONFIG_HOME="$demo/caddy/config" XDG_DATA_HOME="$demo/caddy/data" \
    setsid caddy run --resume --config "$demo/caddy/initial.json" >>"$demo/caddy.log" 2>&1 </dev/null &
  echo $! >"$demo/caddy.pid"
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$admin_url/config/" 2>/dev/null && return 0
    caddy_running || break
    sleep 0.1
  done
  echo "demo: Caddy did not start; the end of its log ($demo/caddy.log):" >&2
  tail -n 20 "$demo/caddy.log" >&2
  exit 1
}

stop_caddy() {
  caddy_running || { rm -f "$demo/caddy.pid"; return 0; }
  local pid
  pid=$(caddy_pid)
  kill "$pid"
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  rm -f "$demo/caddy.pid"
}

# request_loop requests $url one request at a time until the file $2
# exists, writing one line per request to $1: the body (the version that
# answered), or "FAILED <HTTP status or curl error>".
request_loop() {
  local out=$1 stop=$2 body
  while [ ! -e "$stop" ]; do
    if body=$(curl -sS --fail --max-time 5 "$url" 2>&1); then
      printf '%s\n' "$body"
    else
      printf 'FAILED %s\n' "${body//$'\n'/ }"
    fi
  done >"$out"
}

apply() {
  local loop_pid total failed
  SECONDS=0
  say "Building the app's images tinyforge-demo/hello:v1 and :v2 (FROM scratch, no registry)"
  build_images
  docker images --filter "label=$image_label" --format '    {{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}'

  say "Starting the demo's Caddy (caddy run --resume; admin API $admin_url, config in ${demo#"$root"/})"
  start_caddy
  echo "    pid $(caddy_pid)"

  say "terraform apply: deploy v1 and route hello.localhost to it"
  terraform apply -auto-approve -input=false -compact-warnings "${tf_vars[@]}" -var app_version=v1
  echo "    GET $url -> $(curl -fsS "$url")"

  say "Restarting Caddy: with --resume it loads the config it saved, the route included"
  stop_caddy
  start_caddy
  echo "    pid $(caddy_pid); GET $url -> $(curl -fsS "$url")"

  say "terraform apply: redeploy blue-green to v2 while a request loop runs"
  rm -f "$demo/requests" "$demo/requests.stop"
  request_loop "$demo/requests" "$demo/requests.stop" &
  loop_pid=$!
  sleep 1 # some requests before the deploy starts
  terraform apply -auto-approve -input=false -compact-warnings "${tf_vars[@]}"
  sleep 1 # and some after it ends
  touch "$demo/requests.stop"
  wait "$loop_pid"

  total=$(wc -l <"$demo/requests")
  failed=$(grep -c '^FAILED' "$demo/requests" || true)
  say "The request loop, from 1 s before that apply to 1 s after it"
  echo "    requests: $total, failed: $failed"
  echo "    answered by: $(grep -v '^FAILED' "$demo/requests" | sort | uniq -c | awk '{ printf "%s%s %s", sep, $2, $1; sep = ", " }')"
  if [ "$failed" -gt 0 ]; then
    echo "    the failures:"
    grep '^FAILED' "$demo/requests" | sort | uniq -c | sed 's/^/    /'
  fi

  say "Done in $SECONDS s. Open $url (it answers $(curl -fsS "$url"))"
  echo "    make demo-destroy removes the workload, its route, the images, the network and the demo's Caddy."
  [ "$failed" -eq 0 ]
}

destroy() {
  say "terraform destroy (the demo's Caddy runs meanwhile, so that the route is removed too)"
  start_caddy
  terraform destroy -auto-approve -input=false -compact-warnings "${tf_vars[@]}"
  say "Removing the demo's Caddy, images, network and files"
  stop_caddy
  local image
  # By tag, then what is left by ID (an older build whose tag moved on):
  # only the demo's own images carry its label.
  docker rmi tinyforge-demo/hello:v1 tinyforge-demo/hello:v2 >/dev/null 2>&1 || true
  for image in $(docker images --quiet --filter "label=$image_label" | sort -u); do
    docker rmi "$image" >/dev/null
  done
  if docker network inspect "$network" >/dev/null 2>&1; then
    docker network rm "$network" >/dev/null
  fi
  rm -rf "$demo" "$here/terraform.tfstate" "$here/terraform.tfstate.backup"
  echo "    done: no container, image, network, route or Caddy of the demo's is left"
}

case "${1:-apply}" in
apply) apply ;;
destroy) destroy ;;
*)
  echo "usage: $0 apply|destroy" >&2
  exit 2
  ;;
esac
