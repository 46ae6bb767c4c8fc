package provider

import (
	"strings"

	dschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/rollout"
)

// reported is an attribute that tinyforge_workload and its data source
// both report about what runs, declared once so that the two cannot
// drift: its type and what it means; each side may add a sentence of its
// own (the resource: what a plan does with the value).
type reported struct {
	kind reportedKind
	doc  string
	// resource and dataSource are said after doc by that side only.
	resource, dataSource string
	// keep keeps the state's value in a plan (UseStateForUnknown).
	keep bool
}

type reportedKind int

const (
	reportedString reportedKind = iota
	reportedInt
	reportedList // of strings
	reportedServices
)

// reportedAttributes are the attributes both report, by name.
var reportedAttributes = map[string]reported{
	"id": {kind: reportedString, doc: "The workload name.", keep: true},
	"status": {kind: reportedString, doc: "State of the workload as last seen: " + statusValues() + ".",
		resource: "Anything but `running` plans a redeploy; a `compose` stack is brought back without one."},
	"generation": {kind: reportedInt, doc: "Deploy counter of the live containers: 1 for the first deploy, +1 per redeploy.",
		resource: "The plan shows it rise when a change needs a new container."},
	"commit_sha": {kind: reportedString, doc: "Git sources: the commit deployed (`sha256:<hex>` of the directory's build context for " +
		"a `path` source); null for `image`.",
		resource: "The plan resolves the branch head, so a new push shows here as a change; for a `path` source, " +
			"a change of a file the build includes."},
	"image_id":       {kind: reportedString, doc: "ID of the image the live container runs."},
	"container_name": {kind: reportedString, doc: "Name of the live container (for a stack, its routed service's; for a Swarm service, the service's)."},
	"container_id":   {kind: reportedString, doc: "ID of the live container (for a Swarm service, the service's)."},
	"upstream": {kind: reportedString, doc: "`host:port` the live container answers on, the address the proxy forwards to " +
		"(for a stack, its routed service's; for a Swarm service, `tasks.<name>:<port>`); `\"\"` when it has none (stopped, or a " +
		"stack without a routed service)."},
	"upstreams": {kind: reportedList, doc: "`host:port` of every live container that answers on one (one per replica), sorted: " +
		"what the proxy balances over."},
	"routed_to": {kind: reportedString, doc: "Where the proxy route points, as last seen: its upstreams sorted and joined by `, ` " +
		"(`tasks.<name>:<port>` for a Swarm service).",
		resource:   "`\"\"` when the route is missing; null when the workload has no domains. It differing from `upstreams` plans a route fix.",
		dataSource: "Null when the workload has no route."},
	"effective_strategy": {kind: reportedString, doc: "The strategy a redeploy uses: `recreate`, `blue-green`, or " +
		"`start-first` (a routed `compose` stack's own update of its routed service); `deploy_strategy`, with `\"\"` " +
		"resolved to the source's default under this provider's configuration."},
	"stray_containers": {kind: reportedList, doc: "Containers of the workload that are not live (left by an interrupted deploy).",
		resource: "The next apply removes them."},
	"owner": {kind: reportedString, keep: true, doc: "ID of the Terraform state that manages the workload, recorded on its " +
		"containers (label `tinyforge.owner`); null for a workload deployed before owners were recorded.",
		resource: "This state draws it at random when it creates the workload. A state never replaces, re-routes or destroys containers " +
			"that record another owner, and creating a workload whose name is already deployed is refused: only import adopts " +
			"a running workload (it takes the owner the workload records). A workload deployed before owners were recorded " +
			"takes this state's at its next apply."},
	"services": {kind: reportedServices, doc: "A `compose` stack's services as last seen: `state` (`running`, `stopped` or " +
		"`missing`), and how many containers run of how many are `desired`. Null for other sources.",
		resource: "A service stopped or removed by hand shows here, and the next apply brings it back without touching the others."},
}

// Descriptions of the name and the domains, which the resource takes and
// the data source reports.
const (
	nameDoc    = "Name of the workload, a DNS label."
	domainsDoc = "Hostnames the proxy routes to the workload's live containers"
)

// statusValues lists the statuses and what each means, from the engine's
// one list.
func statusValues() string {
	parts := make([]string, len(rollout.Statuses))
	for i, s := range rollout.Statuses {
		parts[i] = "`" + string(s.Status) + "` (" + s.Means + ")"
	}
	return strings.Join(parts, ", ")
}

func (a reported) description(side string) string {
	return strings.TrimSpace(a.doc + " " + side)
}

// reportedResourceAttributes are the resource's reported attributes.
func reportedResourceAttributes() map[string]schema.Attribute {
	out := map[string]schema.Attribute{}
	for name, a := range reportedAttributes {
		doc := a.description(a.resource)
		switch a.kind {
		case reportedString:
			s := schema.StringAttribute{MarkdownDescription: doc, Computed: true}
			if a.keep {
				s.PlanModifiers = []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
			}
			out[name] = s
		case reportedInt:
			out[name] = schema.Int64Attribute{MarkdownDescription: doc, Computed: true}
		case reportedList:
			out[name] = schema.ListAttribute{MarkdownDescription: doc, ElementType: types.StringType, Computed: true}
		case reportedServices:
			out[name] = schema.MapNestedAttribute{MarkdownDescription: doc, Computed: true,
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"state":   schema.StringAttribute{Computed: true, MarkdownDescription: serviceDocs["state"]},
					"running": schema.Int64Attribute{Computed: true, MarkdownDescription: serviceDocs["running"]},
					"desired": schema.Int64Attribute{Computed: true, MarkdownDescription: serviceDocs["desired"]},
				}}}
		}
	}
	return out
}

// reportedDataSourceAttributes are the data source's reported attributes.
func reportedDataSourceAttributes() map[string]dschema.Attribute {
	out := map[string]dschema.Attribute{}
	for name, a := range reportedAttributes {
		doc := a.description(a.dataSource)
		switch a.kind {
		case reportedString:
			out[name] = dschema.StringAttribute{MarkdownDescription: doc, Computed: true}
		case reportedInt:
			out[name] = dschema.Int64Attribute{MarkdownDescription: doc, Computed: true}
		case reportedList:
			out[name] = dschema.ListAttribute{MarkdownDescription: doc, ElementType: types.StringType, Computed: true}
		case reportedServices:
			out[name] = dschema.MapNestedAttribute{MarkdownDescription: doc, Computed: true,
				NestedObject: dschema.NestedAttributeObject{Attributes: map[string]dschema.Attribute{
					"state":   dschema.StringAttribute{Computed: true, MarkdownDescription: serviceDocs["state"]},
					"running": dschema.Int64Attribute{Computed: true, MarkdownDescription: serviceDocs["running"]},
					"desired": dschema.Int64Attribute{Computed: true, MarkdownDescription: serviceDocs["desired"]},
				}}}
		}
	}
	return out
}

// serviceDocs describe one service of the services attribute.
var serviceDocs = map[string]string{
	"state":   "`running`, `stopped` or `missing`.",
	"running": "Containers of the service that run.",
	"desired": "Containers the project asks for.",
}
