package rollout

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
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
	// the newest instance; every container of a stack; one instance that
	// stands for a Swarm service. Empty when the workload has none.
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
	// runtime is what the runtime that runs the workload saw beyond its
	// instances; nil reads as containers.
	runtime observation
}

func (o Observed) rt() observation {
	if o.runtime == nil {
		return containerObservation{}
	}
	return o.runtime
}

// Status sums up the live instances: running when every one runs (for a
// stack, when each service runs the containers it asks for), missing when
// there is none.
func (o Observed) Status() Status { return o.rt().status(o) }

// Replicas are the live instances of what the workload serves: every live
// instance, or for a stack its routed service's only (a stack's other
// services are not replicas of it).
func (o Observed) Replicas() []runner.Instance { return o.rt().replicas(o) }

// ReplicasRunning counts the replicas that run (for a Swarm service, the
// tasks that run its image).
func (o Observed) ReplicasRunning() int { return o.rt().running(o) }

// Upstreams are the addresses of the replicas that answer on one, sorted:
// what a proxy balances over.
func (o Observed) Upstreams() []string { return slices.Sorted(slices.Values(upstreams(o.Replicas()))) }

// Scale is how many replicas what runs says the workload asks for: the
// live containers, or a Swarm service's desired count; 0 when the runtime
// sets them, not the provider (a stack: its compose file).
func (o Observed) Scale() int { return o.rt().scale(o) }

// ServiceStatus is one service of a stack as last seen.
type ServiceStatus struct {
	Name  string
	State docker.ServiceState
	// Running counts its running containers; Desired is how many the
	// deployed project asks for.
	Running, Desired int
}

// Services are a stack's services; ok is false for a workload that is
// not a stack.
func (o Observed) Services() (services []ServiceStatus, ok bool) { return o.rt().services() }

// RoutedTo is where the route points, sorted and joined by ", " (the
// tasks' DNS name and port for a Swarm service); ok is false when there is
// no route.
func (o Observed) RoutedTo() (target string, ok bool) {
	switch r := o.Route; {
	case r == nil:
		return "", false
	case r.Tasks != "":
		return net.JoinHostPort(r.Tasks, strconv.Itoa(r.TasksPort)), true
	default:
		return strings.Join(slices.Sorted(slices.Values(r.Upstreams)), ", "), true
	}
}

// Primary is the live instance that stands for the workload where one is
// asked for (the provider's container_id): for a stack, the routed
// service's first running container (else its first container, else the
// stack's first); nil when none is live.
func (o Observed) Primary() *runner.Instance { return o.rt().primary(o) }

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

// inventory is one snapshot of every instance and route of the engine,
// shared by all the workloads of a plan: one list and one route read serve
// them all, whatever their number. A mutation invalidates it.
type inventory struct {
	mu     sync.Mutex
	loaded bool
	host   host
}

// host is one read of what runs: the containers of the workloads, what
// each runtime runs besides, and the routes.
type host struct {
	byWorkload map[string][]runner.Instance
	// unreadable are containers whose labels cannot be read.
	unreadable []runner.Instance
	// listings are the runtimes' reads, in the order of Engine.pipelines.
	listings []listing
	routes   map[string]proxy.Route
}

// route is the route of workload name; nil when there is none.
func (h host) route(name string) *proxy.Route {
	if r, ok := h.routes[name]; ok {
		return &r
	}
	return nil
}

// outside adds to o, which a runtime runs as a whole, the containers of
// its name outside it (left by a deploy from another kind of source, or
// before Swarm): strays, or foreign when another owner's.
func (h host) outside(o *Observed, owner string) {
	others := reconcile(o.Name, owner, h.byWorkload[o.Name], nil)
	o.Strays = others.all()
	o.Foreign = append(o.Foreign, others.Foreign...)
}

// observed is what runs for workload name as owner manages it, as the
// first runtime that runs a workload of that name sees it (a Swarm
// service, else a stack, else containers): the one place that asks which
// runtime runs an observed name.
func (h host) observed(name, owner string) Observed {
	for _, l := range h.listings {
		if o, ok := l.observed(h, name, owner); ok {
			return o
		}
	}
	o, _ := containerListing{}.observed(h, name, owner)
	return o
}

func (e *Engine) snapshot(ctx context.Context) (host, error) {
	e.inv.mu.Lock()
	defer e.inv.mu.Unlock()
	if e.inv.loaded {
		return e.inv.host, nil
	}
	h, err := e.read(ctx, "")
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

// load reads the host: the containers of one workload (name), or of every
// workload (name ""), what each runtime runs of them besides, and the
// routes.
func (e *Engine) load(ctx context.Context, name string) (host, error) {
	byWorkload, unreadable, err := e.containers.List(ctx, name)
	if err != nil {
		return host{}, err
	}
	h := host{byWorkload: byWorkload, unreadable: unreadable, routes: map[string]proxy.Route{}}
	for _, p := range e.pipelines {
		l, err := p.list(ctx, name)
		if err != nil {
			return host{}, err
		}
		h.listings = append(h.listings, l)
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

// read is load for what observes: containers whose labels cannot be read
// are left out, and said so.
func (e *Engine) read(ctx context.Context, name string) (host, error) {
	h, err := e.load(ctx, name)
	for _, in := range h.unreadable {
		e.log().WarnContext(ctx, "ignoring a container with unreadable labels", "container", in.Name)
	}
	return h, err
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
	h, err := e.read(ctx, name)
	if err != nil {
		return Observed{}, err
	}
	return h.observed(name, owner), nil
}

// Adopt observes a workload for import, and reads back from what runs the
// values of the env names its labels record. Import adopts the owner the
// primary live instance records: the importing state manages what that
// owner deployed.
func (e *Engine) Adopt(ctx context.Context, name string) (Observed, map[string]string, error) {
	o, err := e.Observe(ctx, name, "")
	if err != nil {
		return o, nil, err
	}
	live := o.Primary()
	if live == nil {
		return o, nil, fmt.Errorf("no workload named %q on the Docker host (no container labelled %s=%s)", name, workload.LabelWorkload, name)
	}
	if holdsEnv, err := o.rt().importable(o); err != nil || !holdsEnv {
		return o, map[string]string{}, err
	}
	if owner := live.Recorded.Owner; owner != "" {
		if o, err = e.Observe(ctx, name, owner); err != nil {
			return o, nil, err
		}
		live = o.Primary()
	}
	vars, err := o.rt().env(ctx, e, o)
	if err != nil {
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
