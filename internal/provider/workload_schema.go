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
					"blue-green when the workload is routed by a proxy, else recreate; a routed `compose` stack updates its " +
					"routed service `start-first` (its new container gated beside the old one, within the stack, before " +
					"the route moves), and refuses `blue-green`.",
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
				MarkdownDescription: "The strategy a redeploy uses, with `\"\"` resolved to the source's default: " +
					"`recreate`, `blue-green`, or `start-first` (a routed `compose` stack's own update of its routed service).",
				Computed: true,
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
