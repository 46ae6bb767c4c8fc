package rollout

import (
	"strings"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/compose"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/dockerfile"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/gitbuild"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/image"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/static"
)

// What each runtime refuses, through Engine.Validate: the one rule for
// plan time and deploy time, each error at its attribute.

// webSpec is a workload "web" of src.
func webSpec(src plugin.Source) workload.Spec { return workload.Spec{Name: "web", Source: src} }

// fieldErrors maps each broken attribute to its messages.
func fieldErrors(err error) map[string]string {
	got := map[string]string{}
	for _, fe := range workload.FieldErrors(err) {
		got[fe.Attr] += fe.Error() + "\n"
	}
	return got
}

// engines are an engine on one host and one on Swarm (pushes: with a
// registry for built images), both running stacks as the provider's do,
// neither with a proxy.
func engines(t *testing.T, pushes bool) (oneHost, swarm *Engine) {
	w := newWorld(t)
	w.pushes = pushes
	oneHost, swarm = w.engine(true, false), w.engine(true, true)
	oneHost.Router, swarm.Router = nil, nil
	return oneHost, swarm
}

func validate(e *Engine, s workload.Spec) map[string]string {
	_, err := e.Validate(s)
	return fieldErrors(err)
}

// TestSwarmRules: placement needs Swarm and a well-formed constraint;
// on Swarm, host_port and Nginx Proxy Manager with domains are refused,
// each error naming its attribute and value.
func TestSwarmRules(t *testing.T) {
	oneHost, swarm := engines(t, false)
	s := webSpec(&image.Config{Ref: "app:1", Port: 8080})
	s.Run.Placement = []string{"node.role==worker"}
	if got := validate(oneHost, s); !strings.Contains(got["placement"], `placement ["node.role==worker"] needs a Swarm engine`) {
		t.Fatalf("placement on one host: %v", got)
	}
	if _, err := swarm.Validate(s); err != nil {
		t.Fatalf("placement on Swarm: %v", err)
	}
	s.Run.Placement = []string{"node.role=worker"}
	if got := validate(swarm, s); !strings.Contains(got["placement[0]"], `(got "node.role=worker")`) {
		t.Fatalf("a malformed constraint: %v", got)
	}
	s.Run.Placement = nil
	s.HostPort = 8080
	s.Domains = []string{"web.example.test"}
	swarm.Router = npmLike{}
	got := validate(swarm, s)
	if !strings.Contains(got["host_port"], "host_port 8080 does not apply on Swarm") {
		t.Errorf("host_port on Swarm: %q", got["host_port"])
	}
	if !strings.Contains(got["domains"], "need Caddy: Nginx Proxy Manager") {
		t.Errorf("NPM on Swarm: %q", got["domains"])
	}
}

// npmLike is a router that forwards a route to one upstream only, as
// Nginx Proxy Manager does.
type npmLike struct{ fakeRouter }

func (npmLike) SingleTarget() {}

// TestSwarmRulesForBuiltImagesAndProbes: on Swarm, a source that builds its
// image needs swarm_registry (the other nodes pull from it), and a
// healthcheck path the user wrote is refused (the provider does not reach
// the tasks; the image's HEALTHCHECK gates), naming the attribute and the
// value. A static site's default path is not the user's: it is accepted.
func TestSwarmRulesForBuiltImagesAndProbes(t *testing.T) {
	oneHost, swarm := engines(t, false)
	_, pushing := engines(t, true)
	repo := gitbuild.Repo{BaseURL: "https://git.example.test", RepoOwner: "o", RepoName: "site"}
	s := webSpec(&dockerfile.Config{Repo: repo, Port: 8080})
	if _, err := oneHost.Validate(s); err != nil {
		t.Fatalf("a dockerfile source on one host: %v", err)
	}
	if got := validate(swarm, s); !strings.Contains(got["source.dockerfile"], "a dockerfile source on Swarm needs the provider's swarm_registry") {
		t.Fatalf("a dockerfile source on Swarm without a registry: %v", got)
	}
	if _, err := pushing.Validate(s); err != nil {
		t.Fatalf("a dockerfile source on Swarm with a registry: %v", err)
	}
	s.Source = &static.Config{Repo: repo}
	if _, err := pushing.Validate(s); err != nil {
		t.Fatalf("a static site with its default healthcheck on Swarm: %v", err)
	}
	if got := validate(swarm, s); !strings.Contains(got["source.static"], "swarm_registry") {
		t.Fatalf("a static site on Swarm without a registry: %v", got)
	}
	s.Source = &static.Config{Repo: repo, Healthcheck: "/up"}
	if got := validate(pushing, s); !strings.Contains(got["source.static.healthcheck"], `healthcheck "/up" does not apply on Swarm`) {
		t.Fatalf("a static site's own healthcheck on Swarm: %v", got)
	}
	s.Source = &image.Config{Ref: "app:1", Port: 8080, Healthcheck: "/healthz"}
	got := validate(swarm, s)
	if !strings.Contains(got["source.image.healthcheck"], `healthcheck "/healthz" does not apply on Swarm`) || !strings.Contains(got["source.image.healthcheck"], "HEALTHCHECK") {
		t.Fatalf("an image source's healthcheck on Swarm: %v", got)
	}
	if _, err := oneHost.Validate(s); err != nil {
		t.Fatalf("the same healthcheck on one host: %v", err)
	}
}

// TestStackRules: domains route to a service, which must be named; volumes,
// host_port, replicas, the run settings and placement are the compose
// file's business; on Swarm too, a compose source runs as a stack.
func TestStackRules(t *testing.T) {
	oneHost, swarm := engines(t, false)
	w := newWorld(t)
	proxied := w.engine(true, false)
	repo := gitbuild.Repo{BaseURL: "https://git.example.test", RepoOwner: "o", RepoName: "shop"}
	spec := workload.Spec{Name: "shop", Domains: []string{"shop.example.test"}, Source: &compose.Config{Repo: repo},
		HostPort: 8080, Volumes: []workload.Volume{{Source: "data", Target: "/data"}}, Replicas: 2}
	spec.Run.MemoryMiB = 64
	spec.Run.Placement = []string{"node.role==worker"}
	got := validate(proxied, spec)
	for attr, want := range map[string]string{
		"source.compose.service": `service is required with domains ["shop.example.test"]`,
		"host_port":              "host_port 8080 does not apply to a compose source",
		"volume":                 "volume blocks do not apply to a compose source",
		"replicas":               "replicas does not apply to a compose source",
		"source.compose":         "memory, cpus, restart",
		"placement":              `placement ["node.role==worker"] does not apply to a compose source`,
	} {
		if !strings.Contains(got[attr], want) {
			t.Errorf("%s: %q lacks %q", attr, got[attr], want)
		}
	}
	spec = workload.Spec{Name: "shop", Source: &compose.Config{Repo: repo}}
	for name, e := range map[string]*Engine{"one host": oneHost, "swarm": swarm} {
		if _, err := e.Validate(spec); err != nil {
			t.Errorf("%s: a plain stack: %v", name, err)
		}
	}
	// An engine without stacks runs no compose source.
	if got := validate(New(Runtimes{Containers: fakeContainers{w}}), spec); !strings.Contains(got["source.compose"], "this provider runs no compose source") {
		t.Errorf("an engine without stacks: %v", got)
	}
}
