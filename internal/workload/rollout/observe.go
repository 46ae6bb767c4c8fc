package rollout

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/runner"
)

// Observed is what runs for one workload, as the Docker host and the proxy
// say.
type Observed struct {
	Name string
	// Live are the instances the workload is served by: those the route
	// points at, else the running instances of the newest generation, else
	// the newest instance; empty when the workload has none.
	Live []runner.Instance
	// Strays are the workload's other instances, left by an interrupted
	// deploy or made by hand; the next apply removes them.
	Strays []runner.Instance
	// Foreign are instances of the workload's name that another owner
	// deployed (another Terraform state): never live, never strays, never
	// touched.
	Foreign []runner.Instance
	// Route is the workload's proxy route; nil when there is none.
	Route *proxy.Route
	// Stack is the workload's stack when it is stack-managed (compose):
	// its record and services. Live then holds every container of the
	// stack.
	Stack *runner.Stack
	// Swarm is the workload's Swarm service when the engine runs services
	// (Engine.Services). Live then holds one instance standing for it.
	Swarm *runner.SwarmService
}

// Status sums up the live instances.
type Status string

// The statuses of Observed.Status.
const (
	StatusRunning    Status = "running"
	StatusStopped    Status = "stopped"
	StatusRestarting Status = "restarting"
	StatusMissing    Status = "missing"
)

// Status sums up the live instances: running when every one runs, missing
// when there is none. A stack is running when each of its services runs
// the containers it asks for.
func (o Observed) Status() Status {
	if o.Swarm != nil {
		return swarmStatus(o.Swarm)
	}
	if o.Stack != nil {
		for _, svc := range o.Stack.Services {
			if svc.State() != runner.ServiceRunning {
				return StatusStopped
			}
		}
		if len(o.Live) == 0 {
			return StatusMissing
		}
		return StatusRunning
	}
	if len(o.Live) == 0 {
		return StatusMissing
	}
	for _, in := range o.Live {
		switch {
		case in.State == runner.StateRestarting:
			return StatusRestarting
		case !in.Running():
			return StatusStopped
		}
	}
	return StatusRunning
}

// Replicas are the live instances of what the workload serves: every live
// instance, or for a stack its routed service's only (a stack's other
// services are not replicas of it).
func (o Observed) Replicas() []runner.Instance {
	if o.Stack == nil || o.Stack.Record.Settings.Service == "" {
		return o.Live
	}
	var out []runner.Instance
	for _, in := range o.Live {
		if in.Service == o.Stack.Record.Settings.Service {
			out = append(out, in)
		}
	}
	return out
}

// Primary is the live instance that stands for the workload where one is
// asked for (the provider's container_id): for a stack, the routed
// service's first running container (else its first container, else the
// stack's first); nil when none is live.
func (o Observed) Primary() *runner.Instance {
	if len(o.Live) == 0 {
		return nil
	}
	if o.Stack != nil {
		routed := o.Stack.Record.Settings.Service
		best := -1
		for i, in := range o.Live {
			if in.Service == routed && routed != "" && (best < 0 || (in.Running() && !o.Live[best].Running())) {
				best = i
			}
		}
		if best >= 0 {
			return &o.Live[best]
		}
	}
	return &o.Live[0]
}

// LiveNames lists the live instances' names.
func (o Observed) LiveNames() []string { return names(o.Live) }

// StrayNames lists the stray instances' names.
func (o Observed) StrayNames() []string { return names(o.Strays) }

// ForeignNames lists the names of the instances of another owner.
func (o Observed) ForeignNames() []string { return names(o.Foreign) }

// ForeignOwners lists the owners the foreign instances record, sorted and
// without repeats.
func (o Observed) ForeignOwners() []string {
	var owners []string
	for _, f := range o.Foreign {
		if !slices.Contains(owners, f.Recorded.Owner) {
			owners = append(owners, f.Recorded.Owner)
		}
	}
	slices.Sort(owners)
	return owners
}

// all lists every instance of the workload that its owner manages.
func (o Observed) all() []runner.Instance {
	return append(slices.Clone(o.Live), o.Strays...)
}

func names(ins []runner.Instance) []string {
	out := make([]string, 0, len(ins))
	for _, in := range ins {
		out = append(out, in.Name)
	}
	return out
}

// reconcile decides which of the workload's instances that owner manages
// are live; the instances of other owners are set apart as foreign.
func reconcile(name, owner string, all []runner.Instance, route *proxy.Route) Observed {
	o := Observed{Name: name, Route: route}
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

// inventory is one snapshot of every instance and route of the engine,
// shared by all the workloads of a plan: one list and one route read serve
// them all, whatever their number. A mutation invalidates it.
type inventory struct {
	mu     sync.Mutex
	loaded bool
	host   host
}

// host is one read of what runs: instances, stacks and routes.
type host struct {
	byWorkload map[string][]runner.Instance
	stacks     map[string]runner.Stack
	services   map[string]runner.SwarmService
	routes     map[string]proxy.Route
}

func (e *Engine) snapshot(ctx context.Context) (host, error) {
	e.inv.mu.Lock()
	defer e.inv.mu.Unlock()
	if e.inv.loaded {
		return e.inv.host, nil
	}
	h, err := e.load(ctx, "")
	if err != nil {
		return host{}, err
	}
	e.inv.host, e.inv.loaded = h, true
	return h, nil
}

// invalidate drops the snapshot: the next Observe reads the host again.
func (e *Engine) invalidate() {
	e.inv.mu.Lock()
	e.inv.loaded = false
	e.inv.host = host{}
	e.inv.mu.Unlock()
}

// load reads the host: the instances and stacks of one workload (name), or
// of every workload (name ""), and the routes.
func (e *Engine) load(ctx context.Context, name string) (host, error) {
	byWorkload, unreadable, err := e.Runtime.List(ctx, name)
	if err != nil {
		return host{}, err
	}
	for _, in := range unreadable {
		e.log().WarnContext(ctx, "ignoring a container with unreadable labels", "container", in.Name)
	}
	h := host{byWorkload: byWorkload, routes: map[string]proxy.Route{}}
	if e.Stacks != nil {
		if h.stacks, err = e.Stacks.List(ctx, name); err != nil {
			return host{}, err
		}
	}
	if e.Services != nil {
		if h.services, err = e.Services.List(ctx, name); err != nil {
			return host{}, err
		}
	}
	if e.Router != nil {
		rs, err := e.Router.Routes(ctx)
		if err != nil {
			return host{}, fmt.Errorf("read proxy routes: %w", err)
		}
		for _, r := range rs {
			h.routes[r.Workload] = r
		}
	}
	return h, nil
}

// Observe reports what runs for the workload as owner manages it ("" for
// every owner). It reads from a snapshot shared by every workload, so that
// Read over N workloads costs one list and one route read, not N.
func (e *Engine) Observe(ctx context.Context, name, owner string) (Observed, error) {
	h, err := e.snapshot(ctx)
	if err != nil {
		return Observed{}, err
	}
	return h.observed(name, owner), nil
}

// observeNow reads the host afresh, for a pipeline about to change it: only
// this workload's instances, so that N parallel applies do not each list
// all N workloads.
func (e *Engine) observeNow(ctx context.Context, name, owner string) (Observed, error) {
	h, err := e.load(ctx, name)
	if err != nil {
		return Observed{}, err
	}
	return h.observed(name, owner), nil
}

// observed is what runs for workload name as owner manages it. A stack is
// observed as a whole: every container of it is live (compose, not a
// route, decides which run), those of another owner are foreign, and
// containers of the name outside the stack (left by a deploy from another
// kind of source) are strays.
func (h host) observed(name, owner string) Observed {
	var route *proxy.Route
	if r, ok := h.routes[name]; ok {
		route = &r
	}
	if svc, ok := h.services[name]; ok {
		return observedService(name, owner, svc, route, reconcile(name, owner, h.byWorkload[name], nil))
	}
	st, stacked := h.stacks[name]
	if !stacked {
		return reconcile(name, owner, h.byWorkload[name], route)
	}
	o := Observed{Name: name, Route: route, Stack: &st}
	recordOwned := !st.HasRecord || st.Record.OwnedBy(owner)
	for _, in := range st.Instances() {
		if in.Recorded.OwnedBy(owner) && recordOwned {
			o.Live = append(o.Live, in)
		} else {
			o.Foreign = append(o.Foreign, in)
		}
	}
	if !recordOwned && len(st.Instances()) == 0 {
		// A record alone still says whose the name is.
		o.Foreign = append(o.Foreign, runner.Instance{Name: st.Records[0], Recorded: st.Record})
	}
	others := reconcile(name, owner, h.byWorkload[name], nil)
	o.Strays = others.all()
	o.Foreign = append(o.Foreign, others.Foreign...)
	return o
}

// Adopt observes a workload for import, and reads back from its primary
// live instance the values of the env names its labels record. Import
// adopts the owner the live instance records: the importing state manages
// what that owner deployed.
func (e *Engine) Adopt(ctx context.Context, name string) (Observed, map[string]string, error) {
	o, err := e.Observe(ctx, name, "")
	if err != nil {
		return o, nil, err
	}
	live := o.Primary()
	if live == nil {
		return o, nil, fmt.Errorf("no workload named %q on the Docker host (no container labelled %s=%s)", name, workload.LabelWorkload, name)
	}
	if o.Stack != nil && !o.Stack.HasRecord {
		return o, nil, fmt.Errorf("workload %q is a stack without a record of what was deployed (its deploy did not finish); apply it again from the state that deployed it", name)
	}
	if o.Stack != nil {
		// A stack's env is its interpolation environment: it is in no
		// container, so import cannot read it back.
		return o, map[string]string{}, nil
	}
	if owner := live.Recorded.Owner; owner != "" {
		if o, err = e.Observe(ctx, name, owner); err != nil {
			return o, nil, err
		}
		live = o.Primary()
	}
	var vars []string
	if o.Swarm != nil {
		vars = o.Swarm.Env
	} else if vars, err = e.Runtime.Env(ctx, *live); err != nil {
		return o, nil, err
	}
	want := map[string]bool{}
	for _, k := range live.Recorded.Settings.EnvKeys {
		want[k] = true
	}
	env := map[string]string{}
	for _, kv := range vars {
		if k, v, ok := strings.Cut(kv, "="); ok && want[k] {
			env[k] = v
		}
	}
	return o, env, nil
}

// CheckDomains refuses spec's domains when one of them is routed to another
// workload already, or overlaps one that is (proxy.CheckDomains). It reads
// the snapshot: a plan-time check. The proxy checks again when it writes
// the route, which is what settles a race.
func (e *Engine) CheckDomains(ctx context.Context, spec workload.Spec) error {
	if e.Router == nil || len(spec.Domains) == 0 {
		return nil
	}
	h, err := e.snapshot(ctx)
	if err != nil {
		return err
	}
	return checkDomains(spec, h.routes)
}

func checkDomains(spec workload.Spec, routes map[string]proxy.Route) error {
	if len(spec.Domains) == 0 {
		return nil
	}
	others := make([]proxy.Route, 0, len(routes))
	for _, r := range routes {
		others = append(others, r)
	}
	// In name order, so that the same conflict is reported every time.
	slices.SortFunc(others, func(a, b proxy.Route) int { return strings.Compare(a.Workload, b.Workload) })
	if err := proxy.CheckDomains(proxy.Route{Workload: spec.Name, Domains: spec.Domains}, others); err != nil {
		return &workload.FieldError{Attr: "domains", Err: err}
	}
	return nil
}
