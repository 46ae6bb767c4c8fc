package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
)

// ReleaseRun is one run of a release command.
type ReleaseRun struct {
	// Name is the one-off container's (or Swarm job's) name.
	Name string
	docker.RunResult
}

// releaseLabels mark a one-off of workload spec, generation gen: not an
// instance (no LabelWorkload), so that no reconcile ever takes it for one.
func releaseLabels(spec workload.Spec, gen int) map[string]string {
	return map[string]string{
		workload.LabelRelease:    spec.Name,
		workload.LabelOwner:      spec.Owner,
		workload.LabelGeneration: strconv.Itoa(gen),
	}
}

// releaseName is the name of a one-off of generation gen of workload
// name: a DNS label (a Swarm service's name must be one), unique.
func releaseName(name string, gen int) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	suffix := fmt.Sprintf("-release-%d-%s", gen, hex.EncodeToString(b))
	return strings.TrimRight(name[:min(len(name), 63-len(suffix))], "-") + suffix
}

// Release runs spec's release command once in a one-off container of
// art's image, generation gen: the workload's environment, volumes,
// network, entrypoint, user, working directory and limits, the command
// in place of the image's CMD, no published port, no restart. output gets
// each line as it is written. The container is removed before Release
// returns, also when ctx ends; one that an earlier, killed apply left
// behind is removed first.
func (c *Containers) Release(ctx context.Context, spec workload.Spec, art plugin.Artifact, gen int, output func(docker.LogLine)) (ReleaseRun, error) {
	if err := c.RemoveReleases(ctx, spec); err != nil {
		return ReleaseRun{}, err
	}
	networkID, err := c.Docker.EnsureNetwork(ctx, c.Network, map[string]string{workload.LabelManaged: "true"})
	if err != nil {
		return ReleaseRun{}, fmt.Errorf("network %s: %w", c.Network, err)
	}
	image := art.Image
	if art.ImageID != "" {
		image = art.ImageID
	}
	run := spec.Run
	cs := docker.ContainerSpec{
		Name:          releaseName(spec.Name, gen),
		Image:         image,
		Env:           spec.Environ(),
		Labels:        releaseLabels(spec, gen),
		Network:       networkID,
		Mounts:        mounts(spec),
		RestartPolicy: "no",
		Init:          spec.Source.Container().Init,
		Cmd:           spec.Release.Command,
		Entrypoint:    run.Entrypoint,
		User:          run.User,
		WorkingDir:    run.WorkingDir,
		MemoryBytes:   int64(run.MemoryMiB) << 20,
		NanoCPUs:      int64(run.CPUs * 1e9),
	}
	r := ReleaseRun{Name: cs.Name}
	id, err := c.Docker.CreateContainer(ctx, cs)
	if err != nil {
		// An interrupted create may have reached the engine: remove by name.
		return r, c.discardFailed(ctx, cs.Name, err)
	}
	r.RunResult, err = c.Docker.RunToEnd(ctx, id, docker.RunOptions{Timeout: spec.Release.Limit(), Tail: workload.ReleaseTail, Output: output})
	if err != nil {
		return r, c.discardFailed(ctx, id, fmt.Errorf("release command of workload %q (container %s): %w", spec.Name, cs.Name, err))
	}
	// Removed on a context of its own, as after a failure: the run is
	// over, and its container must not outlive the apply.
	cctx, cancel := CleanupContext(ctx)
	defer cancel()
	if err := Retry(cctx, func(ctx context.Context) error { return c.Docker.RemoveContainer(ctx, id) }); err != nil {
		return r, fmt.Errorf("release command of workload %q ran, but its container %s was not removed: %w", spec.Name, cs.Name, err)
	}
	return r, nil
}

// RemoveReleases removes the one-offs of spec's workload and owner that a
// killed apply left behind: before a release, and at teardown.
func (c *Containers) RemoveReleases(ctx context.Context, spec workload.Spec) error {
	left, err := c.Docker.ListContainers(ctx, workload.LabelRelease+"="+spec.Name)
	if err != nil {
		return fmt.Errorf("list release containers: %w", err)
	}
	for _, ct := range left {
		if owner := ct.Labels[workload.LabelOwner]; owner != "" && spec.Owner != "" && owner != spec.Owner {
			continue
		}
		if err := c.Docker.RemoveContainer(ctx, ct.ID); err != nil {
			return fmt.Errorf("remove the release container %s an earlier apply left: %w", ct.Name, err)
		}
	}
	return nil
}

// Release runs spec's release command once on the swarm, as a replicated
// job of image (a reference pinned by digest), generation gen: the
// workload's environment, mounts, network, entrypoint, user, working
// directory, limits and placement, the command in place of the image's
// CMD. The job's service is removed before Release returns, also when
// ctx ends; output gets the task's last lines once it ended.
func (s *Services) Release(ctx context.Context, spec workload.Spec, image string, gen int, output func(docker.LogLine)) (ReleaseRun, error) {
	if err := s.RemoveReleases(ctx, spec); err != nil {
		return ReleaseRun{}, err
	}
	netID, err := s.Docker.EnsureOverlayNetwork(ctx, s.Network, map[string]string{workload.LabelManaged: "true"})
	if err != nil {
		return ReleaseRun{}, err
	}
	run := spec.Run
	js := docker.ServiceSpec{
		Name: releaseName(spec.Name, gen), Image: image, Env: spec.Environ(), Labels: releaseLabels(spec, gen),
		Network:         netID,
		Constraints:     run.Placement,
		MemoryBytes:     int64(run.MemoryMiB) << 20,
		NanoCPUs:        int64(run.CPUs * 1e9),
		Mounts:          mounts(spec),
		Entrypoint:      run.Entrypoint,
		Command:         spec.Release.Command,
		User:            run.User,
		WorkingDir:      run.WorkingDir,
		StopGracePeriod: time.Second,
	}
	r := ReleaseRun{Name: js.Name}
	r.RunResult, err = s.Docker.RunJob(ctx, js, docker.RunOptions{Timeout: spec.Release.Limit(), Tail: workload.ReleaseTail, Output: output})
	if err != nil {
		return r, fmt.Errorf("release command of workload %q (job %s): %w", spec.Name, js.Name, err)
	}
	return r, nil
}

// RemoveReleases removes the jobs of spec's workload and owner that a
// killed apply left behind: before a release, and at teardown.
func (s *Services) RemoveReleases(ctx context.Context, spec workload.Spec) error {
	left, err := s.Docker.Services(ctx, workload.LabelRelease, spec.Name)
	if err != nil {
		return err
	}
	for _, svc := range left {
		if owner := svc.Labels[workload.LabelOwner]; owner != "" && spec.Owner != "" && owner != spec.Owner {
			continue
		}
		if err := s.Docker.RemoveService(ctx, svc.ID); err != nil {
			return fmt.Errorf("remove the release job %s an earlier apply left: %w", svc.Name, err)
		}
	}
	return nil
}
