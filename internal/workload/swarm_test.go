package workload_test

import (
	"strings"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/dockerfile"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/gitbuild"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/image"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/static"
)

// TestSwarmRules: placement needs Swarm and a well-formed constraint;
// on Swarm, host_port and Nginx Proxy Manager with domains are refused,
// each error naming its attribute and value.
func TestSwarmRules(t *testing.T) {
	s := validSpec()
	s.Source = &image.Config{Ref: "app:1", Port: 8080}
	s.Run.Placement = []string{"node.role==worker"}
	if _, err := s.Validate(workload.Host{}); !strings.Contains(fieldErrors(err)["placement"], `placement ["node.role==worker"] needs a Swarm engine`) {
		t.Fatalf("placement on one host: %v", err)
	}
	if _, err := s.Validate(workload.Host{Swarm: true}); err != nil {
		t.Fatalf("placement on Swarm: %v", err)
	}
	s.Run.Placement = []string{"node.role=worker"}
	if _, err := s.Validate(workload.Host{Swarm: true}); !strings.Contains(fieldErrors(err)["placement[0]"], `(got "node.role=worker")`) {
		t.Fatalf("a malformed constraint: %v", err)
	}
	s.Run.Placement = nil
	s.HostPort = 8080
	s.Domains = []string{"web.example.test"}
	got := fieldErrors(func() error {
		_, err := s.Validate(workload.Host{Swarm: true, Proxied: true, SingleUpstream: true})
		return err
	}())
	if !strings.Contains(got["host_port"], "host_port 8080 does not apply on Swarm") {
		t.Errorf("host_port on Swarm: %q", got["host_port"])
	}
	if !strings.Contains(got["domains"], "need Caddy: Nginx Proxy Manager") {
		t.Errorf("NPM on Swarm: %q", got["domains"])
	}
}

// TestSwarmRulesForBuiltImagesAndProbes: on Swarm, a source that builds its
// image needs swarm_registry (the other nodes pull from it), and a
// healthcheck path the user wrote is refused (the provider does not reach
// the tasks; the image's HEALTHCHECK gates), naming the attribute and the
// value. A static site's default path is not the user's: it is accepted.
func TestSwarmRulesForBuiltImagesAndProbes(t *testing.T) {
	repo := gitbuild.Repo{BaseURL: "https://git.example.test", RepoOwner: "o", RepoName: "site"}
	s := validSpec()
	s.Source = &dockerfile.Config{Repo: repo, Port: 8080}
	if _, err := s.Validate(workload.Host{}); err != nil {
		t.Fatalf("a dockerfile source on one host: %v", err)
	}
	got := fieldErrors(func() error { _, err := s.Validate(workload.Host{Swarm: true}); return err }())
	if !strings.Contains(got["source.dockerfile"], "a dockerfile source on Swarm needs the provider's swarm_registry") {
		t.Fatalf("a dockerfile source on Swarm without a registry: %v", got)
	}
	if _, err := s.Validate(workload.Host{Swarm: true, SwarmPushes: true}); err != nil {
		t.Fatalf("a dockerfile source on Swarm with a registry: %v", err)
	}
	s.Source = &static.Config{Repo: repo}
	if _, err := s.Validate(workload.Host{Swarm: true, SwarmPushes: true}); err != nil {
		t.Fatalf("a static site with its default healthcheck on Swarm: %v", err)
	}
	got = fieldErrors(func() error { _, err := s.Validate(workload.Host{Swarm: true}); return err }())
	if !strings.Contains(got["source.static"], "swarm_registry") {
		t.Fatalf("a static site on Swarm without a registry: %v", got)
	}
	s.Source = &static.Config{Repo: repo, Healthcheck: "/up"}
	got = fieldErrors(func() error { _, err := s.Validate(workload.Host{Swarm: true, SwarmPushes: true}); return err }())
	if !strings.Contains(got["source.static.healthcheck"], `healthcheck "/up" does not apply on Swarm`) {
		t.Fatalf("a static site's own healthcheck on Swarm: %v", got)
	}
	s.Source = &image.Config{Ref: "app:1", Port: 8080, Healthcheck: "/healthz"}
	got = fieldErrors(func() error { _, err := s.Validate(workload.Host{Swarm: true}); return err }())
	if !strings.Contains(got["source.image.healthcheck"], `healthcheck "/healthz" does not apply on Swarm`) || !strings.Contains(got["source.image.healthcheck"], "HEALTHCHECK") {
		t.Fatalf("an image source's healthcheck on Swarm: %v", got)
	}
	if _, err := s.Validate(workload.Host{}); err != nil {
		t.Fatalf("the same healthcheck on one host: %v", err)
	}
}
