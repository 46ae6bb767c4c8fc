package docker

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/pkg/stdcopy"
)

// SwarmManager reports whether the engine is a manager of a Swarm: one that
// can create services.
func (c *Client) SwarmManager(ctx context.Context) (bool, error) {
	info, err := c.api.Info(ctx)
	if err != nil {
		return false, fmt.Errorf("engine info: %w", classify(err))
	}
	return info.Swarm.ControlAvailable, nil
}

// EnsureOverlayNetwork returns the ID of the attachable overlay network
// name, creating it when it is missing. Attachable, so that a proxy
// container started by hand (docker run --network) can join it and reach
// the tasks by DNS. An existing network of another driver is an error.
func (c *Client) EnsureOverlayNetwork(ctx context.Context, name string, labels map[string]string) (string, error) {
	c.networkMu.Lock()
	defer c.networkMu.Unlock()
	existing, err := c.api.NetworkInspect(ctx, name, network.InspectOptions{})
	switch {
	case err == nil:
		if existing.Driver != "overlay" {
			return "", fmt.Errorf("network %s is a %s network; Swarm services need an overlay network (remove it, or set another network)", name, existing.Driver)
		}
		return existing.ID, nil
	case cerrdefs.IsNotFound(err):
		r, err := c.api.NetworkCreate(ctx, name, network.CreateOptions{Driver: "overlay", Attachable: true, Labels: labels})
		if err != nil {
			return "", fmt.Errorf("create overlay network %s: %w", name, err)
		}
		return r.ID, nil
	default:
		return "", fmt.Errorf("inspect network %s: %w", name, err)
	}
}

// ServiceSpec is what a Swarm service runs.
type ServiceSpec struct {
	Name  string
	Image string // a reference by digest, so that every node runs the same bytes
	Env   []string
	// Labels are the service's; TaskLabels its task containers' (the
	// user's labels only: the workload's labels on a task container would
	// make it look like a container the provider runs by itself).
	Labels     map[string]string
	TaskLabels map[string]string
	Network    string // the overlay network's ID
	Replicas   uint64
	// Constraints are placement constraints ("node.role==worker").
	Constraints []string
	MemoryBytes int64
	NanoCPUs    int64
	// Restart is the restart condition: "none", "on-failure" or "any".
	Restart    string
	Mounts     []Mount
	Entrypoint []string
	Command    []string
	User       string
	WorkingDir string
	StopSignal string
	// Monitor is how long Swarm watches each updated task before it counts
	// the update of that task a success; a task that fails or turns
	// unhealthy meanwhile rolls the whole update back.
	Monitor         time.Duration
	StopGracePeriod time.Duration
	// StartFirst starts a new task before it stops the old one (a
	// zero-downtime update); else the old one stops first.
	StartFirst bool
}

// Service is a Swarm service as the manager reports it.
type Service struct {
	ID     string
	Name   string
	Labels map[string]string
	Image  string
	// Env is the tasks' environment ("KEY=value"): secrets, never logged.
	Env     []string
	Version uint64
	// Replicas is the desired number of tasks.
	Replicas uint64
	// TaskLabels are the task template's container labels: every task
	// started from the current spec carries them.
	TaskLabels map[string]string
	// Update is the state of the last update ("" when there was none):
	// updating, paused, completed, rollback_started, rollback_paused,
	// rollback_completed; UpdateMessage is Swarm's word on it, and
	// UpdateStarted and UpdateCompleted (zero until it ends) its times.
	Update                         string
	UpdateMessage                  string
	UpdateStarted, UpdateCompleted time.Time
	Created                        time.Time
}

// Task is one task of a service.
type Task struct {
	ID           string
	NodeID       string
	Image        string
	State        string // new ... running, complete, failed, shutdown, rejected
	DesiredState string
	// Labels are the container labels of the spec the task was started
	// from.
	Labels map[string]string
	// Err is the task's error, as Swarm reports it ("task: non-zero exit (1)").
	Err       string
	Message   string
	Container string
	ExitCode  int
	Updated   time.Time
}

// Running reports whether the task runs and is meant to.
func (t Task) Running() bool { return t.State == "running" && t.DesiredState == "running" }

// UpsertService creates the service, or updates it to spec when one of its
// name exists. Updates start the new task first and stop the old one once
// the new one is running (healthy, when the image has a health check), one
// task at a time, and roll back when a task fails within spec.Monitor.
// The registry login of the image (as pulls use it) goes with the request,
// so that every node can pull the image (docker's --with-registry-auth).
func (c *Client) UpsertService(ctx context.Context, spec ServiceSpec) (string, error) {
	s := c.swarmSpec(spec)
	var auth string
	login, found, err := c.registries.For(spec.Image)
	if err != nil {
		return "", fmt.Errorf("service %s: %w", spec.Name, err)
	}
	if found {
		if auth, err = encodeLogin(login); err != nil {
			return "", fmt.Errorf("service %s: encode the login of registry %s: %w", spec.Name, login.Address, err)
		}
	}
	cur, _, err := c.api.ServiceInspectWithRaw(ctx, spec.Name, swarm.ServiceInspectOptions{})
	switch {
	case cerrdefs.IsNotFound(err):
		r, err := c.api.ServiceCreate(ctx, s, swarm.ServiceCreateOptions{EncodedRegistryAuth: auth})
		if err != nil {
			return "", fmt.Errorf("create service %s: %w", spec.Name, err)
		}
		return r.ID, nil
	case err != nil:
		return "", fmt.Errorf("inspect service %s: %w", spec.Name, err)
	}
	s.TaskTemplate.ForceUpdate = cur.Spec.TaskTemplate.ForceUpdate
	if u := cur.UpdateStatus; u != nil && strings.HasPrefix(string(u.State), "rollback") || u != nil && u.State == swarm.UpdateStatePaused {
		// After a rollback or a pause, an update to the same spec would
		// change nothing and leave that state: roll the tasks anew.
		s.TaskTemplate.ForceUpdate++
	}
	if _, err := c.api.ServiceUpdate(ctx, cur.ID, cur.Version, s, swarm.ServiceUpdateOptions{EncodedRegistryAuth: auth}); err != nil {
		return "", fmt.Errorf("update service %s: %w", spec.Name, err)
	}
	return cur.ID, nil
}

func (c *Client) swarmSpec(spec ServiceSpec) swarm.ServiceSpec {
	replicas := spec.Replicas
	restart := swarm.RestartPolicyCondition(spec.Restart)
	if restart == "" {
		restart = swarm.RestartPolicyConditionAny
	}
	grace := spec.StopGracePeriod
	var mounts []mount.Mount
	for _, m := range spec.Mounts {
		mounts = append(mounts, mount.Mount{Type: mount.Type(m.Type), Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
	}
	order := swarm.UpdateOrderStopFirst
	if spec.StartFirst {
		order = swarm.UpdateOrderStartFirst
	}
	update := &swarm.UpdateConfig{
		Parallelism:     1,
		Order:           order,
		FailureAction:   swarm.UpdateFailureActionRollback,
		Monitor:         spec.Monitor,
		MaxFailureRatio: 0,
	}
	rollback := &swarm.UpdateConfig{Parallelism: 1, Order: order, FailureAction: swarm.UpdateFailureActionPause, Monitor: spec.Monitor}
	s := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: spec.Name, Labels: spec.Labels},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{
				Image:           spec.Image,
				Env:             spec.Env,
				Labels:          spec.TaskLabels,
				Mounts:          mounts,
				Command:         spec.Entrypoint,
				Args:            spec.Command,
				User:            spec.User,
				Dir:             spec.WorkingDir,
				StopSignal:      spec.StopSignal,
				StopGracePeriod: &grace,
			},
			Resources:     &swarm.ResourceRequirements{Limits: &swarm.Limit{MemoryBytes: spec.MemoryBytes, NanoCPUs: spec.NanoCPUs}},
			RestartPolicy: &swarm.RestartPolicy{Condition: restart},
			Placement:     &swarm.Placement{Constraints: spec.Constraints, Preferences: []swarm.PlacementPreference{{Spread: &swarm.SpreadOver{SpreadDescriptor: "node.id"}}}},
			Networks:      []swarm.NetworkAttachmentConfig{{Target: spec.Network}},
		},
		Mode:           swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
		UpdateConfig:   update,
		RollbackConfig: rollback,
		// No VIP: the proxy reaches the tasks through tasks.<name> DNS, which
		// works without IPVS and follows every reschedule.
		EndpointSpec: &swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR},
	}
	return s
}

// Services lists the services whose labels have key=value (any value when
// value is "").
func (c *Client) Services(ctx context.Context, key, value string) ([]Service, error) {
	label := key
	if value != "" {
		label += "=" + value
	}
	list, err := c.api.ServiceList(ctx, swarm.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("label", label))})
	if err != nil {
		return nil, fmt.Errorf("list services: %w", classify(err))
	}
	out := make([]Service, 0, len(list))
	for _, s := range list {
		out = append(out, service(s))
	}
	slices.SortFunc(out, func(a, b Service) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// InspectService reads one service by name or ID; found is false when
// there is none.
func (c *Client) InspectService(ctx context.Context, name string) (svc Service, found bool, err error) {
	s, _, err := c.api.ServiceInspectWithRaw(ctx, name, swarm.ServiceInspectOptions{})
	switch {
	case cerrdefs.IsNotFound(err):
		return Service{}, false, nil
	case err != nil:
		return Service{}, false, fmt.Errorf("inspect service %s: %w", name, classify(err))
	}
	return service(s), true, nil
}

func service(s swarm.Service) Service {
	out := Service{ID: s.ID, Name: s.Spec.Name, Labels: s.Spec.Labels, Version: s.Version.Index, Created: s.CreatedAt}
	if cs := s.Spec.TaskTemplate.ContainerSpec; cs != nil {
		out.Image, out.Env, out.TaskLabels = cs.Image, cs.Env, cs.Labels
	}
	if r := s.Spec.Mode.Replicated; r != nil && r.Replicas != nil {
		out.Replicas = *r.Replicas
	}
	if u := s.UpdateStatus; u != nil {
		out.Update, out.UpdateMessage = string(u.State), u.Message
		if u.StartedAt != nil {
			out.UpdateStarted = *u.StartedAt
		}
		if u.CompletedAt != nil {
			out.UpdateCompleted = *u.CompletedAt
		}
	}
	return out
}

// ServiceTasks lists the tasks of a service, newest first. The service may
// be gone: its tasks are then those the manager still lists while the
// nodes stop them.
func (c *Client) ServiceTasks(ctx context.Context, serviceID string) ([]Task, error) {
	all, err := c.Tasks(ctx)
	if err != nil {
		return nil, fmt.Errorf("tasks of service %s: %w", serviceID, err)
	}
	return all[serviceID], nil
}

// Tasks lists every task of the swarm in one call, by service ID, newest
// first. (Not the "service" filter: it resolves the service, and fails
// once the service is removed.)
func (c *Client) Tasks(ctx context.Context) (map[string][]Task, error) {
	list, err := c.api.TaskList(ctx, swarm.TaskListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", classify(err))
	}
	out := map[string][]Task{}
	for _, t := range list {
		task := Task{ID: t.ID, NodeID: t.NodeID, State: string(t.Status.State), DesiredState: string(t.DesiredState),
			Err: t.Status.Err, Message: t.Status.Message, Updated: t.Status.Timestamp}
		if cs := t.Spec.ContainerSpec; cs != nil {
			task.Image, task.Labels = cs.Image, cs.Labels
		}
		if st := t.Status.ContainerStatus; st != nil {
			task.Container, task.ExitCode = st.ContainerID, st.ExitCode
		}
		out[t.ServiceID] = append(out[t.ServiceID], task)
	}
	for _, tasks := range out {
		slices.SortFunc(tasks, func(a, b Task) int { return b.Updated.Compare(a.Updated) })
	}
	return out, nil
}

// RemoveService removes a service and so its tasks on every node; a
// missing one is no error.
func (c *Client) RemoveService(ctx context.Context, name string) error {
	err := c.api.ServiceRemove(ctx, name)
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove service %s: %w", name, classify(err))
	}
	return nil
}

// ImageDigestRef is ref pinned to the digest its registry serves now,
// asked of the registry through the engine with ref's login: every node
// then runs the same bytes. The tag stays in the reference
// (<repository>:<tag>@sha256:..., "latest" when ref names none), as the
// docker CLI writes it, so that `docker service ls` shows what runs; a ref
// that already names a digest is returned as it is.
func (c *Client) ImageDigestRef(ctx context.Context, ref string) (string, error) {
	var auth string
	login, found, err := c.registries.For(ref)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", ref, err)
	}
	if found {
		if auth, err = encodeLogin(login); err != nil {
			return "", fmt.Errorf("resolve %s: encode the login of registry %s: %w", ref, login.Address, err)
		}
	}
	d, err := c.api.DistributionInspect(ctx, ref, auth)
	if err != nil {
		return "", fmt.Errorf("resolve %s to a digest at its registry (Swarm services run images from a registry every node reaches): %w", ref, err)
	}
	return pinDigest(ref, string(d.Descriptor.Digest))
}

// pinDigest is ref with the digest dgst ("sha256:..."):
// <repository>:<tag>@<digest>, in the short form (no docker.io/library/).
func pinDigest(ref, dgst string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", ref, err)
	}
	if _, pinned := named.(reference.Canonical); pinned {
		return ref, nil
	}
	withDigest, err := reference.ParseNormalizedNamed(reference.FamiliarString(reference.TagNameOnly(named)) + "@" + dgst)
	if err != nil {
		return "", fmt.Errorf("image %q at digest %q: %w", ref, dgst, err)
	}
	return reference.FamiliarString(withDigest), nil
}

// TaskLogs returns the last n lines of a task's output, wherever it ran,
// as the manager collects them.
func (c *Client) TaskLogs(ctx context.Context, taskID string, n int) ([]string, error) {
	rc, err := c.api.TaskLogs(ctx, taskID, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(n)})
	if err != nil {
		return nil, fmt.Errorf("logs of task %s: %w", taskID, classify(err))
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := stdcopy.StdCopy(&buf, &buf, rc); err != nil {
		return nil, fmt.Errorf("logs of task %s: %w", taskID, err)
	}
	text := strings.TrimSpace(buf.String())
	if text == "" {
		return nil, nil
	}
	return strings.Split(text, "\n"), nil
}

// ReadyNodes are the IDs of the swarm's nodes that the manager sees ready:
// a task on any other node is not known to run, whatever its last state.
func (c *Client) ReadyNodes(ctx context.Context) (map[string]bool, error) {
	nodes, err := c.api.NodeList(ctx, swarm.NodeListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list swarm nodes: %w", classify(err))
	}
	out := map[string]bool{}
	for _, n := range nodes {
		if n.Status.State == swarm.NodeStateReady {
			out[n.ID] = true
		}
	}
	return out, nil
}
