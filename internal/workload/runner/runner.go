// Package runner starts, observes and retires the instances of workloads,
// one type per runtime: Containers (containers on one Docker engine), Stacks
// (a compose project per workload) and Services (a Swarm service per
// workload). rollout decides the order of a deploy (start green, gate it,
// swap, drain, reap) and asks a runner for each step through the small
// interfaces it declares; a runner knows how an instance is made, not when.
//
// It sits between rollout (above) and internal/docker and internal/compose
// (below), and reads and writes the workload's labels (internal/workload) on
// what it starts, so that the Docker host alone tells what is deployed.
package runner

import (
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
)

// Instance is one unit of a workload that runs: a container.
type Instance struct {
	ID      string
	Name    string
	State   docker.ContainerState
	Image   string
	ImageID string
	// Recorded is what the instance's labels say about its workload.
	Recorded workload.Recorded
	// Published is the host address ("127.0.0.1:32768") where the
	// instance's port is published; "" when it is not (stopped).
	Published string
	// Network is the instance's address on the provider's network.
	Network string
	// Upstream is what the proxy forwards to, per the runtime's ForwardTo.
	Upstream string
	Created  time.Time
	// Service is the stack service the instance belongs to; "" outside a
	// stack.
	Service string
}

// Running reports whether the instance is up.
func (i Instance) Running() bool { return i.State == docker.ContainerRunning }

// Active reports whether the instance runs or will run again by itself (a
// restart policy is bringing it back): what stopping it must stop.
func (i Instance) Active() bool {
	return i.State == docker.ContainerRunning || i.State == docker.ContainerRestarting
}

// Serves reports whether addr is one of the addresses the instance is
// reached at: what a proxy route may point at.
func (i Instance) Serves(addr string) bool {
	return addr != "" && (addr == i.Upstream || addr == i.Published || addr == i.Network)
}

// Health is what a gate watches of an instance.
type Health struct {
	State docker.ContainerState
	// Restarts counts the restarts of the instance since it was started.
	Restarts int
	// ExitCode is the last exit code of its process.
	ExitCode int
	// Published is the host address of its port, "" while it is not
	// published (the instance is not running).
	Published string
	// Created is when the instance was created, to the nanosecond (a list
	// of instances says it to the second).
	Created time.Time
}

// ForwardTo says which address of an instance the proxy forwards to.
type ForwardTo string

const (
	// ForwardPublished forwards to the port published on the Docker host:
	// for a proxy that runs on the host (Caddy, by default).
	ForwardPublished ForwardTo = "published"
	// ForwardNetwork forwards to the instance's name and port on the
	// provider's Docker network: for a proxy that runs as a container on
	// that network (Nginx Proxy Manager, as the original Tinyforge does).
	ForwardNetwork ForwardTo = "network"
)
