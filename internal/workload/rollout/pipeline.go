package rollout

import (
	"context"
	"fmt"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/runner"
)

// Kind names a runtime, and the pipeline that runs it.
type Kind string

// The runtimes, each with its pipeline in a file of its own.
const (
	KindContainers Kind = "containers" // containers.go: containers on one engine
	KindStack      Kind = "stack"      // stack.go: a compose project
	KindService    Kind = "service"    // service.go: a Swarm service
)

// A pipeline deploys, converges, observes and tears down the workloads of
// one runtime. The Engine chooses one for a spec (choose) and one for an
// observed name (host.observed); nothing else asks which runtime a
// workload runs on. A new runtime is a new file with its pipeline, and an
// entry in New and choose.
type pipeline interface {
	kind() Kind
	// refuse reports the rules spec breaks on this runtime, each at its
	// attribute: what the runtime cannot do, at plan time and deploy time.
	refuse(spec workload.Spec, h workload.Host, add func(attr string, err error))
	// steps are the steps a deploy of spec by strategy runs, in the order
	// of Steps.
	steps(spec workload.Spec, strategy plugin.Strategy) []Step
	// plan says what each of those steps does in deploy d, and what
	// follows the last.
	plan(d *deployment) deployPlan
	// converge brings what runs in line with d.spec without a new
	// generation: a lost instance started again, the route, the strays.
	converge(ctx context.Context, d *deployment) error
	// list reads what this runtime runs of workload name (every workload
	// for ""), in one read of the host.
	list(ctx context.Context, name string) (listing, error)
	// teardown removes what runs of the workload as d.cur observed it,
	// and its route; h is the read d.cur comes from.
	teardown(ctx context.Context, d *deployment, h host) ([]string, error)
	// traits say what a plan can tell of how the pipeline deploys.
	traits() Traits
}

// A listing is what one runtime runs, as one read of the host found it.
type listing interface {
	// observed is what runs of workload name as owner manages it, when
	// this runtime runs a workload of that name (ok); h holds the
	// containers of the name outside it (strays) and the routes.
	observed(h host, name, owner string) (o Observed, ok bool)
}

// An observation is what one runtime saw of a workload beyond its
// instances (a stack's record and services, a Swarm service's update), and
// what depends on it: the one part of Observed that a runtime owns.
type observation interface {
	// pipeline is the pipeline of the runtime that runs the workload: the
	// one that tears it down.
	pipeline() pipeline
	status(o Observed) Status
	// replicas are the live instances of what the workload serves.
	replicas(o Observed) []runner.Instance
	// primary is the live instance that stands for the workload.
	primary(o Observed) *runner.Instance
	// running counts the replicas that run.
	running(o Observed) int
	// scale is how many replicas what runs says the workload asks for; 0
	// when the runtime, not the provider, sets them (a stack).
	scale(o Observed) int
	// services are a stack's services; ok is false for other runtimes.
	services() (services []ServiceStatus, ok bool)
	// importable refuses what import cannot adopt, and says whether what
	// runs holds the workload's env (a stack's env is its interpolation
	// environment, in no container).
	importable(o Observed) (holdsEnv bool, err error)
	// env is the workload's environment as what runs holds it
	// ("KEY=value"), for import.
	env(ctx context.Context, e *Engine, o Observed) ([]string, error)
	// logs are the lines the live instances wrote per q, masked (see
	// Engine.Logs).
	logs(ctx context.Context, e *Engine, o Observed, q docker.LogQuery) ([]LogLine, error)
}

// Traits are what a plan can tell of how the pipeline that runs a spec
// deploys.
type Traits struct {
	// Resumes says an apply brings a workload that does not run back
	// without a new generation: the runtime starts what stopped and
	// leaves the rest alone (compose).
	Resumes bool
	// Services says the workload reports its services (a stack).
	Services bool
}

// choose is the one place that asks which runtime runs a spec: a stack
// source runs as a compose stack; on a Swarm engine every other workload
// is a service; otherwise containers.
func (e *Engine) choose(spec workload.Spec) (pipeline, error) {
	want := KindContainers
	if _, stacked := spec.Source.(plugin.Stack); stacked {
		want = KindStack
	} else if e.pipelineOf(KindService) != nil {
		want = KindService
	}
	if p := e.pipelineOf(want); p != nil {
		return p, nil
	}
	return nil, fmt.Errorf("workload %q: this provider runs no %s source", spec.Name, spec.Source.Kind())
}

func (e *Engine) pipelineOf(k Kind) pipeline {
	for _, p := range e.pipelines {
		if p.kind() == k {
			return p
		}
	}
	return nil
}

// Traits says how the pipeline that runs spec deploys, for the plan.
func (e *Engine) Traits(spec workload.Spec) Traits {
	p, err := e.choose(spec)
	if err != nil {
		return Traits{}
	}
	return p.traits()
}

// StepsOf lists the steps a deploy of spec runs on this engine, in order:
// those of the pipeline chosen for it, by the strategy it resolves to.
func (e *Engine) StepsOf(spec workload.Spec) ([]Step, error) {
	strategy, err := e.Validate(spec)
	if err != nil {
		return nil, err
	}
	p, err := e.choose(spec)
	if err != nil {
		return nil, err
	}
	steps := p.steps(spec, strategy)
	if e.certifies(spec) {
		steps = withStep(steps, StepCertify)
	}
	return steps, nil
}
