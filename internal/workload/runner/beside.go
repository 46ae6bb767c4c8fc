package runner

import (
	"context"
	"fmt"
	"slices"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/compose"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
)

// Beside is what UpBeside started of a stack's routed service beside its
// running containers.
type Beside struct {
	// New are the routed service's new containers, with their addresses;
	// empty when it did not change, or did not run (then compose created
	// or started it as it does).
	New []Instance
	// Old are its containers from before, which keep serving until they
	// are retired.
	Old []Instance
	// Healthchecked says the compose file gives the routed service a
	// healthcheck: the Up waited for the new containers to pass it.
	Healthchecked bool
}

// UpBeside brings the stack of spec up at art's project as Up does, except
// for the routed service: when it changed, compose creates its new
// containers beside the running ones instead of recreating them
// (compose.Runtime.UpBeside), and Beside says which are which. When the
// Up fails, Beside still lists the new containers it made, for the caller
// to retire.
func (s *Stacks) UpBeside(ctx context.Context, spec workload.Spec, art plugin.Artifact, warn func(string)) (Beside, error) {
	project, ok := art.Project.(*compose.Project)
	if !ok || project == nil {
		return Beside{}, fmt.Errorf("workload %q: no compose project to bring up", spec.Name)
	}
	cfg := stackConfig(spec)
	if cfg.Service == "" {
		return Beside{}, fmt.Errorf("workload %q routes no service of its stack", spec.Name)
	}
	b, upErr := s.Compose.UpBeside(ctx, project, s.upOptions(ctx, spec, warn), cfg.Service)
	if len(b.New) == 0 && len(b.Old) == 0 {
		return Beside{}, upErr
	}
	// The containers as the engine lists them, for their addresses, on a
	// context of its own: the Up's may be spent.
	listCtx, cancel := CleanupContext(ctx)
	defer cancel()
	containers, err := s.Docker.ListContainers(listCtx, workload.LabelStack+"="+spec.Name)
	if err != nil {
		return Beside{}, fmt.Errorf("list stack containers: %w", err)
	}
	st := Stack{Name: spec.Name}
	var out Beside
	if svc, ok := project.Service(cfg.Service); ok {
		out.Healthchecked = svc.Healthcheck
	}
	for _, ct := range containers {
		in := s.instanceRouting(ct, st, cfg.Service, cfg.Service, cfg.Port)
		switch {
		case slices.ContainsFunc(b.New, func(c compose.Container) bool { return c.ID == ct.ID }):
			out.New = append(out.New, in)
		case slices.ContainsFunc(b.Old, func(c compose.Container) bool { return c.ID == ct.ID }):
			out.Old = append(out.Old, in)
		}
	}
	return out, upErr
}

// Retire stops and removes containers of spec's stack (compose's own
// containers: a routed service's old or failed ones).
func (s *Stacks) Retire(ctx context.Context, spec workload.Spec, ins []Instance) error {
	if len(ins) == 0 {
		return nil
	}
	ids := make([]string, len(ins))
	for i, in := range ins {
		ids[i] = in.ID
	}
	return s.Compose.Retire(ctx, spec.Name, ids)
}
