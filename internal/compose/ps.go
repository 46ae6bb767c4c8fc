package compose

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/compose/v5/pkg/api"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
)

// ServiceStatus is one service as the engine sees it.
type ServiceStatus struct {
	Name string
	// Declared reports whether the project passed to Ps declares the
	// service; always true when Ps had no project.
	Declared bool
	// Desired is the number of containers the project asks for; 0 when Ps
	// had no project (then nothing can be missing either).
	Desired    int
	Containers []Container // by container number
}

// Container is one container of a service.
type Container struct {
	ID       string
	Name     string // the container name; on the project network the service name is a DNS alias too
	Number   int    // com.docker.compose.container-number
	State    docker.ContainerState
	Health   docker.Health
	ExitCode int // when exited
	// HealthOutput is the output of the last health check, when unhealthy.
	HealthOutput string
	Ports        []PublishedPort
	Networks     []string // network names
	// ConfigHash is compose's com.docker.compose.config-hash label: the hash
	// of the service configuration the container was created from.
	ConfigHash string
	Labels     map[string]string
}

// PublishedPort is a container port published on the host.
type PublishedPort struct {
	Target   int
	Protocol string
	HostIP   string
	HostPort int
}

// State sums the service up; see docker.ServiceState.
func (s ServiceStatus) State() docker.ServiceState {
	if !s.Declared {
		return docker.ServiceOrphan
	}
	if len(s.Containers) == 0 {
		return docker.ServiceMissing
	}
	running, starting := 0, false
	for _, c := range s.Containers {
		if c.State != docker.ContainerRunning {
			continue
		}
		switch c.Health {
		case docker.HealthUnhealthy:
			return docker.ServiceUnhealthy
		case docker.HealthStarting:
			starting = true
		}
		running++
	}
	if running == 0 || running < s.Desired {
		return docker.ServiceStopped
	}
	if starting {
		return docker.ServiceStarting
	}
	return docker.ServiceRunning
}

// HostAddress is where the host reaches container port target of a running
// container of the service: the published 127.0.0.1 (or other loopback)
// address and the host port the engine chose. ok is false when no running
// container publishes that port on a loopback address.
func (s ServiceStatus) HostAddress(target int) (addr netip.AddrPort, ok bool) {
	for _, c := range s.Containers {
		if c.State != docker.ContainerRunning {
			continue
		}
		for _, p := range c.Ports {
			if p.Target != target || p.Protocol != "tcp" || p.HostPort == 0 {
				continue
			}
			ip, err := netip.ParseAddr(p.HostIP)
			if err != nil || !ip.IsLoopback() {
				continue
			}
			return netip.AddrPortFrom(ip, uint16(p.HostPort)), true
		}
	}
	return netip.AddrPort{}, false
}

// Ps reports the containers of the project named projectName (found by
// compose's com.docker.compose.project label, stopped ones included, one-off
// `run` containers excluded), grouped by service and sorted by name. With
// want (the project as loaded) every service it declares is listed, with its
// desired replicas, also when it has no container (docker.ServiceMissing), and
// services it does not declare are marked as orphans; with want nil only
// services that have containers are listed.
func (r *Runtime) Ps(ctx context.Context, projectName string, want *Project) ([]ServiceStatus, error) {
	redact := (*redactor)(nil)
	if want != nil {
		redact = want.redact
	}
	op, end := startOperation(nil, redact)
	defer end()
	svc, flush, err := r.service(ctx, op)
	if err != nil {
		return nil, fmt.Errorf("compose ps %s: %w", projectName, err)
	}
	defer flush()
	summaries, err := svc.Ps(ctx, projectName, api.PsOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("compose ps %s: %w", projectName, redact.Error(err))
	}

	byName := map[string]*ServiceStatus{}
	get := func(name string) *ServiceStatus {
		if s, ok := byName[name]; ok {
			return s
		}
		s := &ServiceStatus{Name: name, Declared: want == nil}
		byName[name] = s
		return s
	}
	if want != nil {
		for _, s := range want.Services() {
			st := get(s.Name)
			st.Declared = true
			st.Desired = s.Replicas
		}
	}
	for _, cs := range summaries {
		if cs.Labels[api.OneoffLabel] == "True" {
			continue
		}
		c := Container{
			ID:         cs.ID,
			Name:       cs.Name,
			State:      docker.ContainerState(cs.State),
			Health:     docker.Health(cs.Health),
			ExitCode:   cs.ExitCode,
			Networks:   slices.Sorted(slices.Values(cs.Networks)),
			ConfigHash: cs.Labels[api.ConfigHashLabel],
			Labels:     cs.Labels,
		}
		c.Number, _ = strconv.Atoi(cs.Labels[api.ContainerNumberLabel])
		for _, pub := range cs.Publishers {
			if pub.PublishedPort == 0 {
				continue // exposed, not published
			}
			c.Ports = append(c.Ports, PublishedPort{
				Target:   pub.TargetPort,
				Protocol: pub.Protocol,
				HostIP:   pub.URL,
				HostPort: pub.PublishedPort,
			})
		}
		if c.Health == docker.HealthUnhealthy {
			c.HealthOutput = r.lastHealthOutput(ctx, c.ID)
		}
		st := get(cs.Service)
		st.Containers = append(st.Containers, c)
	}

	out := make([]ServiceStatus, 0, len(byName))
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		s := *byName[name]
		slices.SortFunc(s.Containers, func(a, b Container) int { return a.Number - b.Number })
		out = append(out, s)
	}
	return out, nil
}

// lastHealthOutput is the trimmed output of a container's last health check
// ("" when it cannot be read).
func (r *Runtime) lastHealthOutput(ctx context.Context, id string) string {
	inspect, err := r.api.ContainerInspect(ctx, id)
	if err != nil || inspect.State == nil || inspect.State.Health == nil || len(inspect.State.Health.Log) == 0 {
		return ""
	}
	last := inspect.State.Health.Log[len(inspect.State.Health.Log)-1]
	out := strings.TrimSpace(last.Output)
	if len(out) > 200 {
		out = out[:200] + "..."
	}
	if out == "" {
		out = fmt.Sprintf("exit code %d", last.ExitCode)
	}
	return out
}
