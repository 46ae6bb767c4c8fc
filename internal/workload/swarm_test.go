package workload_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
)

// fieldErrors maps each broken attribute to its messages.
func fieldErrors(err error) map[string]string {
	got := map[string]string{}
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var fe *workload.FieldError
		if errors.As(e, &fe) {
			got[fe.Attr] += fe.Error() + "\n"
		}
	}
	walk(err)
	return got
}

// TestSwarmRules: placement needs Swarm and a well-formed constraint;
// on Swarm, host_port and Nginx Proxy Manager with domains are refused,
// each error naming its attribute and value.
func TestSwarmRules(t *testing.T) {
	s := validSpec()
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
