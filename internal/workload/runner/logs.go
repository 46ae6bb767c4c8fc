package runner

import (
	"context"
	"fmt"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
)

// LogLines returns the lines the instance wrote per q, with their stream
// and time.
func (c *Containers) LogLines(ctx context.Context, in Instance, q docker.LogQuery) ([]docker.LogLine, error) {
	lines, err := c.Docker.ContainerLogLines(ctx, in.ID, q)
	if err != nil {
		return nil, fmt.Errorf("logs of container %s: %w", in.Name, err)
	}
	return lines, nil
}

// LogLines returns the lines each running task of the service writes per
// q, by task ("<service>.<task ID>"), wherever it runs: as the manager
// collects them.
func (s *Services) LogLines(ctx context.Context, svc SwarmService, q docker.LogQuery) (map[string][]docker.LogLine, error) {
	tasks, err := s.Docker.ServiceTasks(ctx, svc.ID)
	if err != nil {
		return nil, err
	}
	out := map[string][]docker.LogLine{}
	for _, t := range tasks {
		if !t.Running() || t.Image != svc.Image {
			continue
		}
		lines, err := s.Docker.TaskLogLines(ctx, t.ID, q)
		if err != nil {
			return nil, err
		}
		out[svc.Name+"."+short(t.ID)] = lines
	}
	return out, nil
}
