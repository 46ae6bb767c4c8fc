package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/objectvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/mapdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/rollout"
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
	data *providerData
}

func (r *workloadResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_workload"
}

func (r *workloadResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "A workload deployed onto the Docker host: its image is produced (pulled or built), " +
			"its container started, health-gated and routed behind the proxy. A change that needs a new container " +
			"redeploys it by `deploy_strategy`: `recreate` stops the old container first, `blue-green` starts the " +
			"new one beside it and swaps the proxy route only once the new one passed its gate.\n\n" +
			"Refresh reconciles the state with the real containers and route: a container stopped or removed by " +
			"hand, a stray container left by an interrupted deploy, or a route edited by hand shows in the next plan " +
			"(`status`, `stray_containers`, `routed_to`), and the next apply converges.",
		Attributes: withAttributes(runAttributes(), map[string]schema.Attribute{
			// Required
			"name": schema.StringAttribute{
				MarkdownDescription: "Name of the workload, a DNS label. It names the containers " +
					"(`<name>-<generation>-<random>`) and the proxy route. Changing it replaces the workload.",
				Required:      true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
				Validators:    []validator.String{engineRule("a DNS label", workload.ValidateName)},
			},

			// Optional
			"deploy_strategy": schema.StringAttribute{
				MarkdownDescription: "How a redeploy replaces the running container: `recreate` (stop, then start: a short " +
					"downtime), `blue-green` (start beside, gate, swap the route, retire: no downtime; needs a proxy and " +
					"`domains`, and no `host_port`), or `\"\"` (default) for the source's default: `image` deploys " +
					"blue-green when the workload is routed by a proxy, else recreate.",
				Optional:   true,
				Computed:   true,
				Default:    stringdefault.StaticString(""),
				Validators: []validator.String{engineRule("a deploy strategy", plugin.CheckStrategy)},
			},
			"domains": schema.ListAttribute{
				MarkdownDescription: "Hostnames the proxy routes to the workload's live container. Needs a `proxy` " +
					"block in the provider configuration.",
				ElementType: types.StringType,
				Optional:    true,
				Computed:    true,
				Default:     listdefault.StaticValue(types.ListValueMust(types.StringType, nil)),
				Validators: []validator.List{
					listvalidator.UniqueValues(),
					listvalidator.ValueStringsAre(engineRule("a hostname", proxy.ValidateDomain)),
				},
			},
			"env": schema.MapAttribute{
				MarkdownDescription: "Environment variables of the container. Values are secrets: they never appear in " +
					"logs, errors or labels (their names are recorded in a label, so that import can read them back).",
				ElementType: types.StringType,
				Optional:    true,
				Computed:    true,
				Sensitive:   true,
				Default:     mapdefault.StaticValue(types.MapValueMust(types.StringType, nil)),
				Validators: []validator.Map{
					mapvalidator.KeysAre(engineRule("an environment variable name", workload.ValidateEnvName)),
				},
			},
			"host_port": schema.Int64Attribute{
				MarkdownDescription: "Fixed host port to publish the container port on. Without it the engine picks a " +
					"free port (see `upstream`). A fixed port cannot be shared by blue and green, so it excludes " +
					"`blue-green`.",
				Optional:   true,
				Validators: []validator.Int64{engineIntRule("a port", workload.ValidateHostPort)},
			},
			"health_timeout": schema.Int64Attribute{
				MarkdownDescription: "Seconds a new container has to answer its `healthcheck` with a 2xx or 3xx before " +
					"the deploy fails. Defaults to 60.",
				Optional:   true,
				Computed:   true,
				Default:    int64default.StaticInt64(int64(workload.DefaultHealthTimeout.Seconds())),
				Validators: []validator.Int64{int64validator.Between(1, 3600)},
			},
			"drain_timeout": schema.Int64Attribute{
				MarkdownDescription: "Seconds the old container keeps serving its in-flight requests after a blue-green " +
					"swap, before it is sent SIGTERM. Defaults to 5.",
				Optional:   true,
				Computed:   true,
				Default:    int64default.StaticInt64(int64(workload.DefaultDrainTimeout.Seconds())),
				Validators: []validator.Int64{int64validator.Between(0, 3600)},
			},

			// Computed
			"id": schema.StringAttribute{
				MarkdownDescription: "The workload name.",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"container_id": schema.StringAttribute{
				MarkdownDescription: "ID of the live container.",
				Computed:            true,
			},
			"container_name": schema.StringAttribute{
				MarkdownDescription: "Name of the live container.",
				Computed:            true,
			},
			"image_id": schema.StringAttribute{
				MarkdownDescription: "ID of the image the live container runs.",
				Computed:            true,
			},
			"generation": schema.Int64Attribute{
				MarkdownDescription: "Deploy counter: 1 on create, +1 per redeploy. The plan shows it rise when a " +
					"change needs a new container.",
				Computed: true,
			},
			"upstream": schema.StringAttribute{
				MarkdownDescription: "`host:port` the live container answers on (the address the proxy forwards to).",
				Computed:            true,
			},
			"effective_strategy": schema.StringAttribute{
				MarkdownDescription: "The strategy a redeploy uses, with `\"\"` resolved to the source's default.",
				Computed:            true,
			},
			"commit_sha": schema.StringAttribute{
				MarkdownDescription: "Git sources: the commit deployed. The plan resolves the branch head, so a new " +
					"push shows here as a change.",
				Computed: true,
			},
			"status": schema.StringAttribute{
				MarkdownDescription: "State of the live container as last seen: `running`, `stopped`, `restarting` or " +
					"`missing`. Anything but `running` plans a redeploy.",
				Computed: true,
			},
			"stray_containers": schema.ListAttribute{
				MarkdownDescription: "Containers of this workload that are not live (left by an interrupted deploy); " +
					"the next apply removes them.",
				ElementType: types.StringType,
				Computed:    true,
			},
			"owner": schema.StringAttribute{
				MarkdownDescription: "Random ID of the Terraform state that manages the workload, made when it is created " +
					"and recorded on its containers (label `tinyforge.owner`). A state never replaces, re-routes or destroys " +
					"containers that record another owner, and creating a workload whose name is already deployed is refused: " +
					"only import adopts a running workload (it takes the owner the workload records). Null for a workload " +
					"deployed before owners were recorded, until its next apply.",
				Computed:      true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"services": schema.MapNestedAttribute{
				MarkdownDescription: "A `compose` stack's services as last seen: `state` (`running`, `stopped` or `missing`), " +
					"and how many containers run of how many are `desired`. A service stopped or removed by hand shows " +
					"here, and the next apply brings it back without touching the others. Null for other sources.",
				Computed: true,
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"state":   schema.StringAttribute{Computed: true, MarkdownDescription: "`running`, `stopped` or `missing`."},
					"running": schema.Int64Attribute{Computed: true, MarkdownDescription: "Containers of the service that run."},
					"desired": schema.Int64Attribute{Computed: true, MarkdownDescription: "Containers the project asks for."},
				}},
			},
			"replicas_running": schema.Int64Attribute{
				MarkdownDescription: "Containers of the live generation that run, as last seen; fewer than `replicas` plans " +
					"their replacement.",
				Computed: true,
			},
			"upstreams": schema.ListAttribute{
				MarkdownDescription: "`host:port` of every live container (one per replica), sorted.",
				ElementType:         types.StringType,
				Computed:            true,
			},
			"routed_to": schema.StringAttribute{
				MarkdownDescription: "Upstreams the proxy route points at, as last seen, sorted and joined by `, ` " +
					"(`\"\"` when the route is missing); null when the workload has no domains. It differing from " +
					"`upstreams` plans a route fix.",
				Computed: true,
			},
		}),
		Blocks: map[string]schema.Block{
			"volume": schema.ListNestedBlock{
				MarkdownDescription: "A named volume or host directory mounted into the container. Named volumes are " +
					"data: destroy leaves them in place.",
				NestedObject: schema.NestedBlockObject{
					Attributes: map[string]schema.Attribute{
						"source": schema.StringAttribute{
							MarkdownDescription: "Volume name, or an absolute host path for a bind mount.",
							Required:            true,
							Validators:          []validator.String{engineRule("a volume name or absolute path", workload.ValidateVolumeSource)},
						},
						"target": schema.StringAttribute{
							MarkdownDescription: "Absolute path in the container.",
							Required:            true,
							Validators:          []validator.String{engineRule("an absolute path", workload.ValidateVolumeTarget)},
						},
						"read_only": schema.BoolAttribute{
							MarkdownDescription: "Mount read-only. Defaults to `false`.",
							Optional:            true,
							Computed:            true,
							Default:             booldefault.StaticBool(false),
						},
					},
				},
			},
			"source": schema.SingleNestedBlock{
				MarkdownDescription: "What the workload runs: exactly one of " + sourceKindsMarkdown() + ".",
				Validators: []validator.Object{
					objectvalidator.IsRequired(),
					exactlyOneSourceKind{},
				},
				Blocks: sourceBlocks(),
			},
		},
	}
}

func (r *workloadResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	if req.ProviderData == nil {
		return
	}
	data, ok := req.ProviderData.(*providerData)
	if !ok {
		resp.Diagnostics.AddError("Unexpected provider data", fmt.Sprintf("expected *providerData, got %T", req.ProviderData))
		return
	}
	r.data = data
}

func (r *workloadResource) engine(diags *diag.Diagnostics) *rollout.Engine {
	if r.data == nil {
		diags.AddError("Provider not configured",
			"The tinyforge provider configuration has values that are not known yet; apply what they depend on first.")
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
		addEngineError(diags, "Deploy of workload "+spec.Name+" failed", err)
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

// withAttributes merges attribute maps; a name in two is a programming
// error.
func withAttributes(maps ...map[string]schema.Attribute) map[string]schema.Attribute {
	out := map[string]schema.Attribute{}
	for _, m := range maps {
		for name, a := range m {
			if _, dup := out[name]; dup {
				panic("attribute declared twice: " + name)
			}
			out[name] = a
		}
	}
	return out
}

// addEngineError reports an engine error, pointing each broken rule at its
// attribute.
func addEngineError(diags *diag.Diagnostics, summary string, err error) {
	for _, fe := range fieldErrors(err) {
		diags.AddAttributeError(attrPath(fe.Attr), summary, fe.Err.Error())
	}
	if !diags.HasError() {
		diags.AddError(summary, err.Error())
	}
}

// attrPath turns an engine attribute path ("volume[1].target") into a
// Terraform path.
func attrPath(attr string) path.Path {
	var p path.Path
	for i, part := range strings.Split(attr, ".") {
		name, index := part, -1
		if open := strings.IndexByte(part, '['); open > 0 && strings.HasSuffix(part, "]") {
			name = part[:open]
			fmt.Sscanf(part[open+1:len(part)-1], "%d", &index)
		}
		if i == 0 {
			p = path.Root(name)
		} else {
			p = p.AtName(name)
		}
		if index >= 0 {
			p = p.AtListIndex(index)
		}
	}
	return p
}

// stringList is a known list of strings, never null.
func stringList(ss []string) types.List {
	elems := make([]attr.Value, 0, len(ss))
	for _, s := range ss {
		elems = append(elems, types.StringValue(s))
	}
	return types.ListValueMust(types.StringType, elems)
}
