// Package rollout holds the step order of every deploy, once. A workload
// runs on one runtime (containers on one engine, a compose stack, a Swarm
// service), and each runtime has one pipeline here, in a file of its own,
// behind one interface (pipeline.go): it deploys, converges, observes and
// tears down. The engine chooses the pipeline once per spec and once per
// observed name; the steps of a deploy run in one step machine (steps.go)
// and read like the runbook they replace. A source only produces an
// artifact and says what its instances listen on; a runner starts,
// observes and retires the instances.
//
// rollout sits between the provider (above) and the runners, the proxy and
// the health gate (below). What it needs from them are small interfaces
// (ContainerRuntime, StackRuntime, ServiceRuntime), plugin.ImageHost and
// proxy.Router; the real implementations are internal/workload/runner,
// internal/docker and internal/proxy/{caddy,npm}.
package rollout

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/runner"
)

// ContainerRuntime starts, observes and retires containers on one Docker
// engine (runner.Containers): the instances of the containers pipeline,
// and the containers of a workload's name that any pipeline finds outside
// its runtime (strays) or gates (a stack's routed container).
type ContainerRuntime interface {
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
	// LogLines returns an instance's lines per q, with stream and time.
	LogLines(ctx context.Context, in runner.Instance, q docker.LogQuery) ([]docker.LogLine, error)
	// Env returns an instance's environment as "KEY=value".
	Env(ctx context.Context, in runner.Instance) ([]string, error)
	// Stop stops an instance and keeps it; Resume starts it again.
	Stop(ctx context.Context, in runner.Instance) error
	Resume(ctx context.Context, in runner.Instance) error
	// Remove retires an instance: stopped gracefully, then removed.
	Remove(ctx context.Context, in runner.Instance) error
	// Release runs spec's release command once in a one-off container of
	// art, generation gen, removed before it returns; output gets each
	// line as it is written.
	Release(ctx context.Context, spec workload.Spec, art plugin.Artifact, gen int, output func(docker.LogLine)) (runner.ReleaseRun, error)
	// RemoveReleases removes the one-offs of spec's workload and owner
	// that a killed apply left behind.
	RemoveReleases(ctx context.Context, spec workload.Spec) error
}

// Runtimes are the runners an Engine deploys with.
type Runtimes struct {
	// Containers runs containers on the Docker engine; required.
	Containers ContainerRuntime
	// Stacks runs the workloads of stack sources (plugin.Stack); nil: the
	// engine runs none.
	Stacks StackRuntime
	// Services, when set, runs every workload that is not a stack as a
	// Swarm service (the engine is a Swarm manager); nil on one host.
	Services ServiceRuntime
}

// Engine deploys, reconciles and tears down workloads, each through the
// pipeline of the runtime it runs on. New makes one.
type Engine struct {
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

	// containers are the Docker engine's containers: what the containers
	// pipeline runs, and where every pipeline finds a workload's strays.
	containers ContainerRuntime
	// pipelines run the workloads, one per runtime, in the order they
	// claim an observed name (host.observed).
	pipelines []pipeline
	inv       inventory
}

// New returns an Engine that runs workloads on r's runtimes; the caller
// sets the rest (Images, Router, ...).
func New(r Runtimes) *Engine {
	e := &Engine{containers: r.Containers}
	// A Swarm service of the name, else a stack, else containers.
	if r.Services != nil {
		e.pipelines = append(e.pipelines, servicePipeline{services: r.Services})
	}
	if r.Stacks != nil {
		e.pipelines = append(e.pipelines, stackPipeline{stacks: r.Stacks})
	}
	e.pipelines = append(e.pipelines, containerPipeline{})
	return e
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
	h := workload.Host{Proxied: e.Router != nil, SingleUpstream: single}
	if c, ok := e.Router.(proxy.TLSChecker); ok {
		h.CheckTLS = c.CheckTLS
	}
	return h
}

func (e *Engine) livenessWindow() time.Duration {
	if e.LivenessWindow > 0 {
		return e.LivenessWindow
	}
	return DefaultLivenessWindow
}

// Validate checks spec against the rules, this engine's host (is there a
// proxy?) and what the runtime chosen for it can do, and returns the
// strategy a deploy will use. The provider calls it at plan time; Apply
// calls it again before any work. Every broken rule is a
// *workload.FieldError.
func (e *Engine) Validate(spec workload.Spec) (plugin.Strategy, error) {
	h := e.host()
	strategy, err := spec.Validate(h)
	errs := []error{err}
	add := func(attr string, err error) {
		if err != nil {
			errs = append(errs, &workload.FieldError{Attr: attr, Err: err})
		}
	}
	if p, err := e.choose(spec); err != nil {
		add("source."+spec.Source.Kind(), err)
	} else {
		p.refuse(spec, h, add)
	}
	return strategy, errors.Join(errs...)
}
