package rollout

import (
	"context"
	"fmt"
	"strings"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
)

// Teardown removes the workload's route, every instance of the workload that
// spec's owner manages, and the images a building source made for it. Named
// volumes stay: they are data. Instances of the name that another owner
// deployed are left alone, and so is the route then: they are that owner's.
// An image that cannot be removed (a container outside the workload still
// uses it) is a warning: what the workload ran is gone.
func (e *Engine) Teardown(ctx context.Context, spec workload.Spec) (warnings []string, err error) {
	defer e.invalidate()
	if e.Services != nil || e.Stacks != nil {
		h, err := e.load(ctx, spec.Name)
		if err != nil {
			return nil, err
		}
		switch o := h.observed(spec.Name, spec.Owner); {
		case o.Swarm != nil:
			return e.teardownService(ctx, spec, o)
		case o.Stack != nil:
			return e.teardownStack(ctx, spec, o)
		}
	}
	// Only the instances are needed: the route goes whatever it says, and
	// Router.Delete finds it itself.
	byWorkload, unreadable, err := e.Runtime.List(ctx, spec.Name)
	if err != nil {
		return nil, err
	}
	o := reconcile(spec.Name, spec.Owner, byWorkload[spec.Name], nil)
	own := o.all()
	for _, in := range unreadable {
		e.log().WarnContext(ctx, "removing a container with unreadable labels", "container", in.Name)
		own = append(own, in)
	}
	if len(o.Foreign) > 0 {
		warnings = append(warnings, fmt.Sprintf("containers %s of workload %q record another owner (%s): they belong to another "+
			"Terraform state and were left alone, with the workload's route", strings.Join(o.ForeignNames(), ", "), spec.Name,
			strings.Join(o.ForeignOwners(), ", ")))
	} else if e.Router != nil {
		if err := e.Router.Delete(ctx, spec.Name); err != nil {
			return nil, fmt.Errorf("remove the route of workload %q: %w", spec.Name, err)
		}
	}
	if err := e.reap(ctx, spec.Name, own); err != nil {
		return warnings, err
	}
	if len(o.Foreign) == 0 {
		warnings = append(warnings, e.pruneAll(ctx, spec)...)
		warnings = append(warnings, e.retire(ctx, spec)...)
	}
	return warnings, nil
}

// retire tells the source's origin that the workload is gone (its preview
// on the Git host), best effort: what it cannot tell is a warning.
func (e *Engine) retire(ctx context.Context, spec workload.Spec) []string {
	r, ok := spec.Source.(plugin.Reporter)
	if !ok {
		return nil
	}
	if err := r.Report(ctx, spec.Name, "", plugin.DeployRetired, "destroyed"); err != nil {
		msg := fmt.Sprintf("the Git host was not told that workload %q is gone: %v", spec.Name, err)
		e.log().WarnContext(ctx, msg)
		return []string{msg}
	}
	return nil
}

// pruneAll lets a building source remove every image of the workload it
// built; what it cannot remove is a warning.
func (e *Engine) pruneAll(ctx context.Context, spec workload.Spec) []string {
	if err := e.pruneImages(ctx, spec, nil); err != nil {
		return []string{fmt.Sprintf("images of workload %q were left on the Docker host: %v", spec.Name, err)}
	}
	return nil
}

// pruneImages lets a building source remove the workload's images but the
// IDs in keep; a source that builds nothing has none to remove.
func (e *Engine) pruneImages(ctx context.Context, spec workload.Spec, keep []string) error {
	p, ok := spec.Source.(plugin.Pruner)
	if !ok {
		return nil
	}
	return p.Prune(ctx, plugin.ProduceEnv{Images: e.Images, Log: e.log(), Workload: spec.Name}, keep)
}

// teardownStack takes a stack down: its route, compose down (containers,
// networks, the images it built; named volumes only with the source's
// remove_volumes), its records, the source's checkout, and the workload's
// containers outside the stack. A stack another owner deployed is left
// alone.
func (e *Engine) teardownStack(ctx context.Context, spec workload.Spec, o Observed) ([]string, error) {
	if len(o.Foreign) > 0 {
		return []string{fmt.Sprintf("workload %q records another owner (%s): it belongs to another Terraform state and was left "+
			"alone, with its route", spec.Name, strings.Join(o.ForeignOwners(), ", "))}, nil
	}
	if e.Router != nil {
		if err := e.Router.Delete(ctx, spec.Name); err != nil {
			return nil, fmt.Errorf("remove the route of workload %q: %w", spec.Name, err)
		}
	}
	if err := e.Stacks.Down(ctx, spec); err != nil {
		return nil, fmt.Errorf("workload %q: %w", spec.Name, err)
	}
	if err := e.reap(ctx, spec.Name, o.Strays); err != nil {
		return nil, err
	}
	var warnings []string
	if f, ok := spec.Source.(interface{ Forget(workload string) error }); ok {
		if err := f.Forget(spec.Name); err != nil {
			warnings = append(warnings, err.Error())
		}
	}
	return append(warnings, e.retire(ctx, spec)...), nil
}
