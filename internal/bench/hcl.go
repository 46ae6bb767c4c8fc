package main

import (
	"fmt"
	"strings"
)

// tinyforgeProvider is the provider block, with a Caddy proxy when proxied.
func (e *env) tinyforgeProvider(proxied bool) string {
	var proxy string
	if proxied {
		proxy = fmt.Sprintf(`
  proxy {
    caddy {
      admin_url = %q
      listen    = ["127.0.0.1:%d"]
    }
  }`, e.caddy.AdminURL, e.caddy.HTTPPort)
	}
	return providerWithProxy(e.network, proxy)
}

// httpsProvider is the provider block of the HTTPS Caddy: its HTTP and
// HTTPS addresses, certificates from its internal CA.
func (e *env) httpsProvider() string {
	listen := e.httpsCaddy.HTTPSListen()
	return providerWithProxy(e.network, fmt.Sprintf(`
  proxy {
    caddy {
      admin_url = %q
      listen    = [%q, %q]
      https {
        issuer = "internal"
      }
    }
  }`, e.httpsCaddy.AdminURL, listen[0], listen[1]))
}

func providerWithProxy(network, proxy string) string {
	return fmt.Sprintf(`terraform {
  required_providers {
    tinyforge = { source = "tinyforge/tinyforge" }
  }
}

provider "tinyforge" {
  network = %q%s
}
`, network, proxy)
}

// routedWorkload is one workload behind Caddy, redeployed by strategy.
func (e *env) routedWorkload(name, strategy, domain, image string) string {
	return e.tinyforgeProvider(true) + workloadOn(name, strategy, domain, image)
}

// routedHTTPSWorkload is routedWorkload served over HTTPS by the HTTPS
// Caddy.
func (e *env) routedHTTPSWorkload(name, strategy, domain, image string) string {
	return e.httpsProvider() + workloadOn(name, strategy, domain, image)
}

// workloadOn is the resource of routedWorkload.
func workloadOn(name, strategy, domain, image string) string {
	return fmt.Sprintf(`
resource "tinyforge_workload" "w" {
  name            = %q
  deploy_strategy = %q
  domains         = [%q]
  drain_timeout   = 2
  source {
    image {
      ref         = %q
      port        = 8080
      healthcheck = "/healthz"
    }
  }
}
`, name, strategy, domain, image)
}

// composeWorkload is scenario 8's compose stack behind Caddy, from the
// repository stack of the bench's Git server at gitURL.
func (e *env) composeWorkload(name, domain, gitURL, repo, token string) string {
	return e.tinyforgeProvider(true) + fmt.Sprintf(`
resource "tinyforge_workload" "w" {
  name           = %q
  domains        = [%q]
  drain_timeout  = 2
  health_timeout = 60
  source {
    compose {
      base_url     = %q
      repo_owner   = "bench"
      repo_name    = %q
      access_token = %q
      files        = [%q]
      service      = "web"
      port         = 8080
      healthcheck  = "/healthz"
    }
  }
}
`, name, domain, gitURL, repo, token, benchStackFile)
}

// plainWorkload is one workload without a proxy: what a shell script with
// docker run and curl does too.
func (e *env) plainWorkload(name, image string) string {
	return e.tinyforgeProvider(false) + fmt.Sprintf(`
resource "tinyforge_workload" "w" {
  name = %q
  source {
    image {
      ref         = %q
      port        = 8080
      healthcheck = "/healthz"
    }
  }
}
`, name, image)
}

// manyWorkloads is n routed workloads, w0 .. w<n-1>.
func (e *env) manyWorkloads(n int, image string) string {
	return e.tinyforgeProvider(true) + fmt.Sprintf(`
resource "tinyforge_workload" "w" {
  count         = %d
  name          = "%s-w${count.index}"
  domains       = ["%s-w${count.index}.bench.test"]
  drain_timeout = 0
  source {
    image {
      ref         = %q
      port        = 8080
      healthcheck = "/healthz"
    }
  }
}
`, n, e.prefix, e.prefix, image)
}

// fleetWorkloads is n routed workloads, f0 .. f<n-1>, blue-green with the
// default drain_timeout.
func (e *env) fleetWorkloads(n int, image string) string {
	return e.tinyforgeProvider(true) + fmt.Sprintf(`
resource "tinyforge_workload" "f" {
  count           = %d
  name            = "%s-f${count.index}"
  domains         = ["%s-f${count.index}.bench.test"]
  deploy_strategy = "blue-green"
  source {
    image {
      ref         = %q
      port        = 8080
      healthcheck = "/healthz"
    }
  }
}
`, n, e.prefix, e.prefix, image)
}

// manyNoops is n resources of the no-op provider, with the same attribute
// values as manyWorkloads where the shapes allow.
func (e *env) manyNoops(n int, image string) string {
	return fmt.Sprintf(`terraform {
  required_providers {
    noop = { source = "tinyforge-bench/noop" }
  }
}

resource "noop_thing" "w" {
  count   = %d
  name    = "%s-w${count.index}"
  image   = %q
  port    = 8080
  domains = ["%s-w${count.index}.bench.test"]
}
`, n, e.prefix, image, e.prefix)
}

// floorScript deploys what a tinyforge_workload without a proxy deploys,
// with the docker CLI and curl: create and start the container on the
// network, its port published on 127.0.0.1, then probe /healthz until it
// answers 2xx. Arguments: name, image, network, label (key=value).
const floorScript = `#!/bin/bash
set -euo pipefail
name=$1 image=$2 network=$3 label=$4
docker run --detach --name "$name" --label "$label" --network "$network" \
  --restart unless-stopped --publish 127.0.0.1::8080 "$image" >/dev/null
addr=$(docker port "$name" 8080/tcp | head -n 1)
for _ in $(seq 1 1200); do
  if curl --fail --silent --output /dev/null --max-time 2 "http://$addr/healthz"; then
    exit 0
  fi
  sleep 0.05
done
echo "$name did not answer http://$addr/healthz" >&2
exit 1
`

// redeployFloorScript redeploys one container of the fleet's floor the
// way blue-green does, with the docker CLI: the floor script runs and
// probes the new container (<name>-2, the new image), then the old one is
// stopped (SIGTERM, as tinyforge's reap) and removed. Arguments: name,
// image, network, label, then the path of the floor script.
const redeployFloorScript = `#!/bin/bash
set -euo pipefail
name=$1 image=$2 network=$3 label=$4 floor=$5
bash "$floor" "$name-2" "$image" "$network" "$label"
docker stop "$name" >/dev/null
docker rm "$name" >/dev/null
`

// lastLines keeps a terraform output short in a finding.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
