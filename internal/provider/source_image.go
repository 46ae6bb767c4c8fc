package provider

import (
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/image"
)

// imageKind is the source.image block.
var imageKind = sourceKind{
	name:  image.Kind,
	block: imageBlock,
	in:    func(m *sourceModel) bool { return m.Image != nil },
	source: func(m, _ *sourceModel) (plugin.Source, bool) {
		return m.Image.source()
	},
	model: func(src plugin.Source, _ *sourceModel) (*sourceModel, bool) {
		c, ok := src.(*image.Config)
		if !ok {
			return nil, false
		}
		return &sourceModel{Image: imageModelOf(c)}, true
	},
}

// imageModel is the source.image block.
type imageModel struct {
	Ref         types.String `tfsdk:"ref"`
	Port        types.Int64  `tfsdk:"port"`
	Healthcheck types.String `tfsdk:"healthcheck"`
	Pull        types.String `tfsdk:"pull"`
}

func imageBlock() schema.Block {
	return schema.SingleNestedBlock{
		MarkdownDescription: "A registry image, pulled per `pull`. With a proxy routing the workload, it deploys " +
			"blue-green by default.",
		Validators: []validator.Object{requiredInBlock("ref")},
		Attributes: map[string]schema.Attribute{
			"ref": schema.StringAttribute{
				MarkdownDescription: "Required. Image reference, e.g. `ghcr.io/acme/web:1.4.2`. A new ref redeploys.",
				Optional:            true,
				Validators:          []validator.String{engineRule("an image reference", image.ValidateRef)},
			},
			"port":        portAttribute(),
			"healthcheck": healthcheckAttribute(),
			"pull": schema.StringAttribute{
				MarkdownDescription: "When to pull the image: `missing` (default: only when the Docker host lacks it), " +
					"`always` (on every deploy), or `never` (the image must already be on the host).",
				Optional:   true,
				Computed:   true,
				Default:    stringdefault.StaticString(image.PullMissing),
				Validators: []validator.String{stringvalidator.OneOf(image.PullPolicies...)},
			},
		},
	}
}

// portAttribute is the container port of the image and dockerfile
// sources: without it the workload is a worker.
func portAttribute() schema.Int64Attribute {
	return schema.Int64Attribute{
		MarkdownDescription: "Container port the workload serves HTTP on; it is published on the provider's " +
			"`publish_address`. A new port redeploys. Leave it out for a worker (a queue consumer, a scheduler): " +
			"it gets no route and no published port, `domains`, `healthcheck` and `host_port` are refused, and its " +
			"gate is the liveness window (running, not restarting, for a few seconds).",
		Optional:   true,
		Validators: []validator.Int64{engineIntRule("a port", plugin.ValidatePort)},
	}
}

// healthcheckAttribute is the readiness probe path of every source.
func healthcheckAttribute() schema.StringAttribute {
	return schema.StringAttribute{
		MarkdownDescription: "HTTP path probed on a new container until it answers 2xx or 3xx (within " +
			"`health_timeout`) before it takes traffic. Without it, the container must stay up, not restarting, " +
			"for a liveness window of a few seconds.",
		Optional: true,
		Validators: []validator.String{
			stringvalidator.LengthAtLeast(1),
			engineRule("an absolute HTTP path", plugin.ValidateHealthcheck),
		},
	}
}

func (m *imageModel) source() (plugin.Source, bool) {
	known := !m.Ref.IsUnknown() && !m.Port.IsUnknown() && !m.Healthcheck.IsUnknown() && !m.Pull.IsUnknown()
	return &image.Config{
		Ref:         m.Ref.ValueString(),
		Port:        int(m.Port.ValueInt64()),
		Healthcheck: m.Healthcheck.ValueString(),
		Pull:        m.Pull.ValueString(),
	}, known
}

func imageModelOf(c *image.Config) *imageModel {
	pull := c.Pull
	if pull == "" {
		pull = image.PullMissing
	}
	return &imageModel{
		Ref:         types.StringValue(c.Ref),
		Port:        optionalInt(c.Port),
		Healthcheck: optionalString(c.Healthcheck),
		Pull:        types.StringValue(pull),
	}
}

// optionalInt maps 0 to null, as an optional attribute left out is.
func optionalInt(n int) types.Int64 {
	if n == 0 {
		return types.Int64Null()
	}
	return types.Int64Value(int64(n))
}

// optionalString maps "" to null, as an optional attribute left out is.
func optionalString(s string) types.String {
	if s == "" {
		return types.StringNull()
	}
	return types.StringValue(s)
}
