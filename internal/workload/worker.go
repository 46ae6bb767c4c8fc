package workload

import (
	"fmt"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
)

// Worker reports whether the workload is a worker: a source that runs
// instances of its own (not a stack) and serves on no port. Nothing routes
// to a worker or probes it: its gate is the liveness window.
func (s Spec) Worker() bool {
	if s.Source == nil {
		return false
	}
	if _, stacked := s.Source.(plugin.Stack); stacked {
		return false
	}
	return s.Source.Container().Port == 0
}

// validateWorker refuses what needs a port on a workload without one.
func (s Spec) validateWorker(add func(attr string, err error)) {
	if !s.Worker() {
		return
	}
	kind := s.Source.Kind()
	if len(s.Domains) > 0 {
		add("domains", fmt.Errorf("domains %q need a port to route to: set source.%s.port, or leave domains out for a worker", s.Domains, kind))
	}
	if hc := s.Source.Container().Healthcheck; hc != "" {
		add("source."+kind+".healthcheck", fmt.Errorf("healthcheck %q needs a port to probe: set source.%s.port, or leave healthcheck out for a worker (its gate is the liveness window)", hc, kind))
	}
	if s.HostPort != 0 {
		add("host_port", fmt.Errorf("host_port %d needs a port to publish: set source.%s.port, or leave host_port out for a worker", s.HostPort, kind))
	}
}
