package provider

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/rollout"
)

var (
	_ datasource.DataSource              = (*workloadLogsDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*workloadLogsDataSource)(nil)
)

// NewWorkloadLogsDataSource is the tinyforge_workload_logs data source:
// the recent output of a workload's live instances, read when Terraform
// reads data sources (every plan), with the workload's secrets masked.
func NewWorkloadLogsDataSource() datasource.DataSource { return &workloadLogsDataSource{} }

type workloadLogsDataSource struct {
	providerLink
}

// defaultLogTail is how many lines of each instance are read by default.
const defaultLogTail = 100

// workloadLogsModel is data.tinyforge_workload_logs as Terraform holds it.
type workloadLogsModel struct {
	Name  types.String `tfsdk:"name"`
	Tail  types.Int64  `tfsdk:"tail"`
	Since types.String `tfsdk:"since"`
	ID    types.String `tfsdk:"id"`
	Lines types.List   `tfsdk:"lines"`
}

var logLineType = types.ObjectType{AttrTypes: map[string]attr.Type{
	"instance": types.StringType, "stream": types.StringType, "time": types.StringType, "text": types.StringType,
}}

func (d *workloadLogsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_workload_logs"
}

func (d *workloadLogsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "The recent output of a workload's live containers (every running task of a Swarm service), " +
			"whichever Terraform state deployed it: the lines each wrote on stdout and stderr, read from the Docker engine " +
			"when Terraform reads data sources (every plan and apply). The values of the workload's `env` and " +
			"`secret_env_wo` variables (read from the containers' environment, by the names their labels record) are " +
			"masked as `[masked]` where they appear verbatim; values shorter than 4 characters are left alone. A name " +
			"with no live container is an error naming it.",
		Attributes: map[string]schema.Attribute{
			// Required
			"name": schema.StringAttribute{
				MarkdownDescription: "Name of the workload.",
				Required:            true,
				Validators:          []validator.String{engineRule("a DNS label", workload.ValidateName)},
			},

			// Optional
			"tail": schema.Int64Attribute{
				MarkdownDescription: fmt.Sprintf("How many of the last lines of each container to read. Defaults to %d.", defaultLogTail),
				Optional:            true,
				Validators:          []validator.Int64{int64validator.Between(1, 10000)},
			},
			"since": schema.StringAttribute{
				MarkdownDescription: "Only lines written since then: an RFC 3339 time (`2026-01-02T15:04:05Z`), or a " +
					"duration before now (`15m`, `2h`). All the `tail` lines by default.",
				Optional:   true,
				Validators: []validator.String{engineRule("a time or a duration", func(s string) error { _, err := parseSince(s, time.Now()); return err })},
			},

			// Computed
			"id": schema.StringAttribute{
				MarkdownDescription: "The workload name.",
				Computed:            true,
			},
			"lines": schema.ListNestedAttribute{
				MarkdownDescription: "The lines, oldest first across the containers.",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"instance": schema.StringAttribute{Computed: true, MarkdownDescription: "The container that wrote it (`<service>.<task ID>` on Swarm)."},
					"stream":   schema.StringAttribute{Computed: true, MarkdownDescription: "`stdout` or `stderr`."},
					"time":     schema.StringAttribute{Computed: true, MarkdownDescription: "When the engine received it, RFC 3339 with nanoseconds."},
					"text":     schema.StringAttribute{Computed: true, MarkdownDescription: "The line, secrets masked."},
				}},
			},
		},
	}
}

// parseSince reads since: an RFC 3339 time, or a duration before now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("since must be an RFC 3339 time such as \"2026-01-02T15:04:05Z\" or a positive duration such as \"15m\" (got %q)", s)
}

func (d *workloadLogsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.take(req.ProviderData, &resp.Diagnostics)
}

func (d *workloadLogsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m workloadLogsModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !d.configured(&resp.Diagnostics) {
		return
	}
	name := m.Name.ValueString()
	q := docker.LogQuery{Tail: defaultLogTail}
	if !m.Tail.IsNull() {
		q.Tail = int(m.Tail.ValueInt64())
	}
	if !m.Since.IsNull() {
		since, err := parseSince(m.Since.ValueString(), time.Now())
		if err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("since"), "Invalid since", err.Error())
			return
		}
		q.Since = since
	}
	lines, err := d.data.engine.Logs(ctx, name, q)
	if err != nil {
		if nd := (*rollout.NotDeployedError)(nil); errors.As(err, &nd) {
			resp.Diagnostics.AddAttributeError(path.Root("name"), "No workload named "+name, fmt.Sprintf("name = %q: %s.", name, err))
			return
		}
		resp.Diagnostics.AddError("Cannot read the logs of workload "+name, err.Error())
		return
	}
	elems := make([]attr.Value, 0, len(lines))
	for _, l := range lines {
		ts := ""
		if !l.Time.IsZero() {
			ts = l.Time.UTC().Format(time.RFC3339Nano)
		}
		elems = append(elems, types.ObjectValueMust(logLineType.AttrTypes, map[string]attr.Value{
			"instance": types.StringValue(l.Instance), "stream": types.StringValue(l.Stream),
			"time": types.StringValue(ts), "text": types.StringValue(l.Text),
		}))
	}
	m.ID = types.StringValue(name)
	m.Lines = types.ListValueMust(logLineType, elems)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
