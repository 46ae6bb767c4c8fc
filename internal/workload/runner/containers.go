package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"strconv"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/retry"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
)

// ContainerHost is what Containers needs from the Docker engine.
type ContainerHost interface {
	EnsureNetwork(ctx context.Context, name string, labels map[string]string) (id string, err error)
	ListContainers(ctx context.Context, labelKey string) ([]docker.Container, error)
	InspectContainer(ctx context.Context, id string) (docker.ContainerDetail, error)
	CreateContainer(ctx context.Context, spec docker.ContainerSpec) (string, error)
	StartContainer(ctx context.Context, id string) error
	StopContainer(ctx context.Context, id string, timeout time.Duration) error
	RemoveContainer(ctx context.Context, id string) error
	ContainerLogs(ctx context.Context, id string, n int) ([]string, error)
	RunToEnd(ctx context.Context, id string, o docker.RunOptions) (docker.RunResult, error)
	ContainerLogLines(ctx context.Context, id string, q docker.LogQuery) ([]docker.LogLine, error)
}

// Containers runs each instance of a workload as one container on one
// Docker engine: on the provider's user-defined network (created when
// missing, labelled tinyforge.managed), its port published on
// PublishAddress, under a name no other container has.
type Containers struct {
	Docker ContainerHost
	// Network is the user-defined bridge network every instance joins.
	Network string
	// PublishAddress is the host IP container ports are published on.
	PublishAddress string
	// ForwardTo picks the address a proxy is given for an instance.
	ForwardTo ForwardTo
	// StopTimeout is how long a container that records none gets between
	// SIGTERM and SIGKILL (one deployed before stop_timeout was recorded);
	// default DefaultStopTimeout.
	StopTimeout time.Duration
}

// DefaultStopTimeout is what a container gets between SIGTERM and SIGKILL.
const DefaultStopTimeout = 10 * time.Second

func (c *Containers) stopTimeout() time.Duration {
	if c.StopTimeout > 0 {
		return c.StopTimeout
	}
	return DefaultStopTimeout
}

// List lists the instances of one workload (name), or of every workload
// (name ""), by workload, in one call to the engine. Containers whose labels
// cannot be read are returned apart, unread.
func (c *Containers) List(ctx context.Context, name string) (byWorkload map[string][]Instance, unreadable []Instance, err error) {
	filter := workload.LabelWorkload
	if name != "" {
		filter += "=" + name
	}
	containers, err := c.Docker.ListContainers(ctx, filter)
	if err != nil {
		return nil, nil, fmt.Errorf("list containers: %w", err)
	}
	byWorkload = map[string][]Instance{}
	for _, ct := range containers {
		in, err := c.instance(ct)
		if err != nil {
			in.Recorded.Workload = ct.Labels[workload.LabelWorkload]
			unreadable = append(unreadable, in)
			continue
		}
		byWorkload[in.Recorded.Workload] = append(byWorkload[in.Recorded.Workload], in)
	}
	return byWorkload, unreadable, nil
}

// instance reads one container; the error says why its labels could not
// be read (the instance then carries what the engine said of it).
func (c *Containers) instance(ct docker.Container) (Instance, error) {
	in := Instance{
		ID: ct.ID, Name: ct.Name, State: ct.State, Image: ct.Image, ImageID: ct.ImageID, Created: ct.Created,
	}
	rec, err := workload.ReadLabels(ct.Labels)
	if err != nil {
		return in, fmt.Errorf("container %s: %w", ct.Name, err)
	}
	in.Recorded = rec
	port := rec.Settings.Port
	if port > 0 {
		in.Network = net.JoinHostPort(ct.Name, strconv.Itoa(port))
	}
	in.Published = c.published(ct.Ports, port)
	in.Upstream = in.Published
	if c.ForwardTo == ForwardNetwork {
		in.Upstream = in.Network
	}
	return in, nil
}

// published is the address to dial the container port on the host, "" when
// it is not published.
func (c *Containers) published(ports []docker.Port, port int) string {
	for _, p := range ports {
		if p.ContainerPort == port && p.HostPort > 0 && (p.Protocol == "" || p.Protocol == "tcp") {
			return net.JoinHostPort(dialHost(p.HostIP, c.PublishAddress), strconv.Itoa(p.HostPort))
		}
	}
	return ""
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

// Start creates and starts a new instance of spec, generation gen, from
// the produced image. What it created is removed again when it fails or is
// interrupted (on a fresh context), so a failed Start leaves nothing.
func (c *Containers) Start(ctx context.Context, spec workload.Spec, art plugin.Artifact, gen int) (Instance, error) {
	labels, err := spec.Labels(gen, art.Revision)
	if err != nil {
		return Instance{}, err
	}
	// By ID: by name, a duplicate network left by a racing process would
	// make it ambiguous.
	networkID, err := c.Docker.EnsureNetwork(ctx, c.Network, map[string]string{workload.LabelManaged: "true"})
	if err != nil {
		return Instance{}, fmt.Errorf("network %s: %w", c.Network, err)
	}
	image := art.Image
	if art.ImageID != "" {
		image = art.ImageID // exactly what was produced, even if the tag moves
	}
	// The user's labels first: the provider's win.
	all := maps.Clone(spec.Run.Labels)
	if all == nil {
		all = map[string]string{}
	}
	maps.Copy(all, labels)
	run := spec.Run
	stop := run.Stop()
	cs := docker.ContainerSpec{
		Name:           instanceName(spec.Name, gen),
		Image:          image,
		Env:            spec.Environ(),
		Labels:         all,
		Network:        networkID,
		Port:           spec.Source.Container().Port,
		PublishAddress: c.PublishAddress,
		HostPort:       spec.HostPort,
		Mounts:         mounts(spec),
		RestartPolicy:  run.RestartPolicy(),
		StopTimeout:    stop,
		Init:           spec.Source.Container().Init,
		Cmd:            run.Command,
		Entrypoint:     run.Entrypoint,
		User:           run.User,
		WorkingDir:     run.WorkingDir,
		StopSignal:     run.StopSignal,
		MemoryBytes:    int64(run.MemoryMiB) << 20,
		NanoCPUs:       int64(run.CPUs * 1e9),
	}
	id, err := c.Docker.CreateContainer(ctx, cs)
	if err != nil {
		// An interrupted create may have reached the engine: remove by name.
		return Instance{}, c.discardFailed(ctx, cs.Name, err)
	}
	if err := c.Docker.StartContainer(ctx, id); err != nil {
		return Instance{}, c.discardFailed(ctx, id, fmt.Errorf("start container %s: %w", cs.Name, err))
	}
	detail, err := c.Docker.InspectContainer(ctx, id)
	if err != nil {
		return Instance{}, c.discardFailed(ctx, id, fmt.Errorf("inspect container %s: %w", cs.Name, err))
	}
	in, err := c.instance(detail.Container)
	if err != nil {
		return Instance{}, c.discardFailed(ctx, id, err)
	}
	return in, nil
}

// discardFailed removes what a failed Start made (id or name), on a fresh
// context, and returns the failure, with the removal's own when the
// container stays: the next apply removes it as a stray.
func (c *Containers) discardFailed(ctx context.Context, id string, failure error) error {
	ctx, cancel := CleanupContext(ctx)
	defer cancel()
	if err := Retry(ctx, func(ctx context.Context) error { return c.Docker.RemoveContainer(ctx, id) }); err != nil {
		return fmt.Errorf("%w (and the container was not removed: %v)", failure, err)
	}
	return failure
}

// Inspect reads what a gate watches of the instance now.
func (c *Containers) Inspect(ctx context.Context, in Instance) (Health, error) {
	d, err := c.Docker.InspectContainer(ctx, in.ID)
	if err != nil {
		return Health{}, err
	}
	return Health{
		State: d.State, Restarts: d.RestartCount, ExitCode: d.ExitCode,
		Published: c.published(d.Ports, in.Recorded.Settings.Port),
		Created:   d.Created,
	}, nil
}

// Logs returns the instance's last n log lines, stdout and stderr
// interleaved.
func (c *Containers) Logs(ctx context.Context, in Instance, n int) ([]string, error) {
	return c.Docker.ContainerLogs(ctx, in.ID, n)
}

// Env returns the instance's environment as "KEY=value", the image's own
// entries included: import reads env values back from it.
func (c *Containers) Env(ctx context.Context, in Instance) ([]string, error) {
	d, err := c.Docker.InspectContainer(ctx, in.ID)
	if err != nil {
		return nil, fmt.Errorf("inspect container %s: %w", in.Name, err)
	}
	return d.Env, nil
}

// Stop stops the instance (its stop signal, then SIGKILL after its stop
// timeout), keeping it: recreate's downtime window, undone by Resume.
func (c *Containers) Stop(ctx context.Context, in Instance) error {
	timeout := c.stopTimeout()
	if secs := in.Recorded.Settings.StopTimeout; secs > 0 {
		timeout = time.Duration(secs) * time.Second
	}
	if err := c.Docker.StopContainer(ctx, in.ID, timeout); err != nil {
		return fmt.Errorf("stop container %s: %w", in.Name, err)
	}
	return nil
}

// Resume starts a stopped instance again.
func (c *Containers) Resume(ctx context.Context, in Instance) error {
	if err := c.Docker.StartContainer(ctx, in.ID); err != nil {
		return fmt.Errorf("start container %s: %w", in.Name, err)
	}
	return nil
}

// Remove retires the instance: SIGTERM first when it is active, so that
// it finishes what it serves, then removal (named volumes stay: they are
// data). An instance already gone is not an error.
func (c *Containers) Remove(ctx context.Context, in Instance) error {
	if in.Active() {
		if err := c.Stop(ctx, in); err != nil {
			return err
		}
	}
	if err := c.Docker.RemoveContainer(ctx, in.ID); err != nil {
		return fmt.Errorf("remove container %s: %w", in.Name, err)
	}
	return nil
}

// instanceName returns a container name for generation gen of workload
// name that no other container has, <name>-<gen>-<12 hex>: a new container
// never collides with the one it replaces, so starting it never requires
// stopping the old one first. The random part is 48 bits: two of 1,000
// names collide with a chance of 2 in a billion (with 24 bits it was 3 in
// 100).
func instanceName(name string, gen int) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return fmt.Sprintf("%s-%d-%s", name, gen, hex.EncodeToString(b))
}

// mounts are the spec's volumes, and the mounts its source asks for, as the
// engine mounts them.
func mounts(spec workload.Spec) []docker.Mount {
	vols := spec.Mounts()
	out := make([]docker.Mount, 0, len(vols))
	for _, v := range vols {
		m := docker.Mount{Type: "volume", Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly}
		if v.Bind() {
			m.Type = "bind"
		}
		out = append(out, m)
	}
	return out
}

// cleanupTimeout bounds the clean-up after a failed or interrupted step (a
// variable for tests).
var cleanupTimeout = 30 * time.Second

// CleanupContext is a context for cleaning up after a failure or an
// interrupt: it keeps ctx's values but not its cancellation, and ends after
// 30 s. A deploy that fails or is interrupted still removes what it started
// before it returns.
func CleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}

// Retry calls f until it succeeds or ctx ends, and returns f's last error;
// each call gets at most retryAttempt of ctx (the bounds are listed in
// package retry). For clean-ups: the failure being cleaned up after may be
// the engine's connection dropping (an ssh:// engine's sshd restarting),
// and the first call after it can meet the same dead connection, or one
// that died without a word and would use up the whole clean-up.
func Retry(ctx context.Context, f func(ctx context.Context) error) error {
	p := retry.Policy{OutageWait: retry.Backoff{First: 250 * time.Millisecond, Max: 2 * time.Second}, TryTimeout: retryAttempt}
	return p.Do(ctx, f)
}

// retryAttempt bounds one call of Retry (a variable for tests).
var retryAttempt = 10 * time.Second
