package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/retry"
)

// ListContainers lists all containers, running or not, that carry label:
// "key" (any value) or "key=value", in one call to the engine. Ports are the
// live bindings with a host port: a stopped container lists none.
func (c *Client) ListContainers(ctx context.Context, label string) ([]Container, error) {
	list, err := c.api.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", label)),
	})
	if err != nil {
		return nil, fmt.Errorf("list containers with label %s: %w", label, err)
	}
	out := make([]Container, 0, len(list))
	for _, s := range list {
		ct := Container{
			ID:      s.ID,
			Image:   s.Image,
			ImageID: s.ImageID,
			State:   ContainerState(s.State),
			Labels:  s.Labels,
			Created: time.Unix(s.Created, 0),
			Mounts:  mountsFrom(s.Mounts),
		}
		if len(s.Names) > 0 {
			ct.Name = strings.TrimPrefix(s.Names[0], "/")
		}
		for _, p := range s.Ports {
			if p.PublicPort == 0 {
				continue
			}
			ct.Ports = append(ct.Ports, Port{
				ContainerPort: int(p.PrivatePort),
				HostIP:        p.IP,
				HostPort:      int(p.PublicPort),
				Protocol:      p.Type,
			})
		}
		out = append(out, ct)
	}
	return out, nil
}

// mountsFrom maps the engine's mount points; a volume is named by its volume
// name, not its storage path under /var/lib/docker.
func mountsFrom(points []container.MountPoint) []Mount {
	var out []Mount
	for _, m := range points {
		mt := Mount{Type: string(m.Type), Source: m.Source, Target: m.Destination, ReadOnly: !m.RW}
		if m.Type == mount.TypeVolume {
			mt.Source = m.Name
		}
		out = append(out, mt)
	}
	return out
}

// InspectContainer returns the details of one container; ErrNotFound when it
// does not exist.
func (c *Client) InspectContainer(ctx context.Context, id string) (ContainerDetail, error) {
	r, err := c.api.ContainerInspect(ctx, id)
	if err != nil {
		return ContainerDetail{}, fmt.Errorf("inspect container %s: %w", id, classify(err))
	}
	d := ContainerDetail{
		Container: Container{
			ID:      r.ID,
			Name:    strings.TrimPrefix(r.Name, "/"),
			ImageID: r.Image,
			Created: parseEngineTime(r.Created),
			Mounts:  mountsFrom(r.Mounts),
		},
		RestartCount: r.RestartCount,
	}
	if r.Config != nil {
		d.Image = r.Config.Image
		d.Labels = r.Config.Labels
		d.Env = r.Config.Env
	}
	if s := r.State; s != nil {
		d.State = ContainerState(s.Status)
		d.ExitCode = s.ExitCode
		d.StartedAt = parseEngineTime(s.StartedAt)
		d.FinishedAt = parseEngineTime(s.FinishedAt)
		if s.Health != nil {
			d.Health = Health(s.Health.Status)
		}
	}
	if r.NetworkSettings != nil {
		for port, bindings := range r.NetworkSettings.Ports {
			for _, b := range bindings {
				hostPort, err := strconv.Atoi(b.HostPort)
				if err != nil || hostPort == 0 {
					continue
				}
				d.Ports = append(d.Ports, Port{
					ContainerPort: port.Int(),
					HostIP:        b.HostIP,
					HostPort:      hostPort,
					Protocol:      port.Proto(),
				})
			}
		}
	}
	return d, nil
}

// parseEngineTime reads the engine's RFC 3339 timestamps; the engine's
// "never" (year 1) and anything unreadable become the zero time.
func parseEngineTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}

// CreateContainer creates (does not start) a container and returns its ID.
// A mount without a Type is a bind when its Source is an absolute path and a
// named volume otherwise.
func (c *Client) CreateContainer(ctx context.Context, spec ContainerSpec) (string, error) {
	if spec.Name == "" {
		return "", errors.New("create container: name is empty")
	}
	config := &container.Config{
		Image:      spec.Image,
		Env:        spec.Env,
		Labels:     spec.Labels,
		Cmd:        spec.Cmd,
		Entrypoint: spec.Entrypoint,
		User:       spec.User,
		WorkingDir: spec.WorkingDir,
		StopSignal: spec.StopSignal,
	}
	hostConfig := &container.HostConfig{
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyMode(spec.RestartPolicy)},
		Resources:     container.Resources{Memory: spec.MemoryBytes, NanoCPUs: spec.NanoCPUs},
	}
	if spec.Init {
		hostConfig.Init = &spec.Init
	}
	if spec.StopTimeout > 0 {
		secs := durationSeconds(spec.StopTimeout)
		config.StopTimeout = &secs
	}
	if spec.Port != 0 {
		if spec.Port < 1 || spec.Port > 65535 {
			return "", fmt.Errorf("create container %s: port must be between 1 and 65535 (got %d)", spec.Name, spec.Port)
		}
		port := nat.Port(fmt.Sprintf("%d/tcp", spec.Port))
		config.ExposedPorts = nat.PortSet{port: struct{}{}}
		if spec.HostPort < 0 || spec.HostPort > 65535 {
			return "", fmt.Errorf("create container %s: host port must be between 0 and 65535 (got %d)", spec.Name, spec.HostPort)
		}
		binding := nat.PortBinding{HostIP: spec.PublishAddress}
		if spec.HostPort != 0 {
			binding.HostPort = strconv.Itoa(spec.HostPort)
		}
		hostConfig.PortBindings = nat.PortMap{port: {binding}}
	}
	for _, m := range spec.Mounts {
		mt, err := mountSpec(m)
		if err != nil {
			return "", fmt.Errorf("create container %s: %w", spec.Name, err)
		}
		hostConfig.Mounts = append(hostConfig.Mounts, mt)
	}
	var networking *network.NetworkingConfig
	if spec.Network != "" {
		hostConfig.NetworkMode = container.NetworkMode(spec.Network)
		networking = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			spec.Network: {Aliases: spec.NetworkAliases},
		}}
	}
	resp, err := c.api.ContainerCreate(ctx, config, hostConfig, networking, nil, spec.Name)
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", spec.Name, classify(err))
	}
	return resp.ID, nil
}

// mountSpec turns a Mount into the engine's mount, checking its type.
func mountSpec(m Mount) (mount.Mount, error) {
	kind := m.Type
	if kind == "" {
		kind = string(mount.TypeVolume)
		if strings.HasPrefix(m.Source, "/") {
			kind = string(mount.TypeBind)
		}
	}
	switch mount.Type(kind) {
	case mount.TypeVolume, mount.TypeBind:
	default:
		return mount.Mount{}, fmt.Errorf("mount %s: type must be volume or bind (got %q)", m.Target, m.Type)
	}
	if m.Source == "" || m.Target == "" {
		return mount.Mount{}, fmt.Errorf("mount %q -> %q: source and target must be set", m.Source, m.Target)
	}
	return mount.Mount{Type: mount.Type(kind), Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly}, nil
}

// durationSeconds rounds d up to whole seconds, the engine's unit for stop
// timeouts: rounding down would kill a container sooner than asked.
func durationSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(math.Ceil(d.Seconds()))
}

// StartContainer starts a created or stopped container.
//
// The engine joins a container to its networks by name when it starts it.
// Another process racing EnsureNetwork may have left a second network of the
// same name for a moment (engines before API 1.44 do not create networks
// atomically), and the start then fails as "ambiguous": the duplicates are
// converged on the oldest network, as EnsureNetwork does, and the start is
// tried again (startPolicy).
func (c *Client) StartContainer(ctx context.Context, id string) error {
	err := startPolicy.Do(ctx, func(ctx context.Context) error {
		err := c.api.ContainerStart(ctx, id, container.StartOptions{})
		if err != nil && isAmbiguousNetwork(err) {
			if derr := c.dedupeNetworksOf(ctx, id); derr != nil {
				return retry.Stop(fmt.Errorf("%w (and the duplicate networks stay: %v)", err, derr))
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("start container %s: %w", id, classify(err))
	}
	return nil
}

// startPolicy tries a start that met a duplicate network 4 times in all,
// waiting 100, 200, 300 ms between; any other failure is final.
var startPolicy = retry.Policy{
	Classify: func(err error) retry.Class {
		if isAmbiguousNetwork(err) {
			return retry.Contended
		}
		return retry.Final
	},
	Tries:         4,
	ContendedWait: retry.Backoff{First: 100 * time.Millisecond, Max: 300 * time.Millisecond, Linear: true},
}

// isAmbiguousNetwork reports whether err is the engine refusing a network
// name that several networks have.
func isAmbiguousNetwork(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "network ") && strings.Contains(msg, "is ambiguous")
}

// dedupeNetworksOf converges every network the container is to join.
func (c *Client) dedupeNetworksOf(ctx context.Context, id string) error {
	r, err := c.api.ContainerInspect(ctx, id)
	if err != nil {
		return fmt.Errorf("inspect container %s: %w", id, classify(err))
	}
	if r.NetworkSettings == nil {
		return nil
	}
	c.networkMu.Lock()
	defer c.networkMu.Unlock()
	for name := range r.NetworkSettings.Networks {
		if _, err := c.dedupeNetwork(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

// StopContainer sends SIGTERM, waits up to timeout (rounded up to whole
// seconds), then SIGKILL. A container that is already stopped or gone is not
// an error.
func (c *Client) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	secs := durationSeconds(timeout)
	err := c.api.ContainerStop(ctx, id, container.StopOptions{Timeout: &secs})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	return nil
}

// RemoveContainer force-removes a container and its anonymous volumes (named
// volumes stay: they are data). A container that is already gone, or already
// being removed by a concurrent call, is not an error.
func (c *Client) RemoveContainer(ctx context.Context, id string) error {
	err := c.api.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	switch {
	case err == nil, cerrdefs.IsNotFound(err):
		return nil
	case cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already in progress"):
		return nil
	default:
		return fmt.Errorf("remove container %s: %w", id, err)
	}
}

// ContainerLogs returns the last n lines (all when n <= 0) of the container's
// stdout and stderr, interleaved as written. The container must have been
// created without a TTY, as CreateContainer does.
func (c *Client) ContainerLogs(ctx context.Context, id string, n int) ([]string, error) {
	tail := "all"
	if n > 0 {
		tail = strconv.Itoa(n)
	}
	rc, err := c.api.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: tail})
	if err != nil {
		return nil, fmt.Errorf("logs of container %s: %w", id, classify(err))
	}
	defer rc.Close()
	// One buffer for both streams keeps their order.
	var buf bytes.Buffer
	if _, err := stdcopy.StdCopy(&buf, &buf, rc); err != nil {
		return nil, fmt.Errorf("logs of container %s: %w", id, err)
	}
	text := strings.TrimRight(buf.String(), "\n")
	if text == "" {
		return nil, nil
	}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines, nil
}
