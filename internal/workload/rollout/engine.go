// Package rollout holds the pipelines every source shares: deploy (recreate
// and blue-green), teardown and reconcile. A source only produces an image
// and says what its container listens on; the step machine of a deploy lives
// here, once, and reads like the runbook it replaces.
//
// rollout sits between the provider (above) and the Docker host, the proxy
// and the health gate (below). What it needs from them is the small Runtime
// interface and proxy.Router; the real implementations are internal/docker
// and internal/proxy/{caddy,npm}.
package rollout

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
)

// Runtime is what the pipelines need from the Docker host.
type Runtime interface {
	plugin.ImageHost
	EnsureNetwork(ctx context.Context, name string, labels map[string]string) (id string, err error)
	ListContainers(ctx context.Context, labelKey string) ([]docker.Container, error)
	InspectContainer(ctx context.Context, id string) (docker.ContainerDetail, error)
	CreateContainer(ctx context.Context, spec docker.ContainerSpec) (string, error)
	StartContainer(ctx context.Context, id string) error
	StopContainer(ctx context.Context, id string, timeout time.Duration) error
	RemoveContainer(ctx context.Context, id string) error
	ContainerLogs(ctx context.Context, id string, n int) ([]string, error)
}

// ForwardTo says which address of a container the proxy forwards to.
type ForwardTo string

const (
	// ForwardPublished forwards to the port published on the Docker host:
	// for a proxy that runs on the host (Caddy, by default).
	ForwardPublished ForwardTo = "published"
	// ForwardNetwork forwards to the container's name and port on the
	// provider's Docker network: for a proxy that runs as a container on
	// that network (Nginx Proxy Manager, as the original Tinyforge does).
	ForwardNetwork ForwardTo = "network"
)

// Engine deploys, reconciles and tears down workloads on one Docker host.
type Engine struct {
	Docker Runtime
	// Router is the proxy; nil when the provider has none.
	Router proxy.Router
	// Network is the user-defined bridge network every workload joins.
	Network string
	// PublishAddress is where container ports are published on the host.
	PublishAddress string
	// ForwardTo picks the upstream address given to the proxy.
	ForwardTo ForwardTo
	// Log receives progress; the provider forwards it to tflog.
	Log *slog.Logger
	// LivenessWindow is how long a container without a health path must stay
	// up to pass its gate.
	LivenessWindow time.Duration
	// StopTimeout is how long a stopped container gets between SIGTERM and
	// SIGKILL.
	StopTimeout time.Duration
	// CrashAt, when set, makes the process exit abruptly when a deploy
	// reaches the named step. It is a test hook (TINYFORGE_CRASH_AT) that
	// proves every step is crash-safe; see Steps.
	CrashAt string

	inv inventory
}

// Defaults of the Engine's tunables.
const (
	DefaultLivenessWindow = 3 * time.Second
	DefaultStopTimeout    = 10 * time.Second
	logTailLines          = 20
)

func (e *Engine) log() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Log
}

func (e *Engine) host() workload.Host { return workload.Host{Proxied: e.Router != nil} }

func (e *Engine) livenessWindow() time.Duration {
	if e.LivenessWindow > 0 {
		return e.LivenessWindow
	}
	return DefaultLivenessWindow
}

func (e *Engine) stopTimeout() time.Duration {
	if e.StopTimeout > 0 {
		return e.StopTimeout
	}
	return DefaultStopTimeout
}

// Validate checks spec against the rules and this engine's host (is there a
// proxy?) and returns the strategy a deploy will use. The provider calls it
// at plan time; Apply calls it again before any work.
func (e *Engine) Validate(spec workload.Spec) (plugin.Strategy, error) {
	return spec.Validate(e.host())
}

// Instance is one container of a workload.
type Instance struct {
	ID       string
	Name     string
	State    string
	Image    string
	ImageID  string
	Recorded workload.Recorded
	// Published is the host address ("127.0.0.1:32768") where the
	// container's port is published; "" when it is not (stopped).
	Published string
	// Network is the container's address on the provider's network.
	Network string
	// Upstream is what the proxy forwards to, per the engine's ForwardTo.
	Upstream string
	Created  time.Time
}

// Running reports whether the container is up.
func (i Instance) Running() bool { return i.State == "running" }

// Observed is what runs for one workload, as the Docker host and the proxy
// say.
type Observed struct {
	Name string
	// Live is the container the workload is served by: the one the route
	// points at, else the running one of the highest generation, else the
	// highest generation; nil when the workload has no container.
	Live *Instance
	// Strays are the workload's other containers, left by an interrupted
	// deploy or made by hand; the next apply removes them.
	Strays []Instance
	// Foreign are containers of the workload's name that another owner
	// deployed (another Terraform state): never live, never strays, never
	// touched.
	Foreign []Instance
	// Route is the workload's proxy route; nil when there is none.
	Route *proxy.Route
}

// Statuses of Observed.Status.
const (
	StatusRunning    = "running"
	StatusStopped    = "stopped"
	StatusRestarting = "restarting"
	StatusMissing    = "missing"
)

// Status sums up the live container: running, stopped, restarting, or
// missing.
func (o Observed) Status() string {
	switch {
	case o.Live == nil:
		return StatusMissing
	case o.Live.State == "running":
		return StatusRunning
	case o.Live.State == "restarting":
		return StatusRestarting
	default:
		return StatusStopped
	}
}

// StrayNames lists the stray containers' names.
func (o Observed) StrayNames() []string {
	names := make([]string, 0, len(o.Strays))
	for _, s := range o.Strays {
		names = append(names, s.Name)
	}
	return names
}

// instance reads one listed container.
func (e *Engine) instance(c docker.Container) (Instance, error) {
	rec, err := workload.ReadLabels(c.Labels)
	if err != nil {
		return Instance{}, fmt.Errorf("container %s: %w", c.Name, err)
	}
	in := Instance{
		ID: c.ID, Name: c.Name, State: c.State, Image: c.Image, ImageID: c.ImageID,
		Recorded: rec, Created: c.Created,
	}
	port := rec.Settings.Port
	if port > 0 {
		in.Network = net.JoinHostPort(c.Name, strconv.Itoa(port))
	}
	for _, p := range c.Ports {
		if p.ContainerPort == port && p.HostPort > 0 && (p.Protocol == "" || p.Protocol == "tcp") {
			in.Published = net.JoinHostPort(dialHost(p.HostIP, e.PublishAddress), strconv.Itoa(p.HostPort))
			break
		}
	}
	in.Upstream = in.Published
	if e.ForwardTo == ForwardNetwork {
		in.Upstream = in.Network
	}
	return in, nil
}

// dialHost is the address to dial a port published on hostIP: a wildcard
// binding is reached on loopback.
func dialHost(hostIP, publishAddress string) string {
	for _, ip := range []string{hostIP, publishAddress} {
		if ip != "" && ip != "0.0.0.0" && ip != "::" {
			return ip
		}
	}
	return "127.0.0.1"
}

// ForeignNames lists the names of the containers of another owner.
func (o Observed) ForeignNames() []string {
	names := make([]string, 0, len(o.Foreign))
	for _, f := range o.Foreign {
		names = append(names, f.Name)
	}
	return names
}

// ForeignOwners lists the owners the foreign containers record, sorted and
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

// reconcile decides which of the workload's containers that owner manages
// is live; the containers of other owners are set apart as foreign.
func reconcile(name, owner string, all []Instance, route *proxy.Route) Observed {
	o := Observed{Name: name, Route: route}
	var instances []Instance
	for _, in := range all {
		if in.Recorded.OwnedBy(owner) {
			instances = append(instances, in)
		} else {
			o.Foreign = append(o.Foreign, in)
		}
	}
	live := -1
	if route != nil {
		for i, in := range instances {
			if route.Upstream != "" && (route.Upstream == in.Upstream || route.Upstream == in.Published || route.Upstream == in.Network) {
				live = i
				break
			}
		}
	}
	better := func(i, j int) bool { // is instances[i] a better live candidate than instances[j]?
		a, b := instances[i], instances[j]
		if a.Running() != b.Running() {
			return a.Running()
		}
		if a.Recorded.Generation != b.Recorded.Generation {
			return a.Recorded.Generation > b.Recorded.Generation
		}
		return a.Created.After(b.Created)
	}
	if live < 0 {
		for i := range instances {
			if live < 0 || better(i, live) {
				live = i
			}
		}
	}
	for i := range instances {
		if i == live {
			in := instances[i]
			o.Live = &in
		} else {
			o.Strays = append(o.Strays, instances[i])
		}
	}
	return o
}

// inventory is one snapshot of every container and route of the engine,
// shared by all the workloads of a plan: one container list and one route
// read serve them all, whatever their number. A mutation invalidates it.
type inventory struct {
	mu         sync.Mutex
	loaded     bool
	byWorkload map[string][]Instance
	routes     map[string]proxy.Route
}

func (e *Engine) snapshot(ctx context.Context) (map[string][]Instance, map[string]proxy.Route, error) {
	e.inv.mu.Lock()
	defer e.inv.mu.Unlock()
	if e.inv.loaded {
		return e.inv.byWorkload, e.inv.routes, nil
	}
	byWorkload, routes, err := e.load(ctx, "")
	if err != nil {
		return nil, nil, err
	}
	e.inv.byWorkload, e.inv.routes, e.inv.loaded = byWorkload, routes, true
	return byWorkload, routes, nil
}

// invalidate drops the snapshot: the next Observe reads the host again.
func (e *Engine) invalidate() {
	e.inv.mu.Lock()
	e.inv.loaded = false
	e.inv.byWorkload, e.inv.routes = nil, nil
	e.inv.mu.Unlock()
}

// load reads the host: the containers of one workload (name), or of every
// workload (name ""), and the routes.
func (e *Engine) load(ctx context.Context, name string) (map[string][]Instance, map[string]proxy.Route, error) {
	byWorkload, _, err := e.loadContainers(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	routes := map[string]proxy.Route{}
	if e.Router != nil {
		rs, err := e.Router.Routes(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("read proxy routes: %w", err)
		}
		for _, r := range rs {
			routes[r.Workload] = r
		}
	}
	return byWorkload, routes, nil
}

// loadContainers lists the containers of one workload (name), or of every
// workload (name ""), by workload; unreadable are those whose labels could
// not be read.
func (e *Engine) loadContainers(ctx context.Context, name string) (byWorkload map[string][]Instance, unreadable []docker.Container, err error) {
	filter := workload.LabelWorkload
	if name != "" {
		filter += "=" + name
	}
	containers, err := e.Docker.ListContainers(ctx, filter)
	if err != nil {
		return nil, nil, fmt.Errorf("list containers: %w", err)
	}
	byWorkload = map[string][]Instance{}
	for _, c := range containers {
		in, err := e.instance(c)
		if err != nil {
			e.log().WarnContext(ctx, "ignoring a container with unreadable labels", "container", c.Name, "error", err.Error())
			unreadable = append(unreadable, c)
			continue
		}
		byWorkload[in.Recorded.Workload] = append(byWorkload[in.Recorded.Workload], in)
	}
	return byWorkload, unreadable, nil
}

// Observe reports what runs for the workload as owner manages it ("" for
// every owner). It reads from a snapshot shared by every workload, so that
// Read over N workloads costs one container list and one route read, not N.
func (e *Engine) Observe(ctx context.Context, name, owner string) (Observed, error) {
	byWorkload, routes, err := e.snapshot(ctx)
	if err != nil {
		return Observed{}, err
	}
	return observed(name, owner, byWorkload, routes), nil
}

// observeNow reads the host afresh, for a pipeline about to change it: only
// this workload's containers, so that N parallel applies do not each list
// all N workloads.
func (e *Engine) observeNow(ctx context.Context, name, owner string) (Observed, error) {
	byWorkload, routes, err := e.load(ctx, name)
	if err != nil {
		return Observed{}, err
	}
	return observed(name, owner, byWorkload, routes), nil
}

func observed(name, owner string, byWorkload map[string][]Instance, routes map[string]proxy.Route) Observed {
	var route *proxy.Route
	if r, ok := routes[name]; ok {
		route = &r
	}
	return reconcile(name, owner, byWorkload[name], route)
}

// CheckDomains refuses spec's domains when one of them is routed to another
// workload already, or overlaps one that is (proxy.CheckDomains). It reads
// the snapshot: a plan-time check. The proxy checks again when it writes
// the route, which is what settles a race.
func (e *Engine) CheckDomains(ctx context.Context, spec workload.Spec) error {
	if e.Router == nil || len(spec.Domains) == 0 {
		return nil
	}
	_, routes, err := e.snapshot(ctx)
	if err != nil {
		return err
	}
	return checkDomains(spec, routes)
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

// Adopt observes a workload for import, and reads back from its live
// container the values of the env names its labels record. Import adopts
// the owner the live container records: the importing state manages what
// that owner deployed.
func (e *Engine) Adopt(ctx context.Context, name string) (Observed, map[string]string, error) {
	o, err := e.Observe(ctx, name, "")
	if err != nil {
		return o, nil, err
	}
	if o.Live == nil {
		return o, nil, fmt.Errorf("no workload named %q on the Docker host (no container labelled %s=%s)", name, workload.LabelWorkload, name)
	}
	if owner := o.Live.Recorded.Owner; owner != "" {
		if o, err = e.Observe(ctx, name, owner); err != nil {
			return o, nil, err
		}
	}
	detail, err := e.Docker.InspectContainer(ctx, o.Live.ID)
	if err != nil {
		return o, nil, fmt.Errorf("inspect container %s: %w", o.Live.Name, err)
	}
	want := map[string]bool{}
	for _, k := range o.Live.Recorded.Settings.EnvKeys {
		want[k] = true
	}
	env := map[string]string{}
	for _, kv := range detail.Env {
		for i := 0; i < len(kv); i++ {
			if kv[i] == '=' {
				if k := kv[:i]; want[k] {
					env[k] = kv[i+1:]
				}
				break
			}
		}
	}
	return o, env, nil
}

// checkpoint marks the end of a step in the log, and is where the CrashAt
// test hook fires.
func (e *Engine) checkpoint(ctx context.Context, name string, step Step) {
	e.log().DebugContext(ctx, "step done", "workload", name, "step", string(step))
	if e.CrashAt != "" && e.CrashAt == string(step) {
		e.log().WarnContext(ctx, "TINYFORGE_CRASH_AT: exiting abruptly", "workload", name, "step", string(step))
		os.Exit(75)
	}
}
