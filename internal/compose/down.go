package compose

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/compose-spec/compose-go/v2/types"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/compose/v5/pkg/api"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
)

// Down does what `docker compose down --remove-orphans` does for the project
// named projectName, found by compose's labels alone (no compose file is
// needed): stops and removes its containers, then its networks. Named
// volumes stay unless removeVolumes, which removes them and the containers'
// anonymous volumes (external volumes and networks are never removed). The
// images Up built for the project are removed too: they are build output,
// not data. A project with nothing left is not an error. log (nil: discard)
// receives progress.
func (r *Runtime) Down(ctx context.Context, projectName string, removeVolumes bool, log *slog.Logger) error {
	op, end := startOperation(log, nil)
	defer end()
	svc, flush, err := r.service(ctx, op)
	if err != nil {
		return fmt.Errorf("compose down %s: %w", projectName, err)
	}
	defer flush()
	leftovers, err := r.leftovers(ctx, projectName)
	if err != nil {
		return fmt.Errorf("compose down %s: %w", projectName, err)
	}
	if err := svc.Down(ctx, projectName, api.DownOptions{
		Project:       leftovers,
		RemoveOrphans: true,
		Volumes:       removeVolumes,
	}); err != nil {
		return fmt.Errorf("compose down %s: %w", projectName, err)
	}
	if err := r.removeBuilds(ctx, op, projectName); err != nil {
		return fmt.Errorf("compose down %s: %w", projectName, err)
	}
	return nil
}

// leftovers is the project as its networks and volumes describe it, when it
// has no container left; nil (compose works it out) when it has containers.
//
// compose works a project out from its containers, then its networks and
// volumes; with no container that goes through compose-go's
// Project.WithServicesTransform on an empty project, which races (its
// collector goroutine sets Services while the caller reads it; seen with
// -race on a Down after a Down). Handing compose the project avoids that
// path, and is what compose would build: networks and volumes keyed by
// compose's network and volume labels.
func (r *Runtime) leftovers(ctx context.Context, project string) (*types.Project, error) {
	byProject := filters.NewArgs(filters.Arg("label", api.ProjectLabel+"="+project))
	containers, err := r.api.ContainerList(ctx, container.ListOptions{All: true, Filters: byProject})
	if err != nil {
		return nil, fmt.Errorf("list the project's containers: %w", err)
	}
	if len(containers) > 0 {
		return nil, nil
	}
	p := &types.Project{Name: project, Services: types.Services{}, Networks: types.Networks{}, Volumes: types.Volumes{}}
	networks, err := r.api.NetworkList(ctx, network.ListOptions{Filters: byProject})
	if err != nil {
		return nil, fmt.Errorf("list the project's networks: %w", err)
	}
	for _, n := range networks {
		p.Networks[n.Labels[api.NetworkLabel]] = types.NetworkConfig{Name: n.Name, Driver: n.Driver, Labels: n.Labels}
	}
	volumes, err := r.api.VolumeList(ctx, volume.ListOptions{Filters: byProject})
	if err != nil {
		return nil, fmt.Errorf("list the project's volumes: %w", err)
	}
	for _, v := range volumes.Volumes {
		p.Volumes[v.Labels[api.VolumeLabel]] = types.VolumeConfig{Name: v.Name, Driver: v.Driver, Labels: v.Labels}
	}
	return p, nil
}

// removeBuilds removes every image labelled as built for the project,
// tagged or not. Only top-level images are listed: the classic builder's
// intermediate images of the steps after the project LABEL carry the label
// too, but cannot be removed while their children exist; removing a
// top-level image with PruneChildren removes its untagged parents.
func (r *Runtime) removeBuilds(ctx context.Context, op *operation, project string) error {
	images, err := r.api.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", api.ProjectLabel+"="+project),
		filters.Arg("label", api.ImageBuilderLabel),
	)})
	if err != nil {
		return fmt.Errorf("list the project's builds: %w", err)
	}
	var errs []error
	if r.builder != nil {
		recorded := make([]docker.Image, 0, len(images))
		for _, img := range images {
			recorded = append(recorded, docker.Image{ID: img.ID, Labels: img.Labels})
		}
		if err := r.builder.RemoveBuildCache(ctx, recorded); err != nil {
			errs = append(errs, fmt.Errorf("remove the build cache: %w", err))
		}
	}
	for _, img := range images {
		_, err := r.api.ImageRemove(ctx, img.ID, image.RemoveOptions{Force: true, PruneChildren: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove build %s: %w", img.ID, err))
			continue
		}
		op.log.Info("removed build", "project", project, "image", img.ID)
	}
	return errors.Join(errs...)
}
