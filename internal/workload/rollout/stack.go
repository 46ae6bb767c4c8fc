package rollout

import (
	"context"
	"fmt"
	"slices"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/runner"
)

// StackRuntime runs stack-managed workloads (a compose project, which
// recreates what changed itself): runner.Stacks.
type StackRuntime interface {
	// List reads the stacks of one workload (name) or of every workload
	// (name ""), by workload, in one read of the host.
	List(ctx context.Context, name string) (map[string]runner.Stack, error)
	// Up brings spec's stack up at art's project; the record is not
	// written. warn hears what the Up says without failing it.
	Up(ctx context.Context, spec workload.Spec, art plugin.Artifact, warn func(string)) error
	// UpBeside is Up, except that the routed service's new containers,
	// when it changed, start beside its running ones: Beside says which
	// are which, also when the Up fails.
	UpBeside(ctx context.Context, spec workload.Spec, art plugin.Artifact, warn func(string)) (runner.Beside, error)
	// Routed are the running containers of spec's routed service, with
	// their addresses as spec routes them.
	Routed(ctx context.Context, spec workload.Spec) ([]runner.Instance, error)
	// Retire stops and removes containers of spec's stack.
	Retire(ctx context.Context, spec workload.Spec, ins []runner.Instance) error
	// Record writes what generation gen deployed as the stack's record.
	Record(ctx context.Context, spec workload.Spec, art plugin.Artifact, gen int) error
	// Down takes spec's stack down and removes its records.
	Down(ctx context.Context, spec workload.Spec) error
}

// stackPipeline runs the workloads of stack sources (compose) as a stack
// that recreates what changed itself (StackRuntime): the whole stack comes
// up at the new project, its routed service passes its gate, the route
// points at it, and two generations never run side by side. The routed
// service is updated start-first: its new containers start beside the old
// ones, within the stack. Since compose leaves the containers it did not
// recreate alone, with their labels, what a deploy deployed is kept on a
// record that the swap writes.
type stackPipeline struct {
	stacks StackRuntime
}

func (stackPipeline) kind() Kind { return KindStack }

// traits: compose starts what stopped and leaves the rest alone, and a
// stack reports its services.
func (stackPipeline) traits() Traits { return Traits{Resumes: true, Services: true} }

// StackSteps are the steps of a deploy of a stack by strategy: one
// without a routed service has no gate; a start-first update drains the
// routed service's old containers before it reaps them.
func StackSteps(routed bool, strategy plugin.Strategy) []Step {
	switch {
	case !routed:
		return []Step{StepProduce, StepStart, StepSwap, StepReap}
	case strategy == plugin.StrategyStartFirst:
		return []Step{StepProduce, StepStart, StepGate, StepSwap, StepDrain, StepReap}
	}
	return []Step{StepProduce, StepStart, StepGate, StepSwap, StepReap}
}

func (stackPipeline) steps(spec workload.Spec, strategy plugin.Strategy) []Step {
	return StackSteps(stackOf(spec).Service != "", strategy)
}

// stackOf is the stack source's configuration.
func stackOf(spec workload.Spec) plugin.StackConfig {
	if st, ok := spec.Source.(plugin.Stack); ok {
		return st.Stack()
	}
	return plugin.StackConfig{}
}

// refuse: the compose file, not the workload, says how a stack's
// containers run, where and how many.
func (stackPipeline) refuse(s workload.Spec, _ workload.Host, add func(string, error)) {
	kind := s.Source.Kind()
	if len(s.Domains) > 0 && stackOf(s).Service == "" {
		add("source."+kind+".service", fmt.Errorf("service is required with domains %q: the %s service they route to", s.Domains, kind))
	}
	if s.HostPort != 0 {
		add("host_port", fmt.Errorf("host_port %d does not apply to a %s source: publish ports in the compose file", s.HostPort, kind))
	}
	if len(s.Volumes) > 0 {
		add("volume", fmt.Errorf("volume blocks do not apply to a %s source: declare volumes in the compose file (got %d)", kind, len(s.Volumes)))
	}
	if s.ReplicaCount() > 1 {
		add("replicas", fmt.Errorf("replicas does not apply to a %s source: set replicas (deploy.replicas) in the compose file (got %d)", kind, s.Replicas))
	}
	if !s.Run.Zero() {
		add("source."+kind, fmt.Errorf("memory, cpus, restart, command, entrypoint, user, working_dir, labels, stop_signal and stop_timeout do not apply to a %s source: set them in the compose file", kind))
	}
	if len(s.Run.Placement) > 0 {
		add("placement", fmt.Errorf("placement %q does not apply to a %s source: the stack runs on the Docker host the provider talks to", s.Run.Placement, kind))
	}
	if s.Release.Set() {
		add("release_command", fmt.Errorf("release_command does not apply to a %s source: run one-off steps (migrations) as a service of the compose file that the others depend on (depends_on with condition: service_completed_successfully)", kind))
	}
}

// plan: the stack comes up at the new project (compose recreates what
// changed, in place: a downtime window for those services, by design),
// its routed service passes its gate, the route points at it, and only
// then is the new generation recorded. A gate that fails leaves the stack
// as compose made it, and the record on the previous generation, so that
// the next plan offers the deploy again. A deploy from another kind of
// source left containers outside the stack: they go last.
func (p stackPipeline) plan(d *deployment) deployPlan {
	if stackOf(d.spec).Service != "" && d.strategy == plugin.StrategyStartFirst {
		return p.startFirst(d)
	}
	var routed []runner.Instance
	return deployPlan{do: map[Step]func(context.Context) error{
		StepProduce: d.produce,
		StepStart:   func(ctx context.Context) error { return p.up(ctx, d) },
		StepGate: func(ctx context.Context) (err error) {
			if routed, err = p.stacks.Routed(ctx, d.spec); err != nil {
				return err
			}
			return d.gateEach(ctx, routed)
		},
		StepSwap: func(ctx context.Context) error {
			if stackOf(d.spec).Service != "" {
				if err := d.swap(ctx, routed, nil); err != nil {
					return err
				}
			}
			return p.stacks.Record(ctx, d.spec, d.art, d.gen)
		},
		StepReap: func(ctx context.Context) error { return d.reap(ctx, d.spec.Name, d.cur.Strays) },
	}, after: d.prune}
}

// startFirst: the stack comes up as compose brings it up, except for its
// routed service. When that changed, its new containers start beside the
// running ones (compose's own create, in the same project: its labels,
// network aliases and volumes), pass their gate (the service's compose
// healthcheck, which the Up waited for; else the workload's), take the
// route, and the old ones drain and go. A new container that fails its
// gate goes and the old ones serve on; the record stays on the previous
// generation. An unchanged routed service is gated and routed as it runs.
// Containers of the routed service that an interrupted deploy left
// unrouted go first.
func (p stackPipeline) startFirst(d *deployment) deployPlan {
	var b runner.Beside
	var next []runner.Instance
	var draining []string
	return deployPlan{do: map[Step]func(context.Context) error{
		StepProduce: d.produce,
		StepStart: func(ctx context.Context) (err error) {
			if st, ok := d.cur.runtime.(stackObservation); ok && len(st.unrouted) > 0 {
				if err := p.stacks.Retire(ctx, d.spec, st.unrouted); err != nil {
					return fmt.Errorf("workload %q: %w", d.spec.Name, err)
				}
				d.cur.Strays = slices.DeleteFunc(slices.Clone(d.cur.Strays), func(in runner.Instance) bool {
					return slices.ContainsFunc(st.unrouted, func(u runner.Instance) bool { return u.ID == in.ID })
				})
			}
			b, err = p.stacks.UpBeside(ctx, d.spec, d.art, d.warn)
			if err != nil && len(b.New) > 0 {
				// The Up waited for the new containers' compose healthcheck.
				err = fmt.Errorf("container %s of workload %q failed its gate: %w%s", b.New[0].Name, d.spec.Name, err, d.logTail(ctx, b.New[0]))
				d.discardAll(ctx, b.New)
				return err
			}
			if err != nil {
				return fmt.Errorf("workload %q: %w", d.spec.Name, err)
			}
			if len(b.New) > 0 {
				next = b.New
				d.log().InfoContext(ctx, "the routed service's new containers run beside the old ones", "workload", d.spec.Name,
					"containers", names(b.New), "old", names(b.Old))
				return nil
			}
			next, err = p.stacks.Routed(ctx, d.spec)
			return err
		},
		StepGate: func(ctx context.Context) error {
			switch {
			case len(b.New) == 0:
				return d.gateEach(ctx, next)
			case b.Healthchecked:
				d.log().InfoContext(ctx, "gate passed: the compose healthcheck of the new containers", "workload", d.spec.Name,
					"containers", names(next))
				return nil
			}
			return d.gateAll(ctx, next)
		},
		StepSwap: func(ctx context.Context) error {
			draining = d.toDrain(b.Old, next)
			if err := d.swap(ctx, next, draining); err != nil {
				if len(b.New) > 0 {
					return d.afterFailedSwap(ctx, next, err)
				}
				return err
			}
			return p.stacks.Record(ctx, d.spec, d.art, d.gen)
		},
		StepDrain: func(ctx context.Context) error {
			if len(b.Old) > 0 && d.cur.Status() == StatusRunning {
				d.drain(ctx, draining)
			}
			return nil
		},
		StepReap: func(ctx context.Context) error {
			d.unpark(ctx, next, draining)
			if err := p.stacks.Retire(ctx, d.spec, b.Old); err != nil {
				return fmt.Errorf("workload %q: %w", d.spec.Name, err)
			}
			return d.reap(ctx, d.spec.Name, d.cur.Strays)
		},
	}, after: d.prune}
}

func (p stackPipeline) up(ctx context.Context, d *deployment) error {
	if err := p.stacks.Up(ctx, d.spec, d.art, d.warn); err != nil {
		return fmt.Errorf("workload %q: %w", d.spec.Name, err)
	}
	return nil
}

// converge brings a stack back to what its record says without a new
// generation: a service stopped or removed by hand is started again by an
// up of the deployed project (compose leaves the healthy ones alone), and
// the route points at the routed service again.
func (p stackPipeline) converge(ctx context.Context, d *deployment) error {
	spec, cur := d.spec, d.cur
	if cur.Status() != StatusRunning {
		err := d.runSteps(ctx, []Step{StepProduce}, deployPlan{do: map[Step]func(context.Context) error{StepProduce: d.produce}})
		if err != nil {
			return err
		}
		if err := p.up(ctx, d); err != nil {
			return err
		}
		if st, ok := cur.runtime.(stackObservation); !ok || !st.HasRecord {
			gen := max(d.intent.Generation, 1)
			if err := p.stacks.Record(ctx, spec, d.art, gen); err != nil {
				return err
			}
		}
		if cur, err = d.observeNow(ctx, spec.Name, spec.Owner); err != nil {
			return err
		}
	}
	if stackOf(spec).Service != "" && routeDrifted(spec, cur) {
		routed, err := p.stacks.Routed(ctx, spec)
		if err != nil {
			return err
		}
		// Never back onto what the route had left: a deploy's old or
		// ungated containers, reaped below.
		if st, ok := cur.runtime.(stackObservation); ok {
			routed = slices.DeleteFunc(routed, func(in runner.Instance) bool {
				return slices.ContainsFunc(st.unrouted, func(u runner.Instance) bool { return u.ID == in.ID })
			})
		}
		if len(routed) == 0 {
			return fmt.Errorf("workload %q: service %q of the stack runs no container the route may point at", spec.Name, stackOf(spec).Service)
		}
		if err := d.certify(ctx, spec); err != nil {
			return err
		}
		if err := d.route(ctx, spec, routed); err != nil {
			return err
		}
	}
	return d.reap(ctx, spec.Name, cur.Strays)
}

// teardown takes a stack down: its route, compose down (containers,
// networks, the images it built; named volumes only with the source's
// remove_volumes), its records, the source's checkout, and the workload's
// containers outside the stack. A stack another owner deployed is left
// alone.
func (p stackPipeline) teardown(ctx context.Context, d *deployment, _ host) ([]string, error) {
	spec := d.spec
	if left, err := d.removeWhole(ctx, "workload", func(ctx context.Context) error { return p.stacks.Down(ctx, spec) }); left != nil || err != nil {
		return left, err
	}
	return append(d.forget(ctx, spec), d.retire(ctx, spec)...), nil
}

func (p stackPipeline) list(ctx context.Context, name string) (listing, error) {
	stacks, err := p.stacks.List(ctx, name)
	return stackListing{p: p, stacks: stacks}, err
}

type stackListing struct {
	p      stackPipeline
	stacks map[string]runner.Stack
}

// observed: a stack is observed as a whole. Every container of it is live
// (compose, not a route, decides which run), those of another owner are
// foreign, and containers of the name outside the stack (left by a deploy
// from another kind of source) are strays.
func (l stackListing) observed(h host, name, owner string) (Observed, bool) {
	st, ok := l.stacks[name]
	if !ok {
		return Observed{}, false
	}
	o := Observed{Name: name, Route: h.route(name)}
	obs := stackObservation{Stack: st, p: l.p}
	recordOwned := !st.HasRecord || st.Record.OwnedBy(owner)
	unrouted := unroutedOf(st, o.Route)
	for _, in := range st.Instances() {
		switch {
		case !in.Recorded.OwnedBy(owner) || !recordOwned:
			o.Foreign = append(o.Foreign, in)
		case slices.ContainsFunc(unrouted, func(u runner.Instance) bool { return u.ID == in.ID }):
			obs.unrouted = append(obs.unrouted, in)
		default:
			o.Live = append(o.Live, in)
		}
	}
	o.runtime = obs
	if !recordOwned && len(st.Instances()) == 0 {
		// A record alone still says whose the name is.
		o.Foreign = append(o.Foreign, runner.Instance{Name: st.Records[0], Recorded: st.Record})
	}
	h.outside(&o, owner)
	o.Strays = append(o.Strays, obs.unrouted...)
	return o, true
}

// unroutedOf are the containers of st's routed service that route does
// not point at, while it points at one of them that runs: what a deploy
// started and never routed (it was killed between its start and its
// swap), or routed away from and did not reap.
func unroutedOf(st runner.Stack, route *proxy.Route) []runner.Instance {
	service := st.Record.Settings.Service
	if route == nil || service == "" {
		return nil
	}
	var mine []runner.Instance
	for _, svc := range st.Services {
		if svc.Name == service {
			mine = svc.Instances
		}
	}
	served := func(in runner.Instance) bool { return slices.ContainsFunc(route.Upstreams, in.Serves) }
	if !slices.ContainsFunc(mine, func(in runner.Instance) bool { return in.Running() && served(in) }) {
		return nil
	}
	return slices.DeleteFunc(slices.Clone(mine), served)
}

// stackObservation is a stack's record and services.
type stackObservation struct {
	runner.Stack
	p stackPipeline
	// unrouted are the routed service's containers the route left
	// (unroutedOf): strays, not live.
	unrouted []runner.Instance
}

func (s stackObservation) pipeline() pipeline { return s.p }

// status: a stack is running when each of its services runs the
// containers it asks for.
func (s stackObservation) status(o Observed) Status {
	for _, svc := range s.Services {
		if svc.State() != docker.ServiceRunning {
			return StatusStopped
		}
	}
	if len(o.Live) == 0 {
		return StatusMissing
	}
	return StatusRunning
}

// replicas are the routed service's containers: a stack's other services
// are not replicas of it.
func (s stackObservation) replicas(o Observed) []runner.Instance {
	routed := s.Record.Settings.Service
	if routed == "" {
		return o.Live
	}
	var out []runner.Instance
	for _, in := range o.Live {
		if in.Service == routed {
			out = append(out, in)
		}
	}
	return out
}

// primary is the routed service's first running container, else its
// first container, else the stack's first.
func (s stackObservation) primary(o Observed) *runner.Instance {
	if len(o.Live) == 0 {
		return nil
	}
	routed := s.Record.Settings.Service
	best := -1
	for i, in := range o.Live {
		if in.Service == routed && routed != "" && (best < 0 || (in.Running() && !o.Live[best].Running())) {
			best = i
		}
	}
	if best >= 0 {
		return &o.Live[best]
	}
	return &o.Live[0]
}

func (s stackObservation) running(o Observed) int { return countRunning(s.replicas(o)) }

// scale: the compose file sets a stack's replicas.
func (stackObservation) scale(Observed) int { return 0 }

func (s stackObservation) services() ([]ServiceStatus, bool) {
	out := make([]ServiceStatus, 0, len(s.Services))
	for _, svc := range s.Services {
		out = append(out, ServiceStatus{Name: svc.Name, State: svc.State(), Running: svc.Running(), Desired: svc.Desired})
	}
	return out, true
}

// importable: a stack without a record (its deploy did not finish)
// cannot be imported; a stack's env is its interpolation environment, in
// no container, so import cannot read it back.
func (s stackObservation) importable(o Observed) (bool, error) {
	if !s.HasRecord {
		return false, fmt.Errorf("workload %q is a stack without a record of what was deployed (its deploy did not finish); apply it again from the state that deployed it", o.Name)
	}
	return false, nil
}

func (stackObservation) env(context.Context, *Engine, Observed) ([]string, error) { return nil, nil }

// logs: every container of the stack, each masked by the values its
// environment holds of the variables the record names (a compose file
// that passes DB_PASSWORD=${DB_PASSWORD} on).
func (stackObservation) logs(ctx context.Context, e *Engine, o Observed, q docker.LogQuery) ([]LogLine, error) {
	return e.containerLogs(ctx, o.Live, q)
}
