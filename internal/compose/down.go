package compose

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/compose/v5/pkg/api"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
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
	if err := svc.Down(ctx, projectName, api.DownOptions{
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
