package rollout

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/runner"
)

// containerPipeline runs each workload as containers on one Docker engine
// (Engine.containers), one per replica: blue-green or recreate, driven
// step by step here. The proxy's route decides which containers are live.
type containerPipeline struct{}

func (containerPipeline) kind() Kind { return KindContainers }

func (containerPipeline) traits() Traits { return Traits{} }

// ContainerSteps are the steps of a deploy of containers by strategy.
func ContainerSteps(strategy plugin.Strategy) []Step {
	if strategy == plugin.StrategyBlueGreen {
		return []Step{StepProduce, StepStart, StepGate, StepSwap, StepDrain, StepReap}
	}
	return []Step{StepProduce, StepStop, StepStart, StepGate, StepSwap, StepReap}
}

func (containerPipeline) steps(spec workload.Spec, strategy plugin.Strategy) []Step {
	steps := ContainerSteps(strategy)
	if spec.Worker() {
		// Nothing is routed to a worker: the old instances stop once the
		// new passed their gate, with nothing in flight to drain.
		steps = slices.DeleteFunc(slices.Clone(steps), func(s Step) bool { return s == StepDrain })
	}
	return withRelease(spec, steps)
}

func (containerPipeline) refuse(spec workload.Spec, _ workload.Host, add func(string, error)) {
	if len(spec.Run.Placement) > 0 {
		add("placement", fmt.Errorf("placement %q needs a Swarm engine: this provider deploys to one Docker host (see the provider's swarm)", spec.Run.Placement))
	}
}

func (containerPipeline) plan(d *deployment) deployPlan {
	if d.strategy == plugin.StrategyBlueGreen {
		return d.blueGreen()
	}
	return d.recreate()
}

// blueGreen starts green beside blue (one instance per replica), gates
// every green, swaps the route to all of them at once, lets blue drain,
// then reaps blue. A kill at any instant leaves the route on instances that
// passed their gate; a green that fails its gate, or an interrupt (a
// cancelled ctx), removes every green before returning unless the route
// already points at them.
func (d *deployment) blueGreen() deployPlan {
	blue := d.cur.all()
	var green []runner.Instance
	var draining []string
	return deployPlan{do: map[Step]func(context.Context) error{
		StepProduce: d.produce,
		StepRelease: d.releaseContainer,
		StepStart: func(ctx context.Context) (err error) {
			green, err = d.start(ctx, d.gen, d.spec.ReplicaCount())
			return err
		},
		StepGate: func(ctx context.Context) error { return d.gateAll(ctx, green) },
		StepSwap: func(ctx context.Context) error {
			draining = d.toDrain(blue, green)
			if err := d.swap(ctx, green, draining); err != nil {
				return d.afterFailedSwap(ctx, green, err)
			}
			return nil
		},
		StepDrain: func(ctx context.Context) error {
			if d.cur.Status() == StatusRunning {
				d.drain(ctx, draining)
			}
			return nil
		},
		StepReap: func(ctx context.Context) error {
			d.unpark(ctx, green, draining)
			return d.reap(ctx, d.spec.Name, blue)
		},
	}, after: d.prune}
}

// recreate stops the old instances, then starts and gates the new ones: a
// downtime window, by design. New instances that fail their gate are
// removed and the old live ones started again.
func (d *deployment) recreate() deployPlan {
	old := d.cur.all()
	var next []runner.Instance
	return deployPlan{do: map[Step]func(context.Context) error{
		StepProduce: d.produce,
		StepRelease: d.releaseContainer,
		StepStop:    func(ctx context.Context) error { return d.stop(ctx, old) },
		StepStart: func(ctx context.Context) (err error) {
			if next, err = d.start(ctx, d.gen, d.spec.ReplicaCount()); err != nil {
				d.restore(ctx)
			}
			return err
		},
		StepGate: func(ctx context.Context) error {
			if err := d.gateAll(ctx, next); err != nil {
				d.restore(ctx)
				return err
			}
			return nil
		},
		StepSwap: func(ctx context.Context) error {
			if err := d.swap(ctx, next, nil); err != nil {
				err = d.afterFailedSwap(ctx, next, err)
				if !d.routedTo(ctx, next) {
					d.restore(ctx)
				}
				return err
			}
			return nil
		},
		StepReap: func(ctx context.Context) error { return d.reap(ctx, d.spec.Name, old) },
	}, after: d.prune}
}

// converge brings the workload in line with spec without a new
// generation: replicas that died are replaced (by instances of the live
// generation, gated before they take traffic; the healthy ones are not
// touched), the route points at the live instances, and strays go.
func (containerPipeline) converge(ctx context.Context, d *deployment) error {
	spec, cur := d.spec, d.cur
	live := cur.Primary()
	if live == nil {
		return fmt.Errorf("workload %q has no container any more (it was removed after the plan); run terraform apply again to redeploy it", spec.Name)
	}
	var running, dead []runner.Instance
	for _, in := range cur.Live {
		if in.Running() {
			running = append(running, in)
		} else {
			dead = append(dead, in)
		}
	}
	if len(running) > 0 {
		want := spec.ReplicaCount()
		if len(running) > want {
			// Scaled down: the newest go, once the route has left them.
			slices.SortFunc(running, func(a, b runner.Instance) int { return a.Created.Compare(b.Created) })
			cur.Strays = append(cur.Strays, running[want:]...)
			running = running[:want]
		}
		if missing := want - len(running); missing > 0 {
			d.log().InfoContext(ctx, "starting the replicas that are missing", "workload", spec.Name, "missing", missing)
			var more []runner.Instance
			err := d.runSteps(ctx, []Step{StepProduce, StepStart, StepGate}, deployPlan{do: map[Step]func(context.Context) error{
				StepProduce: d.produce,
				StepStart: func(ctx context.Context) (err error) {
					more, err = d.start(ctx, running[0].Recorded.Generation, missing)
					return err
				},
				StepGate: func(ctx context.Context) error { return d.gateAll(ctx, more) },
			}})
			if err != nil {
				return err
			}
			running = append(running, more...)
		}
		cur.Live = running
		cur.Strays = append(cur.Strays, dead...)
	}
	if routeDrifted(spec, cur) {
		if err := d.certify(ctx, spec); err != nil {
			return err
		}
		d.log().InfoContext(ctx, "restoring the route", "workload", spec.Name, "upstreams", upstreams(cur.Live))
		if err := d.route(ctx, spec, cur.Live); err != nil {
			return err
		}
	}
	return d.reap(ctx, spec.Name, cur.Strays)
}

// teardown removes the route (unless another owner's containers share
// the name: then it is theirs), every container of the workload that
// spec's owner manages, those whose labels cannot be read, the images a
// building source made for it and what the source keeps of it here.
func (containerPipeline) teardown(ctx context.Context, d *deployment, h host) (warnings []string, err error) {
	e, spec, o := d.Engine, d.spec, d.cur
	own := o.all()
	for _, in := range h.unreadable {
		if in.Recorded.Workload == spec.Name {
			e.log().WarnContext(ctx, "removing a container with unreadable labels", "container", in.Name)
			own = append(own, in)
		}
	}
	if len(o.Foreign) > 0 {
		warnings = append(warnings, fmt.Sprintf("containers %s of workload %q record another owner (%s): they belong to another "+
			"Terraform state and were left alone, with the workload's route", strings.Join(o.ForeignNames(), ", "), spec.Name,
			strings.Join(o.ForeignOwners(), ", ")))
	} else if err := e.deleteRoute(ctx, spec.Name); err != nil {
		return nil, err
	}
	if err := e.reap(ctx, spec.Name, own); err != nil {
		return warnings, err
	}
	if len(o.Foreign) == 0 {
		if err := e.containers.RemoveReleases(ctx, spec); err != nil {
			return warnings, fmt.Errorf("workload %q: %w", spec.Name, err)
		}
	}
	if len(o.Foreign) == 0 {
		warnings = append(warnings, e.pruneAll(ctx, spec)...)
		warnings = append(warnings, e.forget(ctx, spec)...)
		warnings = append(warnings, e.retire(ctx, spec)...)
	}
	return warnings, nil
}

func (containerPipeline) list(context.Context, string) (listing, error) {
	return containerListing{}, nil
}

// containerListing needs no read of its own: the containers of every
// workload are in every host read.
type containerListing struct{}

func (containerListing) observed(h host, name, owner string) (Observed, bool) {
	return reconcile(name, owner, h.byWorkload[name], h.route(name)), true
}

// reconcile decides which of the workload's containers that owner manages
// are live; the containers of other owners are set apart as foreign.
func reconcile(name, owner string, all []runner.Instance, route *proxy.Route) Observed {
	o := Observed{Name: name, Route: route, runtime: containerObservation{}}
	var own []runner.Instance
	for _, in := range all {
		if in.Recorded.OwnedBy(owner) {
			own = append(own, in)
		} else {
			o.Foreign = append(o.Foreign, in)
		}
	}
	live := map[int]bool{}
	if route != nil {
		for i, in := range own {
			if slices.ContainsFunc(route.Upstreams, in.Serves) {
				live[i] = true
			}
		}
	}
	if len(live) == 0 && len(own) > 0 {
		// No route says: the best candidate's generation, every running
		// instance of it (or the candidate alone when none runs).
		best := 0
		for i := range own {
			if better(own[i], own[best]) {
				best = i
			}
		}
		live[best] = true
		for i, in := range own {
			if in.Running() && own[best].Running() && in.Recorded.Generation == own[best].Recorded.Generation {
				live[i] = true
			}
		}
	}
	for i, in := range own {
		if live[i] {
			o.Live = append(o.Live, in)
		} else {
			o.Strays = append(o.Strays, in)
		}
	}
	return o
}

// better reports whether a is a better live candidate than b: running
// first, then the newer generation, then the newer instance.
func better(a, b runner.Instance) bool {
	if a.Running() != b.Running() {
		return a.Running()
	}
	if a.Recorded.Generation != b.Recorded.Generation {
		return a.Recorded.Generation > b.Recorded.Generation
	}
	return a.Created.After(b.Created)
}

// containerObservation is what containers say beyond themselves: nothing.
type containerObservation struct{}

func (containerObservation) pipeline() pipeline { return containerPipeline{} }

// status: running when every live container runs, missing when there is
// none.
func (containerObservation) status(o Observed) Status {
	if len(o.Live) == 0 {
		return StatusMissing
	}
	for _, in := range o.Live {
		switch {
		case in.State == docker.ContainerRestarting:
			return StatusRestarting
		case !in.Running():
			return StatusStopped
		}
	}
	return StatusRunning
}

func (containerObservation) replicas(o Observed) []runner.Instance { return o.Live }

func (containerObservation) primary(o Observed) *runner.Instance {
	if len(o.Live) == 0 {
		return nil
	}
	return &o.Live[0]
}

func (containerObservation) running(o Observed) int { return countRunning(o.Live) }

// scale: scaling does not recreate containers, so their labels keep the
// count they were started with; what runs is the count.
func (containerObservation) scale(o Observed) int { return max(len(o.Live), 1) }

func (containerObservation) services() ([]ServiceStatus, bool) { return nil, false }

func (containerObservation) importable(Observed) (bool, error) { return true, nil }

// env is the live container's environment, the image's own entries
// included.
func (containerObservation) env(ctx context.Context, e *Engine, o Observed) ([]string, error) {
	return e.containers.Env(ctx, *o.Primary())
}

func (containerObservation) logs(ctx context.Context, e *Engine, o Observed, q docker.LogQuery) ([]LogLine, error) {
	return e.containerLogs(ctx, o.Live, q)
}

func countRunning(ins []runner.Instance) int {
	n := 0
	for _, in := range ins {
		if in.Running() {
			n++
		}
	}
	return n
}
