package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/rollout"
)

// planComputed plans the computed attributes. A redeploy raises the
// generation and leaves what the new container will be unknown; otherwise
// the live container stays, and only the route and the strays converge.
func (m *workloadModel) planComputed(state *workloadModel, redeploy bool, traits rollout.Traits) {
	m.ID = m.Name
	m.Status = types.StringValue(string(rollout.StatusRunning))
	m.StrayContainers = stringList(nil)
	m.Services = types.MapNull(serviceType)
	wantsRoute := m.Domains.IsUnknown() || len(m.Domains.Elements()) > 0
	// A workload its runtime brings back (a stack, by compose) may have a
	// new container for its routed service: what it will be is known after
	// the apply.
	restarted := traits.Resumes && state != nil && state.Status.ValueString() != string(rollout.StatusRunning)
	if traits.Services {
		m.Services = types.MapUnknown(serviceType)
		if !redeploy && state != nil {
			m.Services = runningServices(state.Services)
		}
	}
	m.ReplicasRunning = m.Replicas
	scaled := !redeploy && state != nil && (!m.Replicas.Equal(state.Replicas) || !state.ReplicasRunning.Equal(m.Replicas))
	if redeploy || restarted {
		gen := int64(1)
		switch {
		case redeploy && state != nil:
			gen = state.Generation.ValueInt64() + 1
		case state != nil:
			gen = state.Generation.ValueInt64()
		}
		m.Generation = types.Int64Value(gen)
		m.ContainerID = types.StringUnknown()
		m.ContainerName = types.StringUnknown()
		m.ImageID = types.StringUnknown()
		m.Upstream = types.StringUnknown()
		m.Upstreams = types.ListUnknown(types.StringType)
		m.RoutedTo = types.StringNull()
		if wantsRoute {
			m.RoutedTo = types.StringUnknown()
		}
		return
	}
	m.Generation = state.Generation
	m.ContainerID = state.ContainerID
	m.ContainerName = state.ContainerName
	m.ImageID = state.ImageID
	m.Upstream = state.Upstream
	m.Upstreams = state.Upstreams
	m.RoutedTo = types.StringNull()
	switch {
	case scaled:
		// Replicas started or reaped: their addresses come with them; the
		// primary container may be one that goes.
		m.Upstreams = types.ListUnknown(types.StringType)
		m.ContainerID, m.ContainerName, m.Upstream = types.StringUnknown(), types.StringUnknown(), types.StringUnknown()
		if wantsRoute {
			m.RoutedTo = types.StringUnknown()
		}
	case wantsRoute:
		var ups []string
		state.Upstreams.ElementsAs(context.Background(), &ups, false)
		m.RoutedTo = types.StringValue(joinUpstreams(ups))
	}
}

// runningServices is services with every service running what it asks
// for: what an apply brings a stack back to.
func runningServices(services types.Map) types.Map {
	if services.IsNull() || services.IsUnknown() {
		return services
	}
	elems := map[string]attr.Value{}
	for name, v := range services.Elements() {
		o, ok := v.(types.Object)
		if !ok {
			return types.MapUnknown(serviceType)
		}
		desired, _ := o.Attributes()["desired"].(types.Int64)
		elems[name] = types.ObjectValueMust(serviceType.AttrTypes, map[string]attr.Value{
			"state": types.StringValue("running"), "running": types.Int64Value(max(desired.ValueInt64(), 1)), "desired": desired,
		})
	}
	return types.MapValueMust(serviceType, elems)
}

// planPrebuilt plans image_id for a redeploy of a commit whose image is
// still on the Docker host (a rollback to a pinned commit, a change of
// settings): the apply runs that image without cloning or building, and
// the plan says so.
func (m *workloadModel) planPrebuilt(ctx context.Context, engine *rollout.Engine, spec workload.Spec) diag.Diagnostics {
	var diags diag.Diagnostics
	pb, ok := spec.Source.(plugin.Prebuilder)
	if !ok || m.CommitSHA.IsUnknown() || m.CommitSHA.IsNull() {
		return diags
	}
	commit := m.CommitSHA.ValueString()
	id, err := pb.Built(ctx, engine.Images, spec.Name, commit)
	switch {
	case err != nil:
		tflog.Warn(ctx, "cannot tell whether the image of the planned commit is built; the apply looks again", map[string]any{"workload": spec.Name, "error": err.Error()})
	case id != "":
		tflog.Info(ctx, "the image of the planned commit is on the Docker host; the apply deploys it without a build", map[string]any{"workload": spec.Name, "commit": commit, "image_id": id})
		m.ImageID = types.StringValue(id)
	}
	return diags
}

// checkPrebuilt checks, before a redeploy whose plan named the image to
// run, that the image is still there: a build now would deploy another
// image than the plan showed.
func checkPrebuilt(ctx context.Context, engine *rollout.Engine, spec workload.Spec, plan *workloadModel) error {
	pb, ok := spec.Source.(plugin.Prebuilder)
	if !ok || plan.ImageID.IsUnknown() || plan.ImageID.IsNull() {
		return nil
	}
	id, err := pb.Built(ctx, engine.Images, spec.Name, plan.CommitSHA.ValueString())
	if err != nil {
		return err
	}
	if id != plan.ImageID.ValueString() {
		return fmt.Errorf("the plan deploys image %s of commit %s without a build, but it is no longer on the Docker host; run terraform plan again",
			plan.ImageID.ValueString(), plan.CommitSHA.ValueString())
	}
	return nil
}

// warnIfDeployed warns, when the plan creates a workload, that its name is
// deployed already: the apply will refuse it before anything runs, since
// only import adopts a running workload. A warning, not an error: terraform
// destroy plans the configuration too, and a name taken on the Docker host
// must not block the destroy of everything else.
func warnIfDeployed(ctx context.Context, engine *rollout.Engine, spec workload.Spec) diag.Diagnostics {
	var diags diag.Diagnostics
	o, err := engine.Observe(ctx, spec.Name, "")
	if err != nil {
		diags.AddError("Cannot read workload "+spec.Name, err.Error())
		return diags
	}
	if len(o.Live) == 0 {
		return diags
	}
	err = &rollout.AlreadyDeployedError{Name: spec.Name, Containers: append(o.LiveNames(), o.StrayNames()...)}
	diags.AddAttributeWarning(path.Root("name"), "The apply will refuse to create workload "+spec.Name, err.Error())
	return diags
}
