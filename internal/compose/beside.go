package compose

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/compose-spec/compose-go/v2/types"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/compose/v5/pkg/api"
	composelib "github.com/docker/compose/v5/pkg/compose"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
)

// Beside is what UpBeside did with the service it updates beside its
// running containers.
type Beside struct {
	// New are the containers UpBeside created beside the old ones, from the
	// project's configuration of the service; empty when the running
	// containers were up to date, or when none ran (then Up did what
	// compose does).
	New []Container
	// Old are the service's running containers from before: they keep
	// running the previous configuration until Retire.
	Old []Container
}

// UpBeside is Up, except for one service (docker-rollout's move, done by
// compose itself): when the project's configuration or image of service
// differs from what its running containers were created from, compose
// does not recreate them. It creates the service's new containers beside
// them (as many as the project asks for, numbered after them, through
// compose's own create: the service's labels, network aliases and volumes,
// so `docker compose ps` sees one service), starts them and waits for them
// as Up waits (healthy, when the service has a healthcheck). The old
// containers keep running until the caller retires them, or retires the new
// ones, which leaves the service as it was. Builds run before anything is
// created, so that the choice sees the new image. When Up fails, Beside
// still lists the new containers it created. A service that sets
// container_name cannot run twice: compose recreates it in place, with a
// warning in the log (see Service.FixedName).
func (r *Runtime) UpBeside(ctx context.Context, p *Project, opts UpOptions, service string) (Beside, error) {
	if _, ok := p.raw.Services[service]; !ok {
		return Beside{}, fmt.Errorf("compose up %s: the project has no service %q", p.Name(), service)
	}
	return r.up(ctx, p, opts, service)
}

// planBeside builds project's images and, when the running containers of
// service are out of date, sets project and up so that compose creates the
// new ones beside them: the service scaled by what it asks for, and left
// out of the recreated services. It returns the old containers; none when
// Up should do what compose does.
func (r *Runtime) planBeside(ctx context.Context, svc api.Compose, project *types.Project, service string, up *api.UpOptions) ([]Container, error) {
	all, err := r.serviceContainers(ctx, project.Name, service)
	if err != nil {
		return nil, err
	}
	running := slices.DeleteFunc(slices.Clone(all), func(c Container) bool { return c.State != docker.ContainerRunning })
	if len(running) == 0 {
		return nil, nil
	}
	if err := r.buildFirst(ctx, svc, project); err != nil {
		return nil, err
	}
	s := project.Services[service]
	hash, err := composelib.ServiceHash(s)
	if err != nil {
		return nil, fmt.Errorf("service %s: config hash: %w", service, err)
	}
	image := ""
	if img, err := r.api.ImageInspect(ctx, api.GetImageNameOrDefault(s, project.Name)); err == nil {
		image = img.ID
	}
	if !slices.ContainsFunc(running, func(c Container) bool {
		return c.ConfigHash != hash || image == "" || c.Labels[api.ImageDigestLabel] != image
	}) {
		return nil, nil
	}
	// A stopped container of the service serves nothing, and compose
	// would start it again with the old configuration: it goes.
	for _, c := range all {
		if c.State != docker.ContainerRunning {
			if err := r.api.ContainerRemove(ctx, c.ID, container.RemoveOptions{RemoveVolumes: true, Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
				return nil, fmt.Errorf("remove the stopped container %s of service %s: %w", c.Name, service, err)
			}
		}
	}
	scale := len(running) + s.GetScale()
	s.Scale = &scale
	if s.Deploy != nil {
		s.Deploy.Replicas = &scale
	}
	project.Services[service] = s
	up.Create.Services = slices.DeleteFunc(slices.Clone(up.Create.Services), func(n string) bool { return n == service })
	// The service is left to RecreateDependencies: compose keeps its
	// containers and creates the missing ones.
	up.Create.RecreateDependencies = api.RecreateNever
	return running, nil
}

// buildFirst builds the project's `build:` services, so that the image a
// choice compares is the new one; Up then finds the images and builds
// nothing again.
func (r *Runtime) buildFirst(ctx context.Context, svc api.Compose, project *types.Project) error {
	if r.builder != nil {
		return nil // Up built them already (buildServices)
	}
	var build []string
	for name, s := range project.Services {
		if s.Build != nil {
			build = append(build, name)
		}
	}
	if len(build) == 0 {
		return nil
	}
	slices.Sort(build)
	err := docker.BuildCacheRaceRetry.Do(ctx, func(ctx context.Context) error {
		return svc.Build(ctx, project, api.BuildOptions{Quiet: true, Services: build})
	})
	if err != nil {
		return err
	}
	for _, name := range build {
		s := project.Services[name]
		s.PullPolicy = types.PullPolicyMissing
		project.Services[name] = s
	}
	return nil
}

// serviceContainers lists the containers of one service of a project
// (stopped ones included, one-off ones excluded), by container number.
func (r *Runtime) serviceContainers(ctx context.Context, project, service string) ([]Container, error) {
	list, err := r.api.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", api.ProjectLabel+"="+project),
		filters.Arg("label", api.ServiceLabel+"="+service),
		filters.Arg("label", api.OneoffLabel+"=False"),
	)})
	if err != nil {
		return nil, fmt.Errorf("list the containers of service %s: %w", service, err)
	}
	out := make([]Container, 0, len(list))
	for _, c := range list {
		ct := Container{
			ID: c.ID, State: docker.ContainerState(c.State), ConfigHash: c.Labels[api.ConfigHashLabel], Labels: c.Labels,
		}
		if len(c.Names) > 0 {
			ct.Name = c.Names[0][1:]
		}
		ct.Number, _ = strconv.Atoi(c.Labels[api.ContainerNumberLabel])
		out = append(out, ct)
	}
	slices.SortFunc(out, func(a, b Container) int { return a.Number - b.Number })
	return out, nil
}

// Retire stops and removes containers of the project named projectName
// (each with its stop signal and grace period, as compose stops it, and
// with its anonymous volumes, which no other container uses), then the
// builds nothing uses any more. A container already gone is not an error;
// a container of another project is refused.
func (r *Runtime) Retire(ctx context.Context, projectName string, ids []string) error {
	op, end := startOperation(nil, nil)
	defer end()
	var errs []error
	for _, id := range ids {
		c, err := r.api.ContainerInspect(ctx, id)
		if cerrdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("retire %s: %w", id, err))
			continue
		}
		if c.Config == nil || c.Config.Labels[api.ProjectLabel] != projectName {
			errs = append(errs, fmt.Errorf("retire %s: not a container of compose project %s", id, projectName))
			continue
		}
		if err := r.api.ContainerStop(ctx, id, container.StopOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("stop %s: %w", c.Name, err))
			continue
		}
		if err := r.api.ContainerRemove(ctx, id, container.RemoveOptions{RemoveVolumes: true, Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove %s: %w", c.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("compose project %s: %w", projectName, err)
	}
	r.pruneBuilds(ctx, op, projectName)
	return nil
}
