package docker

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/volume"
)

// Volume is one named volume on the engine.
type Volume struct {
	Name      string
	Labels    map[string]string
	CreatedAt string // the engine's RFC 3339 time, as it says it
}

// CreateVolume creates a local named volume with labels. A volume of that
// name that exists already is an error: labels cannot change, so a caller
// that needs other labels needs another name.
func (c *Client) CreateVolume(ctx context.Context, name string, labels map[string]string) error {
	if _, err := c.api.VolumeInspect(ctx, name); err == nil {
		return fmt.Errorf("create volume %s: a volume of that name exists", name)
	}
	if _, err := c.api.VolumeCreate(ctx, volume.CreateOptions{Name: name, Driver: "local", Labels: labels}); err != nil {
		return fmt.Errorf("create volume %s: %w", name, classify(err))
	}
	return nil
}

// ListVolumes lists the volumes that carry label ("key" or "key=value"), in
// one call.
func (c *Client) ListVolumes(ctx context.Context, label string) ([]Volume, error) {
	list, err := c.api.VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(filters.Arg("label", label))})
	if err != nil {
		return nil, fmt.Errorf("list volumes with label %s: %w", label, err)
	}
	out := make([]Volume, 0, len(list.Volumes))
	for _, v := range list.Volumes {
		if v != nil {
			out = append(out, Volume{Name: v.Name, Labels: v.Labels, CreatedAt: v.CreatedAt})
		}
	}
	return out, nil
}

// RemoveVolume removes a named volume; one already gone is not an error. A
// volume a container still uses is: it is never forced away.
func (c *Client) RemoveVolume(ctx context.Context, name string) error {
	err := c.api.VolumeRemove(ctx, name, false)
	if err == nil || cerrdefs.IsNotFound(err) {
		return nil
	}
	return fmt.Errorf("remove volume %s: %w", name, classify(err))
}
