package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/rollout"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/runner"
)

var (
	_ datasource.DataSource              = (*workloadDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*workloadDataSource)(nil)
)

// NewWorkloadDataSource is the tinyforge_workload data source: a deployed
// workload as the Docker host and the proxy report it, whichever state
// deployed it.
func NewWorkloadDataSource() datasource.DataSource { return &workloadDataSource{} }

type workloadDataSource struct {
	providerLink
}

// workloadDataModel is data.tinyforge_workload as Terraform holds it.
type workloadDataModel struct {
	Name              types.String `tfsdk:"name"`
	ID                types.String `tfsdk:"id"`
	SourceKind        types.String `tfsdk:"source_kind"`
	Status            types.String `tfsdk:"status"`
	Generation        types.Int64  `tfsdk:"generation"`
	CommitSHA         types.String `tfsdk:"commit_sha"`
	Image             types.String `tfsdk:"image"`
	ImageID           types.String `tfsdk:"image_id"`
	Domains           types.List   `tfsdk:"domains"`
	Upstream          types.String `tfsdk:"upstream"`
	Upstreams         types.List   `tfsdk:"upstreams"`
	RoutedTo          types.String `tfsdk:"routed_to"`
	EffectiveStrategy types.String `tfsdk:"effective_strategy"`
	ContainerName     types.String `tfsdk:"container_name"`
	ContainerID       types.String `tfsdk:"container_id"`
	Containers        types.List   `tfsdk:"containers"`
	StrayContainers   types.List   `tfsdk:"stray_containers"`
	Owner             types.String `tfsdk:"owner"`
	Services          types.Map    `tfsdk:"services"`
}

func (d *workloadDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_workload"
}

func (d *workloadDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "A workload deployed on the Docker host, read by name from its containers' labels and " +
			"its proxy route, whichever Terraform state (or none) deployed it: for outputs, and for other resources " +
			"that need its address. A name with no container is an error naming it.",
		Attributes: withAttributes(reportedDataSourceAttributes(), map[string]schema.Attribute{
			// Required
			"name": schema.StringAttribute{
				MarkdownDescription: nameDoc,
				Required:            true,
				Validators:          []validator.String{engineRule("a DNS label", workload.ValidateName)},
			},

			// Computed (and reportedAttributes)
			"source_kind": schema.StringAttribute{
				MarkdownDescription: "Kind of its source: " + sourceKindsMarkdown() + ".",
				Computed:            true,
			},
			"image": schema.StringAttribute{
				MarkdownDescription: "Image reference the live container runs: an `image` source's `ref`; the tag " +
					"of the image the provider built for the others (`tinyforge/<name>:<commit>-<inputs>`), or the " +
					"routed service's image for `compose`. Null when the image has no tag left.",
				Computed: true,
			},
			"domains": schema.ListAttribute{
				MarkdownDescription: domainsDoc + ": those of its proxy route, else those its last deploy recorded.",
				ElementType:         types.StringType,
				Computed:            true,
			},
			"containers": schema.ListAttribute{
				MarkdownDescription: "Names of every live container (every container of a stack).",
				ElementType:         types.StringType,
				Computed:            true,
			},
		}),
	}
}

func (d *workloadDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.take(req.ProviderData, &resp.Diagnostics)
}

func (d *workloadDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m workloadDataModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !d.configured(&resp.Diagnostics) {
		return
	}
	engine := d.data.engine
	name := m.Name.ValueString()
	// Any owner: the data source reads what runs, whoever deployed it.
	o, err := engine.Observe(ctx, name, "")
	if err != nil {
		resp.Diagnostics.AddError("Cannot read workload "+name, err.Error())
		return
	}
	if o.Primary() == nil {
		resp.Diagnostics.AddAttributeError(path.Root("name"), "No workload named "+name,
			fmt.Sprintf("name = %q: no container on the Docker host is labelled %s=%s (nothing of that name is deployed, "+
				"or it was destroyed).", name, workload.LabelWorkload, name))
		return
	}
	resp.Diagnostics.Append(m.read(ctx, engine, o)...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// read fills the model from what was observed. Domains, source and
// strategy are worked out as the resource's import works them out (one
// reading of the labels), without the env, which the data source never
// holds.
func (m *workloadDataModel) read(ctx context.Context, engine *rollout.Engine, o rollout.Observed) diag.Diagnostics {
	live := o.Primary()
	rec := live.Recorded
	var w workloadModel
	w.Name = m.Name
	w.Domains = stringList(rec.Settings.Domains)
	w.Env = types.MapNull(types.StringType)
	diags := w.observe(ctx, o)
	w.DeployStrategy = types.StringValue(rec.Settings.Strategy)
	if rec.Settings.HealthTimeout > 0 {
		w.HealthTimeout = types.Int64Value(int64(rec.Settings.HealthTimeout))
	}
	w.DrainTimeout = types.Int64Value(int64(rec.Settings.DrainTimeout))

	m.ID = types.StringValue(o.Name)
	m.SourceKind = types.StringValue(rec.Kind)
	m.Status = w.Status
	m.Generation = w.Generation
	m.CommitSHA = w.CommitSHA
	m.Image = imageRef(ctx, engine, *live, w.Source)
	m.ImageID = w.ImageID
	m.Domains = w.Domains
	m.Upstream = w.Upstream
	m.RoutedTo = routedTo(o, false)
	m.ContainerName = w.ContainerName
	m.ContainerID = w.ContainerID
	m.StrayContainers = w.StrayContainers
	m.Owner = optionalString(rec.Owner)
	m.Services = w.Services
	_, m.Upstreams = liveCounts(o)
	m.Containers = stringList(o.LiveNames())

	m.EffectiveStrategy = types.StringNull()
	if w.Source == nil {
		diags.AddWarning("Unreadable source label", "The source config recorded on container "+live.Name+
			" could not be read: effective_strategy is null.")
		return diags
	}
	spec, _, d := w.spec(ctx, nil)
	diags.Append(d...)
	strategy, err := engine.Validate(spec)
	if err != nil {
		// Recorded by a deploy that passed this rule: a provider configured
		// otherwise (no proxy for a blue-green workload) reads it.
		diags.AddWarning("Workload "+o.Name+" does not validate with this provider's configuration",
			"effective_strategy is null: "+err.Error())
		return diags
	}
	m.EffectiveStrategy = types.StringValue(string(strategy))
	return diags
}

// imageRef is the reference of the image the live container runs. The
// engine creates containers by image ID (exactly what was produced), so
// the container alone does not say it: an image source recorded its ref;
// a built image carries the tag the build gave it.
func imageRef(ctx context.Context, engine *rollout.Engine, live runner.Instance, src *sourceModel) types.String {
	if src != nil && src.Image != nil {
		return src.Image.Ref
	}
	if live.Image != "" && !strings.HasPrefix(live.Image, "sha256:") {
		return types.StringValue(live.Image)
	}
	if engine.Images == nil || live.ImageID == "" {
		return types.StringNull()
	}
	img, err := engine.Images.InspectImage(ctx, live.ImageID)
	if err != nil || len(img.RepoTags) == 0 {
		return types.StringNull()
	}
	return types.StringValue(img.RepoTags[0])
}
