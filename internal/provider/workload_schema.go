package provider

import (
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/objectvalidator"
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

	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
)

// workloadSchema is tinyforge_workload's schema.
func workloadSchema() schema.Schema {
	return schema.Schema{
		MarkdownDescription: "A workload deployed onto the Docker host: its image is produced (pulled or built), " +
			"its container started, health-gated and routed behind the proxy. A change that needs a new container " +
			"redeploys it by `deploy_strategy`: `recreate` stops the old container first, `blue-green` starts the " +
			"new one beside it and swaps the proxy route only once the new one passed its gate.\n\n" +
			"Refresh reconciles the state with the real containers and route: a container stopped or removed by " +
			"hand, a stray container left by an interrupted deploy, or a route edited by hand shows in the next plan " +
			"(`status`, `stray_containers`, `routed_to`), and the next apply converges.",
		Attributes: withAttributes(runAttributes(), reportedResourceAttributes(), releaseAttributes(), secretEnvAttributes(), map[string]schema.Attribute{
			// Required
			"name": schema.StringAttribute{
				MarkdownDescription: nameDoc + " It names the containers (`<name>-<generation>-<random>`) and the proxy " +
					"route. Changing it replaces the workload.",
				Required:      true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
				Validators:    []validator.String{engineRule("a DNS label", workload.ValidateName)},
			},

			// Optional
			"deploy_strategy": schema.StringAttribute{
				MarkdownDescription: "How a redeploy replaces the running container: `recreate` (stop, then start: a short " +
					"downtime), `blue-green` (start beside, gate, swap the route, retire: no downtime; needs a proxy and " +
					"`domains`, and no `host_port`), or `\"\"` (default) for the source's default: `image` deploys " +
					"blue-green when the workload is routed by a proxy, else recreate; a routed `compose` stack updates its " +
					"routed service `start-first` (its new container gated beside the old one, within the stack, before " +
					"the route moves), and refuses `blue-green`.",
				Optional:   true,
				Computed:   true,
				Default:    stringdefault.StaticString(""),
				Validators: []validator.String{engineRule("a deploy strategy", plugin.CheckStrategy)},
			},
			"domains": schema.ListAttribute{
				MarkdownDescription: domainsDoc + ". Needs a `proxy` block in the provider configuration.",
				ElementType:         types.StringType,
				Optional:            true,
				Computed:            true,
				Default:             listdefault.StaticValue(types.ListValueMust(types.StringType, nil)),
				Validators: []validator.List{
					listvalidator.UniqueValues(),
					listvalidator.ValueStringsAre(engineRule("a hostname", proxy.ValidateDomain)),
				},
			},
			"env": schema.MapAttribute{
				MarkdownDescription: "Environment variables of the container (and of `release_command`). Values are " +
					"secrets: they never appear in logs, errors or labels (their names are recorded in a label, so that " +
					"import can read them back), but they are in the state (sensitive); `secret_env_wo` keeps a value " +
					"out of the state too.",
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

			// Computed (and the attributes the data source reports too:
			// reportedAttributes)
			"replicas_running": schema.Int64Attribute{
				MarkdownDescription: "Containers of the live generation that run, as last seen; fewer than `replicas` plans " +
					"their replacement.",
				Computed: true,
			},
		}),
		Blocks: map[string]schema.Block{
			"tls": tlsBlock(),
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

// withAttributes merges attribute maps (a resource's or a data source's);
// a name in two is a programming error.
func withAttributes[A any](maps ...map[string]A) map[string]A {
	out := map[string]A{}
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
