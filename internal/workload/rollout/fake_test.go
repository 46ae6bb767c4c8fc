package rollout

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/runner"
)

// world is a Docker host and a proxy in memory, for the fast tests of each
// pipeline's step order: no Docker, no proxy, milliseconds. Like the real
// ones, every call on a cancelled context fails with the context's error.
// Instances answer their health check from one in-process HTTP server
// (healthy unless their image is "bad").
type world struct {
	t  *testing.T
	mu sync.Mutex
	// instances are every container, by name; a stack's carry Service.
	instances map[string]*fakeInstance
	stacks    map[string]*fakeStack
	services  map[string]*runner.SwarmService
	routes    map[string]proxy.Route
	// failUpsert, when set, fails every route write.
	failUpsert error
	// rollBack, when set, makes Swarm roll every update back.
	rollBack bool
	// pushes says Swarm has a registry to push built images to.
	pushes bool
	seq    int
	// events is what happened, in order: "start web-2-1", "route web ->
	// [web-2-1:80]", "remove web-1-1", "step gate", ...
	events []string
	srv    *httptest.Server
}

type fakeInstance struct {
	runner.Instance
	image string
	// number is a stack instance's container number.
	number int
}

type fakeStack struct {
	record   workload.Recorded
	recorded bool
	services map[string]int
}

func newWorld(t *testing.T) *world {
	w := &world{t: t, instances: map[string]*fakeInstance{}, stacks: map[string]*fakeStack{},
		services: map[string]*runner.SwarmService{}, routes: map[string]proxy.Route{}}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		in, ok := w.instances[strings.TrimSuffix(r.Host, ":80")]
		w.mu.Unlock()
		if !ok || in.image == "bad" {
			http.Error(rw, "unhealthy", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(rw, in.image)
	}))
	t.Cleanup(w.srv.Close)
	return w
}

// engine is an Engine on the world: containers, plus stacks or services
// when asked; every step it completes is an event.
func (w *world) engine(stacks, services bool) *Engine {
	r := Runtimes{Containers: fakeContainers{w}}
	if stacks {
		r.Stacks = fakeStacks{w}
	}
	if services {
		r.Services = fakeServices{w}
	}
	e := New(r)
	e.Images = fakeImages{}
	e.Router = fakeRouter{w}
	e.LivenessWindow = 20 * time.Millisecond
	e.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, w.srv.Listener.Addr().String())
	}
	e.AfterStep = func(_ context.Context, _ string, s Step) { w.event("step %s", s) }
	return e
}

func (w *world) event(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.events = append(w.events, fmt.Sprintf(format, args...))
}

// takeEvents returns the events so far and forgets them.
func (w *world) takeEvents() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.events
	w.events = nil
	return out
}

// steps are the step events among events.
func steps(events []string) []Step {
	var out []Step
	for _, e := range events {
		if s, ok := strings.CutPrefix(e, "step "); ok {
			out = append(out, Step(s))
		}
	}
	return out
}

// names are the names of the workload's containers (a stack's included),
// sorted.
func (w *world) names(workload string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, in := range w.instances {
		if in.Recorded.Workload == workload {
			out = append(out, in.Name)
		}
	}
	slices.Sort(out)
	return out
}

// routed is where the workload's route points: its upstreams, or its
// tasks; "" when it has none.
func (w *world) routed(workload string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	r, ok := w.routes[workload]
	switch {
	case !ok:
		return ""
	case r.Tasks != "":
		return r.Tasks
	}
	return strings.Join(r.Upstreams, ",")
}

// fakeContainers is the world's ContainerRuntime.
type fakeContainers struct{ w *world }

func (c fakeContainers) List(ctx context.Context, name string) (map[string][]runner.Instance, []runner.Instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	out := map[string][]runner.Instance{}
	for _, in := range c.w.instances {
		if in.Service == "" && (name == "" || in.Recorded.Workload == name) {
			out[in.Recorded.Workload] = append(out[in.Recorded.Workload], in.Instance)
		}
	}
	for _, ins := range out {
		slices.SortFunc(ins, func(a, b runner.Instance) int { return strings.Compare(a.Name, b.Name) })
	}
	return out, nil, nil
}

func (c fakeContainers) Start(ctx context.Context, spec workload.Spec, art plugin.Artifact, gen int) (runner.Instance, error) {
	if err := ctx.Err(); err != nil {
		return runner.Instance{}, err
	}
	labels, err := spec.Labels(gen, art.Revision)
	if err != nil {
		return runner.Instance{}, err
	}
	rec, err := workload.ReadLabels(labels)
	if err != nil {
		return runner.Instance{}, err
	}
	c.w.mu.Lock()
	c.w.seq++
	name := fmt.Sprintf("%s-%d-%d", spec.Name, gen, c.w.seq)
	in := &fakeInstance{image: art.Image, Instance: runner.Instance{
		ID: name, Name: name, State: docker.ContainerRunning, Image: art.Image, ImageID: art.ImageID, Recorded: rec,
		Published: name + ":80", Upstream: name + ":80", Created: time.Unix(int64(c.w.seq), 0),
	}}
	if spec.Worker() {
		in.Published, in.Upstream = "", ""
	}
	if art.Image == "crash" {
		in.State = docker.ContainerRestarting // a crash loop
	}
	c.w.instances[name] = in
	c.w.mu.Unlock()
	c.w.event("start %s", name)
	return in.Instance, nil
}

func (c fakeContainers) get(ctx context.Context, in runner.Instance) (*fakeInstance, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	f, ok := c.w.instances[in.Name]
	if !ok {
		return nil, fmt.Errorf("container %s: %w", in.Name, docker.ErrNotFound)
	}
	return f, nil
}

func (c fakeContainers) Inspect(ctx context.Context, in runner.Instance) (runner.Health, error) {
	f, err := c.get(ctx, in)
	if err != nil {
		return runner.Health{}, err
	}
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	return runner.Health{State: f.State, Published: f.Published, Created: f.Created}, nil
}

func (c fakeContainers) Logs(ctx context.Context, in runner.Instance, n int) ([]string, error) {
	if _, err := c.get(ctx, in); err != nil {
		return nil, err
	}
	return []string{"log line of " + in.Name}, nil
}

func (c fakeContainers) Env(ctx context.Context, in runner.Instance) ([]string, error) {
	_, err := c.get(ctx, in)
	return nil, err
}

func (c fakeContainers) setState(ctx context.Context, in runner.Instance, s docker.ContainerState, event string) error {
	f, err := c.get(ctx, in)
	if err != nil {
		return err
	}
	c.w.mu.Lock()
	f.State = s
	if s != docker.ContainerRunning {
		f.Published = ""
	} else {
		f.Published = f.Name + ":80"
	}
	c.w.mu.Unlock()
	c.w.event("%s %s", event, in.Name)
	return nil
}

func (c fakeContainers) Stop(ctx context.Context, in runner.Instance) error {
	return c.setState(ctx, in, docker.ContainerExited, "stop")
}

func (c fakeContainers) Resume(ctx context.Context, in runner.Instance) error {
	return c.setState(ctx, in, docker.ContainerRunning, "resume")
}

func (c fakeContainers) Remove(ctx context.Context, in runner.Instance) error {
	if _, err := c.get(ctx, in); err != nil {
		return err
	}
	c.w.mu.Lock()
	delete(c.w.instances, in.Name)
	c.w.mu.Unlock()
	c.w.event("remove %s", in.Name)
	return nil
}

// fakeRouter is the world's proxy.
type fakeRouter struct{ w *world }

func (r fakeRouter) Upsert(ctx context.Context, route proxy.Route) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.w.failUpsert != nil {
		return r.w.failUpsert
	}
	r.w.mu.Lock()
	r.w.routes[route.Workload] = route
	r.w.mu.Unlock()
	target := fmt.Sprint(route.Upstreams)
	if route.Tasks != "" {
		target = route.Tasks
	}
	r.w.event("route %s -> %s", route.Workload, target)
	return nil
}

func (r fakeRouter) Routes(ctx context.Context) ([]proxy.Route, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	return slices.Collect(maps.Values(r.w.routes)), nil
}

func (r fakeRouter) Delete(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.w.mu.Lock()
	delete(r.w.routes, name)
	r.w.mu.Unlock()
	r.w.event("unroute %s", name)
	return nil
}

// fakeStacks runs a stack as instances of the world, one per replica of
// each service, recreating those of a service whose image changed.
type fakeStacks struct{ w *world }

func (s fakeStacks) List(ctx context.Context, name string) (map[string]runner.Stack, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	out := map[string]runner.Stack{}
	for n, st := range s.w.stacks {
		if name != "" && n != name {
			continue
		}
		rs := runner.Stack{Name: n, Record: st.record, HasRecord: st.recorded}
		if st.recorded {
			rs.Records = []string{"record-" + n}
		}
		for svc, desired := range st.services {
			rsvc := runner.Service{Name: svc, Desired: desired}
			for _, in := range s.w.instances {
				if in.Recorded.Workload == n && in.Service == svc {
					// What the record says, with the container's owner,
					// as runner.Stacks reads it.
					i := in.Instance
					i.Recorded, i.Recorded.Workload, i.Recorded.Owner = st.record, n, in.Recorded.Owner
					rsvc.Instances = append(rsvc.Instances, i)
				}
			}
			rs.Services = append(rs.Services, rsvc)
		}
		slices.SortFunc(rs.Services, func(a, b runner.Service) int { return strings.Compare(a.Name, b.Name) })
		out[n] = rs
	}
	return out, nil
}

func (s fakeStacks) Up(ctx context.Context, spec workload.Spec, art plugin.Artifact, _ func(string)) error {
	_, err := s.up(ctx, spec, art, false)
	return err
}

func (s fakeStacks) UpBeside(ctx context.Context, spec workload.Spec, art plugin.Artifact, _ func(string)) (runner.Beside, error) {
	return s.up(ctx, spec, art, true)
}

// up recreates the instances of each service whose image changed, and
// starts those missing; beside, the routed service's changed instances
// stay and its new ones start beside them (numbered after them).
func (s fakeStacks) up(ctx context.Context, spec workload.Spec, art plugin.Artifact, beside bool) (runner.Beside, error) {
	if err := ctx.Err(); err != nil {
		return runner.Beside{}, err
	}
	project, ok := art.Project.(fakeProject)
	if !ok {
		return runner.Beside{}, errors.New("no project to bring up")
	}
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	st := s.w.stacks[spec.Name]
	if st == nil {
		st = &fakeStack{}
		s.w.stacks[spec.Name] = st
	}
	st.services = project.Replicas()
	routed := stackOf(spec).Service
	var b runner.Beside
	for _, svc := range slices.Sorted(maps.Keys(st.services)) {
		image := project.imageOf(svc)
		var running []*fakeInstance
		next := 1
		for _, name := range slices.Sorted(maps.Keys(s.w.instances)) {
			in := s.w.instances[name]
			if in.Recorded.Workload != spec.Name || in.Service != svc {
				continue
			}
			next = max(next, in.number+1)
			switch {
			case beside && svc == routed && in.Running():
				running = append(running, in)
			case in.image != image:
				delete(s.w.instances, name)
				s.w.events = append(s.w.events, "remove "+name)
			}
		}
		if beside && svc == routed && slices.ContainsFunc(running, func(in *fakeInstance) bool { return in.image != image }) {
			for _, in := range running {
				b.Old = append(b.Old, in.Instance)
			}
			b.New = append(b.New, s.start(spec, svc, image, next))
			b.Healthchecked = project.healthchecked
			if project.healthchecked && image == "bad" {
				// compose's wait for the healthcheck fails the Up.
				return b, fmt.Errorf("container %s is unhealthy", b.New[0].Name)
			}
			continue
		}
		if !slices.ContainsFunc(slices.Collect(maps.Values(s.w.instances)), func(in *fakeInstance) bool {
			return in.Recorded.Workload == spec.Name && in.Service == svc
		}) {
			s.start(spec, svc, image, next)
		}
	}
	return b, nil
}

// start starts instance number n of a stack's service; w.mu is held.
func (s fakeStacks) start(spec workload.Spec, svc, image string, n int) runner.Instance {
	s.w.seq++
	name := fmt.Sprintf("%s-%s-%d", spec.Name, svc, n)
	in := &fakeInstance{image: image, number: n, Instance: runner.Instance{ID: name, Name: name, State: docker.ContainerRunning,
		Recorded: workload.Recorded{Workload: spec.Name, Owner: spec.Owner}, Service: svc, Created: time.Unix(int64(s.w.seq), 0)}}
	if svc == stackOf(spec).Service {
		in.Published, in.Upstream = name+":80", name+":80"
		in.Recorded.Settings.Port = stackOf(spec).Port
	}
	s.w.instances[name] = in
	s.w.events = append(s.w.events, "start "+name)
	return in.Instance
}

func (s fakeStacks) Routed(ctx context.Context, spec workload.Spec) ([]runner.Instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	var out []runner.Instance
	for _, name := range slices.Sorted(maps.Keys(s.w.instances)) {
		if in := s.w.instances[name]; in.Recorded.Workload == spec.Name && in.Service == stackOf(spec).Service && in.Running() {
			out = append(out, in.Instance)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("workload %q: service %q of the stack runs no container", spec.Name, stackOf(spec).Service)
	}
	return out, nil
}

func (s fakeStacks) Retire(ctx context.Context, spec workload.Spec, ins []runner.Instance) error {
	for _, in := range ins {
		if err := ctx.Err(); err != nil {
			return err
		}
		s.w.mu.Lock()
		delete(s.w.instances, in.Name)
		s.w.mu.Unlock()
		s.w.event("retire %s", in.Name)
	}
	return nil
}

func (s fakeStacks) Record(ctx context.Context, spec workload.Spec, art plugin.Artifact, gen int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	labels, err := spec.Labels(gen, art.Revision)
	if err != nil {
		return err
	}
	rec, err := workload.ReadLabels(labels)
	if err != nil {
		return err
	}
	rec.Settings.Service, rec.Settings.Port = stackOf(spec).Service, stackOf(spec).Port
	s.w.mu.Lock()
	st := s.w.stacks[spec.Name]
	st.record, st.recorded = rec, true
	s.w.mu.Unlock()
	s.w.event("record %s %d", spec.Name, gen)
	return nil
}

func (s fakeStacks) Down(ctx context.Context, spec workload.Spec) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.w.mu.Lock()
	delete(s.w.stacks, spec.Name)
	for name, in := range s.w.instances {
		if in.Recorded.Workload == spec.Name && in.Service != "" {
			delete(s.w.instances, name)
		}
	}
	s.w.mu.Unlock()
	s.w.event("down %s", spec.Name)
	return nil
}

// fakeServices is Swarm: an update either goes through or, with rollBack,
// is rolled back, the previous version serving.
type fakeServices struct{ w *world }

func (s fakeServices) Image(ctx context.Context, art plugin.Artifact) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return art.Image + "@sha256:0", nil
}

func (s fakeServices) PushesBuilt() bool { return s.w.pushes }

func (s fakeServices) Deploy(ctx context.Context, spec workload.Spec, _ plugin.Strategy, image, revision string, gen int, _ time.Duration) (runner.SwarmService, error) {
	if err := ctx.Err(); err != nil {
		return runner.SwarmService{}, err
	}
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	prev := s.w.services[spec.Name]
	if s.w.rollBack {
		s.w.events = append(s.w.events, "roll back "+spec.Name)
		if prev == nil {
			return runner.SwarmService{}, &runner.RollbackError{Service: spec.Name, Message: "update rolled back", Task: "task 1: unhealthy"}
		}
		prev.Update = runner.UpdateRollbackCompleted
		return *prev, &runner.RollbackError{Service: spec.Name, Message: "update rolled back", Task: "task 1: unhealthy"}
	}
	labels, err := spec.Labels(gen, revision)
	if err != nil {
		return runner.SwarmService{}, err
	}
	rec, err := workload.ReadLabels(labels)
	if err != nil {
		return runner.SwarmService{}, err
	}
	svc := &runner.SwarmService{ID: "svc-" + spec.Name, Name: spec.Name, Recorded: rec, Image: image,
		Desired: spec.ReplicaCount(), Running: spec.ReplicaCount(), Update: runner.UpdateCompleted}
	s.w.services[spec.Name] = svc
	s.w.events = append(s.w.events, fmt.Sprintf("update %s %s", spec.Name, image))
	return *svc, nil
}

func (s fakeServices) List(ctx context.Context, name string) (map[string]runner.SwarmService, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	out := map[string]runner.SwarmService{}
	for n, svc := range s.w.services {
		if name == "" || n == name {
			out[n] = *svc
		}
	}
	return out, nil
}

func (s fakeServices) Remove(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.w.mu.Lock()
	delete(s.w.services, name)
	s.w.mu.Unlock()
	s.w.event("remove service %s", name)
	return nil
}

// fakeImages says every image declares a HEALTHCHECK.
type fakeImages struct{ plugin.ImageHost }

func (fakeImages) InspectImage(context.Context, string) (docker.Image, error) {
	return docker.Image{Healthcheck: true}, nil
}

// fakeSource is an image source whose Produce touches nothing: ref "bad"
// makes instances that fail their health check.
type fakeSource struct {
	Ref         string `json:"ref"`
	Healthcheck string `json:"healthcheck,omitempty"`
	// NoPort makes a worker: no port, nothing routed to it.
	NoPort bool `json:"no_port,omitempty"`
}

func (s *fakeSource) Kind() string    { return "fake" }
func (s *fakeSource) Validate() error { return nil }
func (s *fakeSource) DefaultStrategy(routed bool) plugin.Strategy {
	if routed {
		return plugin.StrategyBlueGreen
	}
	return plugin.StrategyRecreate
}
func (s *fakeSource) Container() plugin.Container {
	if s.NoPort {
		return plugin.Container{Healthcheck: s.Healthcheck}
	}
	return plugin.Container{Port: 80, Healthcheck: s.Healthcheck}
}
func (s *fakeSource) Fingerprint() string { return "fake|" + s.Ref }
func (s *fakeSource) Public() any         { return s }
func (s *fakeSource) Produce(ctx context.Context, _ plugin.ProduceEnv) (plugin.Artifact, error) {
	if err := ctx.Err(); err != nil {
		return plugin.Artifact{}, err
	}
	return plugin.Artifact{Image: s.Ref, ImageID: "id-" + s.Ref}, nil
}

// fakeStackSource is a stack of two services, web (routed) running the
// ref and db running DB ("db1" by default).
type fakeStackSource struct {
	fakeSource
	DB string `json:"db,omitempty"`
	// Healthchecked gives web a compose healthcheck: the Up waits for it.
	Healthchecked bool `json:"healthchecked,omitempty"`
}

func (s *fakeStackSource) Kind() string { return "fakestack" }
func (s *fakeStackSource) DefaultStrategy(routed bool) plugin.Strategy {
	if routed {
		return plugin.StrategyStartFirst
	}
	return plugin.StrategyRecreate
}
func (s *fakeStackSource) Stack() plugin.StackConfig {
	return plugin.StackConfig{Service: "web", Port: 80}
}
func (s *fakeStackSource) Fingerprint() string { return "fakestack|" + s.Ref + "|" + s.DB }
func (s *fakeStackSource) Public() any         { return s }
func (s *fakeStackSource) RefuseStrategy(st plugin.Strategy) error {
	if st == plugin.StrategyBlueGreen {
		return errors.New("a stack is compose's")
	}
	return nil
}
func (s *fakeStackSource) Produce(ctx context.Context, _ plugin.ProduceEnv) (plugin.Artifact, error) {
	if err := ctx.Err(); err != nil {
		return plugin.Artifact{}, err
	}
	return plugin.Artifact{Project: fakeProject{image: s.Ref, db: cmp.Or(s.DB, "db1"), healthchecked: s.Healthchecked}}, nil
}

// fakeProject is a stack's project: web and db, one replica each.
type fakeProject struct {
	image, db     string
	healthchecked bool
}

func (fakeProject) Replicas() map[string]int { return map[string]int{"web": 1, "db": 1} }

// imageOf is the image service runs.
func (p fakeProject) imageOf(service string) string {
	if service == "db" {
		return p.db
	}
	return p.image
}

// fakeRelease is a release command in the world: "fail" exits 3 after
// printing its environment's SECRET, "hang" runs until the context ends,
// anything else exits 0.
func (w *world) fakeRelease(ctx context.Context, spec workload.Spec, what string, output func(docker.LogLine)) (runner.ReleaseRun, error) {
	if err := ctx.Err(); err != nil {
		return runner.ReleaseRun{}, err
	}
	w.event("%s %s", what, strings.Join(spec.Release.Command, " "))
	r := runner.ReleaseRun{Name: spec.Name + "-release"}
	switch spec.Release.Command[0] {
	case "fail":
		for _, text := range []string{"migrating", "SECRET=" + spec.SecretEnv["SECRET"], "boom"} {
			l := docker.LogLine{Stream: "stdout", Text: text}
			r.Tail = append(r.Tail, l)
			output(l)
		}
		r.ExitCode = 3
	case "hang":
		<-ctx.Done()
		return r, ctx.Err()
	}
	return r, nil
}

func (c fakeContainers) Release(ctx context.Context, spec workload.Spec, art plugin.Artifact, gen int, output func(docker.LogLine)) (runner.ReleaseRun, error) {
	return c.w.fakeRelease(ctx, spec, fmt.Sprintf("release %s-%d of %s:", spec.Name, gen, art.Image), output)
}

func (s fakeServices) Release(ctx context.Context, spec workload.Spec, image string, gen int, output func(docker.LogLine)) (runner.ReleaseRun, error) {
	return s.w.fakeRelease(ctx, spec, fmt.Sprintf("job %s-%d of %s:", spec.Name, gen, image), output)
}

func (c fakeContainers) LogLines(ctx context.Context, in runner.Instance, _ docker.LogQuery) ([]docker.LogLine, error) {
	if _, err := c.get(ctx, in); err != nil {
		return nil, err
	}
	return []docker.LogLine{{Stream: "stdout", Time: in.Created, Text: "log line of " + in.Name}}, nil
}

func (s fakeServices) LogLines(ctx context.Context, svc runner.SwarmService, _ docker.LogQuery) (map[string][]docker.LogLine, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return map[string][]docker.LogLine{svc.Name + ".1": {{Stream: "stdout", Text: "log line of " + svc.Name}}}, nil
}

func (c fakeContainers) RemoveReleases(ctx context.Context, _ workload.Spec) error { return ctx.Err() }

func (s fakeServices) RemoveReleases(ctx context.Context, _ workload.Spec) error { return ctx.Err() }
