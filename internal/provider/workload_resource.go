package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/rollout"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/gitbuild"
)

var (
	_ resource.Resource                = (*workloadResource)(nil)
	_ resource.ResourceWithConfigure   = (*workloadResource)(nil)
	_ resource.ResourceWithImportState = (*workloadResource)(nil)
	_ resource.ResourceWithModifyPlan  = (*workloadResource)(nil)
)

// NewWorkloadResource is the tinyforge_workload resource: one workload, its
// containers and its proxy route.
func NewWorkloadResource() resource.Resource { return &workloadResource{} }

type workloadResource struct {
	providerLink
}

func (r *workloadResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_workload"
}

func (r *workloadResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = workloadSchema()
}

func (r *workloadResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.take(req.ProviderData, &resp.Diagnostics)
}

func (r *workloadResource) engine(diags *diag.Diagnostics) *rollout.Engine {
	if !r.configured(diags) {
		return nil
	}
	return r.data.engine
}

func (r *workloadResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan, config workloadModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	engine := r.engine(&resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	plan.Owner = types.StringValue(newOwner())
	r.apply(ctx, engine, &plan, &config, rollout.Intent{Redeploy: true, Generation: 1, Create: true}, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *workloadResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state workloadModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	engine := r.engine(&resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	name := state.Name.ValueString()
	if state.Source == nil {
		// Import: the Docker host is the database.
		o, env, err := engine.Adopt(ctx, name)
		if err != nil {
			resp.Diagnostics.AddError("Cannot import workload "+name, err.Error())
			return
		}
		resp.Diagnostics.Append(state.adopt(ctx, engine, o, env)...)
	} else {
		o, err := engine.Observe(ctx, name, state.Owner.ValueString())
		if err != nil {
			resp.Diagnostics.AddError("Cannot read workload "+name, err.Error())
			return
		}
		if len(o.Foreign) > 0 {
			detail := fmt.Sprintf("Containers %s of workload %q record another owner (%s) than this state (%s): another Terraform "+
				"state deployed them. This state never touches them.", strings.Join(o.ForeignNames(), ", "), name,
				strings.Join(o.ForeignOwners(), ", "), state.Owner.ValueString())
			if len(o.Live) == 0 && len(o.Strays) == 0 {
				// Nothing of this state's runs any more: the name is another
				// state's workload now. Forget it; a plan to create it again
				// is refused, since only import adopts.
				resp.Diagnostics.AddWarning("Workload "+name+" belongs to another state", detail+" This state no longer manages the workload.")
				resp.State.RemoveResource(ctx)
				return
			}
			resp.Diagnostics.AddWarning("Workload "+name+" has containers of another state", detail)
		}
		resp.Diagnostics.Append(state.observe(ctx, o)...)
		resp.Diagnostics.Append(state.refreshRevision(ctx, r.data.gitTokens, resp.Private)...)
	}
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *workloadResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state, config workloadModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	engine := r.engine(&resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	if plan.Owner.IsUnknown() || plan.Owner.ValueString() == "" {
		// Deployed before owners were recorded: this state takes one now.
		plan.Owner = types.StringValue(newOwner())
	}
	// The plan decided: a redeploy shows as a rising generation.
	intent := rollout.Intent{
		Redeploy:   plan.Generation.ValueInt64() != state.Generation.ValueInt64(),
		Generation: int(plan.Generation.ValueInt64()),
	}
	r.apply(ctx, engine, &plan, &config, intent, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// apply runs the engine for a Create or an Update and records the outcome in
// plan. On failure plan is left alone: the prior state still describes what
// serves.
func (r *workloadResource) apply(ctx context.Context, engine *rollout.Engine, plan, config *workloadModel, intent rollout.Intent, diags *diag.Diagnostics) {
	spec, known, d := plan.spec(ctx, config)
	diags.Append(d...)
	if diags.HasError() {
		return
	}
	if !known {
		diags.AddError("Unknown values at apply", "Every attribute of the workload must be known at apply time.")
		return
	}
	r.data.gitTokens.complete(spec)
	intent.Revision = plan.CommitSHA.ValueString()
	if intent.Redeploy {
		if err := checkPrebuilt(ctx, engine, spec, plan); err != nil {
			diags.AddError("Deploy of workload "+spec.Name+" failed", err.Error())
			return
		}
	}
	res, err := engine.Apply(ctx, spec, intent)
	for _, w := range res.Warnings {
		diags.AddWarning("Deploy warning", w)
	}
	if err != nil {
		addEngineError(diags, "Deploy of workload "+spec.Name+" failed", atSourceAttr(spec.Source.Kind(), err, ""))
		return
	}
	diags.Append(plan.applied(ctx, res)...)
}

func (r *workloadResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state workloadModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	engine := r.engine(&resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	spec, _, _ := state.spec(ctx, nil)
	spec.Name = state.Name.ValueString()
	spec.Owner = state.Owner.ValueString()
	r.data.gitTokens.complete(spec)
	warnings, err := engine.Teardown(ctx, spec)
	for _, w := range warnings {
		resp.Diagnostics.AddWarning("Teardown warning", w)
	}
	if err != nil {
		resp.Diagnostics.AddError("Teardown of workload "+spec.Name+" failed", err.Error())
	}
}

// ImportState adopts a deployed workload by name; Read then rebuilds every
// attribute from the containers' labels and the proxy route.
func (r *workloadResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if err := workload.ValidateName(req.ID); err != nil {
		resp.Diagnostics.AddError("Invalid import ID", "The import ID is the workload name: "+err.Error())
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("name"), req.ID)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
}

// ModifyPlan validates the whole workload against the engine's rules (the
// ones that need the provider configuration, such as "blue-green needs a
// proxy"), and plans the computed attributes: whether a new container is
// needed shows as a rising generation.
func (r *workloadResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.data == nil {
		return // destroy, or a provider configured with unknown values
	}
	engine := r.data.engine
	var plan, config workloadModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(plan.planPreviewURL(ctx, &config, r.data.https)...)
	spec, known, d := plan.spec(ctx, &config)
	resp.Diagnostics.Append(d...)
	if resp.Diagnostics.HasError() {
		return
	}
	viaGitAuth := r.data.gitTokens.complete(spec)
	plan.EffectiveStrategy = types.StringUnknown()
	if known {
		strategy, err := engine.Validate(spec)
		if err != nil {
			addEngineError(&resp.Diagnostics, "Invalid workload "+spec.Name, err)
			return
		}
		plan.EffectiveStrategy = types.StringValue(string(strategy))
		if g, kind := plan.Source.gitOf(); g != nil && gitbuild.IsFileURL(g.URL.ValueString()) && !r.data.localEngine {
			resp.Diagnostics.AddAttributeError(path.Root("source").AtName(kind).AtName("url"), "file:// needs a local Docker engine",
				fmt.Sprintf("url %q is a repository on the disk of the machine terraform runs on, and the Docker engine is "+
					"elsewhere (docker_host): it would not hold that repository. Serve it over ssh:// or https://, or "+
					"build a local directory with path.", g.URL.ValueString()))
			return
		}
		if err := engine.CheckDomains(ctx, spec); err != nil {
			resp.Diagnostics.AddAttributeWarning(path.Root("domains"), "The apply will refuse this domain",
				err.Error()+"\n\n(A warning at plan time, since terraform destroy plans the configuration too; the apply refuses it before anything runs.)")
		}
	}

	var state *workloadModel
	if !req.State.Raw.IsNull() {
		state = &workloadModel{}
		resp.Diagnostics.Append(req.State.Get(ctx, state)...)
		if resp.Diagnostics.HasError() {
			return
		}
	} else if known {
		resp.Diagnostics.Append(warnIfDeployed(ctx, engine, spec)...)
	}
	resp.Diagnostics.Append(warnEnvNotSet(state, &config)...)
	resp.Diagnostics.Append(plan.TLS.expiryWarning()...)
	resp.Diagnostics.Append(plan.planRevision(ctx, spec, known, state, &config, req.Private, viaGitAuth)...)
	if resp.Diagnostics.HasError() {
		return
	}

	// A workload whose runtime resumes what stopped (a stack: compose
	// starts what is stopped and leaves the rest alone) is brought back
	// without a new generation.
	traits := engine.Traits(spec)
	redeploy := state == nil || !known || (!traits.Resumes && state.Status.ValueString() != string(rollout.StatusRunning)) ||
		!plan.CommitSHA.Equal(state.CommitSHA)
	if !redeploy {
		prev, prevKnown, _ := state.spec(ctx, nil)
		redeploy = !prevKnown || workload.NeedsRedeploy(prev, spec)
	}
	// What a deploy would deploy is checked when there is a deploy to
	// come: what runs was checked when it was planned.
	if checker, ok := spec.Source.(plugin.Checker); ok && redeploy && known && !plan.CommitSHA.IsUnknown() && !plan.CommitSHA.IsNull() {
		if err := checker.Check(ctx, plan.CommitSHA.ValueString(), spec.Env); err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("source").AtName(spec.Source.Kind()), "Invalid "+spec.Source.Kind()+" project at the planned commit", err.Error())
			return
		}
	}
	plan.planComputed(state, redeploy, traits)
	if redeploy && state != nil && known {
		resp.Diagnostics.Append(plan.planPrebuilt(ctx, engine, spec)...)
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}
