// Package rollout holds the step order of every deploy, once: observe what
// runs, deploy (recreate or blue-green), converge, tear down. A source only
// produces an image and says what its instances listen on; a runtime starts,
// observes and retires the instances; the order of the steps lives here and
// reads like the runbook it replaces.
//
// rollout sits between the provider (above) and the runtime, the proxy and
// the health gate (below). What it needs from them are the small Runtime
// interface, plugin.ImageHost and proxy.Router; the real implementations are
// internal/workload/runner, internal/docker and internal/proxy/{caddy,npm}.
package rollout

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/runner"
)

// Runtime starts, observes and retires the instances of workloads:
// runner.Containers runs them as containers on one Docker engine.
type Runtime interface {
	// List lists the instances of one workload (name), or of every
	// workload (name ""), by workload, in one read of the host; those whose
	// labels cannot be read come apart.
	List(ctx context.Context, name string) (byWorkload map[string][]runner.Instance, unreadable []runner.Instance, err error)
	// Start starts a new instance of spec, generation gen, from art.
	// A Start that fails leaves nothing behind.
	Start(ctx context.Context, spec workload.Spec, art plugin.Artifact, gen int) (runner.Instance, error)
	// Inspect reads what a gate watches of an instance.
	Inspect(ctx context.Context, in runner.Instance) (runner.Health, error)
	// Logs returns an instance's last n log lines.
	Logs(ctx context.Context, in runner.Instance, n int) ([]string, error)
	// Env returns an instance's environment as "KEY=value".
	Env(ctx context.Context, in runner.Instance) ([]string, error)
	// Stop stops an instance and keeps it; Resume starts it again.
	Stop(ctx context.Context, in runner.Instance) error
	Resume(ctx context.Context, in runner.Instance) error
	// Remove retires an instance: stopped gracefully, then removed.
	Remove(ctx context.Context, in runner.Instance) error
}

// StackRuntime runs stack-managed workloads (a compose project, which
// recreates what changed itself): runner.Stacks.
type StackRuntime interface {
	// List reads the stacks of one workload (name) or of every workload
	// (name ""), by workload, in one read of the host.
	List(ctx context.Context, name string) (map[string]runner.Stack, error)
	// Up brings spec's stack up at art's project; the record is not
	// written.
	Up(ctx context.Context, spec workload.Spec, art plugin.Artifact) error
	// Routed is the running container of spec's routed service, with its
	// address as spec routes it.
	Routed(ctx context.Context, spec workload.Spec) (runner.Instance, error)
	// Record writes what generation gen deployed as the stack's record.
	Record(ctx context.Context, spec workload.Spec, art plugin.Artifact, gen int) error
	// Down takes spec's stack down and removes its records.
	Down(ctx context.Context, spec workload.Spec) error
}

// Engine deploys, reconciles and tears down workloads.
type Engine struct {
	Runtime Runtime
	// Stacks runs the workloads of stack sources (plugin.Stack); nil when
	// the provider has none.
	Stacks StackRuntime
	// Services, when set, runs every workload that is not a stack as a
	// Swarm service (the engine is a Swarm manager); nil on one host.
	Services ServiceRuntime
	// Images is where sources produce their images.
	Images plugin.ImageHost
	// Router is the proxy; nil when the provider has none.
	Router proxy.Router
	// Log receives progress; the provider forwards it to tflog.
	Log *slog.Logger
	// LivenessWindow is how long an instance without a health path must
	// stay up to pass its gate; default DefaultLivenessWindow.
	LivenessWindow time.Duration
	// Dial, when set, opens the gate's probe connections to an instance's
	// published address. For a Docker host reached over SSH it is that
	// connection's dialer (docker.Client.HostDialer), so that a port
	// published on the host's loopback is probed there; nil dials directly.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// AfterStep, when set, is called each time a deploy has completed a
	// step (see Steps). It is the caller's hook: the provider's crash test
	// hook uses it to prove that a kill after any step is safe.
	AfterStep func(ctx context.Context, workload string, step Step)

	inv inventory
}

// Defaults of the Engine's tunables.
const (
	DefaultLivenessWindow = 3 * time.Second
	logTailLines          = 20
)

func (e *Engine) log() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Log
}

func (e *Engine) host() workload.Host {
	_, single := e.Router.(proxy.SingleTarget)
	return workload.Host{Proxied: e.Router != nil, SingleUpstream: single, Swarm: e.Services != nil,
		SwarmPushes: e.Services != nil && e.Services.PushesBuilt()}
}

func (e *Engine) livenessWindow() time.Duration {
	if e.LivenessWindow > 0 {
		return e.LivenessWindow
	}
	return DefaultLivenessWindow
}

// Validate checks spec against the rules and this engine's host (is there a
// proxy?) and returns the strategy a deploy will use. The provider calls it
// at plan time; Apply calls it again before any work.
func (e *Engine) Validate(spec workload.Spec) (plugin.Strategy, error) {
	return spec.Validate(e.host())
}
