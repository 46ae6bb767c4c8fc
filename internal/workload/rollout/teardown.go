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
	h, err := e.load(ctx, spec.Name)
	if err != nil {
		return nil, err
	}
	o := h.observed(spec.Name, spec.Owner)
	p := o.rt().pipeline()
	return p.teardown(ctx, &deployment{Engine: e, pipe: p, spec: spec, cur: o}, h)
}

// removeWhole tears down a workload its runtime runs as a whole (a stack,
// a Swarm service, the what of the messages): when another owner deployed
// it, nothing is touched, its route neither, and left says so; else its
// route goes, then what remove removes, then the containers of its name
// outside it.
func (d *deployment) removeWhole(ctx context.Context, what string, remove func(context.Context) error) (left []string, err error) {
	name, o := d.spec.Name, d.cur
	if len(o.Foreign) > 0 {
		return []string{fmt.Sprintf("%s %q records another owner (%s): it belongs to another Terraform state and was left "+
			"alone, with its route", what, name, strings.Join(o.ForeignOwners(), ", "))}, nil
	}
	if err := d.deleteRoute(ctx, name); err != nil {
		return nil, err
	}
	if err := remove(ctx); err != nil {
		return nil, fmt.Errorf("workload %q: %w", name, err)
	}
	return nil, d.reap(ctx, name, o.Strays)
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

// forget lets a source remove what it keeps of the workload on this
// machine (a checkout, a cached repository); what it cannot is a warning.
func (e *Engine) forget(ctx context.Context, spec workload.Spec) []string {
	f, ok := spec.Source.(plugin.Forgetter)
	if !ok {
		return nil
	}
	if err := f.Forget(spec.Name); err != nil {
		e.log().WarnContext(ctx, err.Error())
		return []string{err.Error()}
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
