package runner

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
)

// Services runs workloads as Swarm services, one service per workload,
// named after it, on an attachable overlay network: Swarm schedules the
// tasks over the nodes, restarts and reschedules them, and updates them
// start-first, one at a time, gated on the image's health check, rolling
// back by itself when a new task fails. The proxy reaches the tasks
// through tasks.<name> DNS on that network (endpoint mode dnsrr: no VIP,
// which needs IPVS).
type Services struct {
	Docker *docker.Client
	// Network is the overlay network the services and the proxy share.
	Network string
	// Registry is the repository prefix ("registry.example:5000/team")
	// that images built on the manager are pushed to, since the other
	// nodes pull a service's image; "": built images cannot run.
	Registry string
	// Monitor is how long Swarm watches each new task before the update
	// moves on (a task that fails meanwhile rolls the update back); 0:
	// DefaultMonitor.
	Monitor time.Duration
}

// DefaultMonitor is Services.Monitor's default.
const DefaultMonitor = 5 * time.Second

// SwarmService is a workload's Swarm service as the manager reports it.
type SwarmService struct {
	ID, Name string
	Recorded workload.Recorded
	// Image is the reference the service runs (by digest).
	Image string
	// Env is the tasks' environment ("KEY=value"), for import: secrets.
	Env []string
	// Desired is the replica count asked for; Running counts the tasks
	// that run the service's current spec (its image and the generation
	// on its task template); Nodes are the nodes they run on.
	Desired, Running int
	Nodes            []string
	Update           UpdateState
	UpdateMessage    string
	// UpdateStarted and UpdateCompleted are Swarm's times of the last
	// update (zero until it ends): Swarm's own rollout time.
	UpdateStarted, UpdateCompleted time.Time
	Created                        time.Time
	// spec is what the service's tasks should run now.
	spec release
}

// Tasks is the DNS name whose A records are the service's running tasks.
func (s SwarmService) Tasks() string { return "tasks." + s.Name }

func (s *Services) monitor() time.Duration {
	if s.Monitor > 0 {
		return s.Monitor
	}
	return DefaultMonitor
}

// Image is the reference a service of art runs: art's image pinned to the
// digest its registry serves, so that every node runs the same bytes. An
// image built on the manager is pushed to Registry first (Pushed): the
// other nodes cannot run it from the manager.
func (s *Services) Image(ctx context.Context, art plugin.Artifact) (string, error) {
	ref := art.Image
	if art.Built {
		ref = s.Pushed(art.Image)
		if ref == "" {
			return "", fmt.Errorf("image %s was built on the manager and the provider has no swarm_registry to push it to: the other nodes could not pull it", art.Image)
		}
		if err := s.Docker.PushImage(ctx, art.Image, ref, nil); err != nil {
			return "", err
		}
		pinned, err := s.Docker.ImageDigestRef(ctx, ref)
		if err != nil {
			return "", err
		}
		// The registry's tag did its work; without it the image is the
		// source's alone again, which prune recognises by its own tag.
		if err := s.Docker.RemoveImage(ctx, ref); err != nil {
			return "", fmt.Errorf("untag %s after the push: %w", ref, err)
		}
		return pinned, nil
	}
	return s.Docker.ImageDigestRef(ctx, ref)
}

// Pushed is the reference in Registry that the built image tag
// ("tinyforge/<workload>:<commit>-<inputs>") is pushed as; "" without a
// Registry.
func (s *Services) Pushed(tag string) string {
	if s.Registry == "" {
		return ""
	}
	return strings.TrimSuffix(s.Registry, "/") + "/" + strings.TrimPrefix(tag, "tinyforge/")
}

// PushesBuilt reports whether images built on the manager can run: they
// are pushed to Registry.
func (s *Services) PushesBuilt() bool { return s.Registry != "" }

// Deploy creates the workload's service, or updates it to spec and image
// (an Image reference), generation gen, and waits until Swarm is done with
// this update: every task runs the new spec (the generation on the task
// template tells), or Swarm rolled the update back, which fails the deploy
// with the failing task's error while the old tasks serve. A new service
// whose tasks never run is removed again.
func (s *Services) Deploy(ctx context.Context, spec workload.Spec, strategy plugin.Strategy, image, revision string, gen int, timeout time.Duration) (SwarmService, error) {
	labels, err := spec.Labels(gen, revision)
	if err != nil {
		return SwarmService{}, err
	}
	netID, err := s.Docker.EnsureOverlayNetwork(ctx, s.Network, map[string]string{workload.LabelManaged: "true"})
	if err != nil {
		return SwarmService{}, err
	}
	_, existed, err := s.Docker.InspectService(ctx, spec.Name)
	if err != nil {
		return SwarmService{}, err
	}
	// The user's labels first: the provider's win. The generation on the
	// task template makes every deploy a rolling update of the tasks, and
	// marks the tasks it started.
	taskLabels := maps.Clone(spec.Run.Labels)
	if taskLabels == nil {
		taskLabels = map[string]string{}
	}
	taskLabels[workload.LabelTaskGeneration] = strconv.Itoa(gen)
	ss := docker.ServiceSpec{
		Name: spec.Name, Image: image, Env: spec.Environ(), Labels: labels, TaskLabels: taskLabels, Network: netID,
		Replicas:        uint64(spec.ReplicaCount()),
		Constraints:     spec.Run.Placement,
		MemoryBytes:     int64(spec.Run.MemoryMiB) << 20,
		NanoCPUs:        int64(spec.Run.CPUs * 1e9),
		Restart:         swarmRestart(spec.Run.RestartPolicy()),
		Mounts:          mounts(spec),
		Entrypoint:      spec.Run.Entrypoint,
		Command:         spec.Run.Command,
		User:            spec.Run.User,
		WorkingDir:      spec.Run.WorkingDir,
		StopSignal:      spec.Run.StopSignal,
		Monitor:         s.monitor(),
		StopGracePeriod: spec.Run.Stop(),
		// Blue-green: the new task starts, passes the image's health
		// check, and only then the old one stops. Recreate: stop first.
		StartFirst: strategy == plugin.StrategyBlueGreen,
	}
	if _, err := s.Docker.UpsertService(ctx, ss); err != nil {
		return SwarmService{}, err
	}
	svc, err := s.wait(ctx, spec.Name, releaseOf(image, gen), timeout)
	if err != nil && !existed {
		cctx, cancel := CleanupContext(ctx)
		defer cancel()
		_ = Retry(cctx, func(ctx context.Context) error { return s.Docker.RemoveService(ctx, spec.Name) })
	}
	return svc, err
}

// swarmRestart is Swarm's restart condition for a restart policy.
func swarmRestart(policy string) string {
	switch policy {
	case "no":
		return "none"
	case "on-failure":
		return "on-failure"
	default: // "unless-stopped", "always": a service is stopped by scaling it
		return "any"
	}
}

// observe reads one service and its tasks; a missing service is an empty
// SwarmService.
func (s *Services) observe(ctx context.Context, name string) (SwarmService, []docker.Task, error) {
	d, found, err := s.Docker.InspectService(ctx, name)
	if err != nil || !found {
		return SwarmService{}, nil, err
	}
	tasks, err := s.Docker.ServiceTasks(ctx, d.ID)
	if err != nil {
		return SwarmService{}, nil, err
	}
	ready, err := s.Docker.ReadyNodes(ctx)
	if err != nil {
		return SwarmService{}, nil, err
	}
	return serviceOf(d, tasks, ready), tasks, nil
}

// serviceOf sums up a service: its running tasks are those of its current
// spec on a node the manager sees ready (a node that went away keeps its
// last word, "running", until it comes back).
func serviceOf(d docker.Service, tasks []docker.Task, ready map[string]bool) SwarmService {
	rec, _ := workload.ReadLabels(d.Labels)
	out := SwarmService{ID: d.ID, Name: d.Name, Recorded: rec, Image: d.Image, Env: d.Env, Desired: int(d.Replicas),
		Update: UpdateState(d.Update), UpdateMessage: d.UpdateMessage, UpdateStarted: d.UpdateStarted,
		UpdateCompleted: d.UpdateCompleted, Created: d.Created, spec: specRelease(d)}
	for _, t := range tasks {
		if t.Running() && out.spec.runs(t) && ready[t.NodeID] {
			out.Running++
			out.Nodes = append(out.Nodes, t.NodeID)
		}
	}
	return out
}

// List reads the services of one workload (name) or of every workload
// (name ""), by workload name.
func (s *Services) List(ctx context.Context, name string) (map[string]SwarmService, error) {
	list, err := s.Docker.Services(ctx, workload.LabelWorkload, name)
	if err != nil {
		return nil, err
	}
	out := map[string]SwarmService{}
	if len(list) == 0 {
		return out, nil
	}
	tasks, err := s.Docker.Tasks(ctx)
	if err != nil {
		return nil, err
	}
	ready, err := s.Docker.ReadyNodes(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range list {
		svc := serviceOf(d, tasks[d.ID], ready)
		out[svc.Recorded.Workload] = svc
	}
	return out, nil
}

// Remove removes the workload's service: Swarm stops its tasks on every
// node. It waits (up to a minute) until the manager lists no task of it and
// its own engine holds no container of it (task history included), so
// that the service's images on the manager can go.
func (s *Services) Remove(ctx context.Context, name string) error {
	d, found, err := s.Docker.InspectService(ctx, name)
	if err != nil || !found {
		return err
	}
	if err := s.Docker.RemoveService(ctx, name); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		tasks, err := s.Docker.ServiceTasks(ctx, d.ID)
		if err == nil {
			var ready map[string]bool
			if ready, err = s.Docker.ReadyNodes(ctx); err == nil {
				// A node that is down stops nothing now; its tasks end
				// when it comes back (its engine removes them) or is
				// removed from the swarm.
				tasks = slices.DeleteFunc(tasks, func(t docker.Task) bool { return !ready[t.NodeID] })
			}
		}
		if err == nil && len(tasks) == 0 {
			var left []docker.Container
			if left, err = s.Docker.ListContainers(ctx, "com.docker.swarm.service.id="+d.ID); err == nil && len(left) == 0 {
				return nil
			}
			for _, c := range left {
				tasks = append(tasks, docker.Task{ID: c.Name, State: "container " + string(c.State) + " on the manager"})
			}
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("service %s: removed, but its tasks cannot be listed: %w", name, err)
			}
			return errors.New("service " + name + ": removed, but its tasks are still listed after a minute: " + strings.Join(taskStates(tasks), ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
