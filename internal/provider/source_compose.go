package provider

import (
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listdefault"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/compose"
)

// composeKind is the source.compose block.
var composeKind = sourceKind{
	name:  compose.Kind,
	block: composeBlock,
	in:    func(m *sourceModel) bool { return m.Compose != nil },
	source: func(m, config *sourceModel) (plugin.Source, bool) {
		var cfg *composeModel
		if config != nil {
			cfg = config.Compose
		}
		return m.Compose.source(cfg)
	},
	model: func(src plugin.Source, prior *sourceModel) (*sourceModel, bool) {
		c, ok := src.(*compose.Config)
		if !ok {
			return nil, false
		}
		var p *composeModel
		if prior != nil {
			p = prior.Compose
		}
		return &sourceModel{Compose: composeModelOf(c, p)}, true
	},
	git: func(m *sourceModel) *gitModel {
		if m == nil || m.Compose == nil {
			return nil
		}
		return &m.Compose.gitModel
	},
}

// composeModel is the source.compose block.
type composeModel struct {
	gitModel
	Files         types.List   `tfsdk:"files"`
	Profiles      types.List   `tfsdk:"profiles"`
	Service       types.String `tfsdk:"service"`
	Port          types.Int64  `tfsdk:"port"`
	Healthcheck   types.String `tfsdk:"healthcheck"`
	RemoveVolumes types.Bool   `tfsdk:"remove_volumes"`
}

func composeBlock() schema.Block {
	return schema.SingleNestedBlock{
		MarkdownDescription: "A compose stack from a Git repository, deployed with compose's own semantics through the " +
			"compose Go packages: services, `build:` (rebuilt at every deploy), `depends_on` with health conditions, " +
			"named volumes, networks; the workload's `env` is the interpolation environment of the compose files (like a " +
			"`.env`). The plan loads and validates the compose files at the resolved commit: a compose error fails the " +
			"plan, naming the file. The stack is managed by compose, which recreates only the services that changed; " +
			"the routed `service` is updated start-first (its new container gated beside the old one before the route " +
			"moves) unless `deploy_strategy = \"recreate\"`, and `blue-green` is refused. Refresh reports each service (`services`); a service stopped or removed by hand is " +
			"brought back by the next apply without touching the others.",
		Validators: []validator.Object{gitOrigin{}},
		Attributes: gitAttributes(map[string]schema.Attribute{
			"files": schema.ListAttribute{
				MarkdownDescription: "Compose files, relative to the repository root, applied in order. Defaults to " +
					"compose's own lookup at the root (`compose.yaml`, `docker-compose.yml`, ... and an override file). " +
					"As with the docker compose CLI, the folder of the first file is the project directory: relative paths " +
					"(build contexts, bind mounts, `env_file`, `.env`) resolve from there. What the provider reads (compose, " +
					"`include` and `extends` files, `.env`, `env_file`, build contexts) must stay inside the repository.",
				ElementType: types.StringType,
				Optional:    true,
				Computed:    true,
				Default:     listdefault.StaticValue(types.ListValueMust(types.StringType, nil)),
				Validators:  []validator.List{listvalidator.ValueStringsAre(engineRule("a relative path", func(f string) error { return compose.ValidateFile(0, f) }))},
			},
			"profiles": schema.ListAttribute{
				MarkdownDescription: "Compose profiles to enable.",
				ElementType:         types.StringType,
				Optional:            true,
				Computed:            true,
				Default:             listdefault.StaticValue(types.ListValueMust(types.StringType, nil)),
			},
			"service": schema.StringAttribute{
				MarkdownDescription: "The service the workload's `domains` route to; required with `domains`. Its `port` is " +
					"published on the provider's `publish_address` (replacing the ports the compose file gives it).",
				Optional: true,
			},
			"port": schema.Int64Attribute{
				MarkdownDescription: "That service's container port; it must be one the service declares (`ports` or `expose`).",
				Optional:            true,
				Validators:          []validator.Int64{engineIntRule("a port", plugin.ValidatePort)},
			},
			"healthcheck": healthcheckAttribute(),
			"remove_volumes": schema.BoolAttribute{
				MarkdownDescription: "Destroy removes the stack's named volumes too. Defaults to `false`: volumes are data.",
				Optional:            true,
				Computed:            true,
				Default:             booldefault.StaticBool(false),
			},
		}),
	}
}

// source maps the block onto the engine's source; config is the
// configuration's block, for the write-only token.
func (m *composeModel) source(config *composeModel) (plugin.Source, bool) {
	var cfgGit *gitModel
	if config != nil {
		cfgGit = &config.gitModel
	}
	repo, known := m.repo(cfgGit)
	for _, v := range []attr.Value{m.Files, m.Profiles, m.Service, m.Port, m.Healthcheck, m.RemoveVolumes} {
		if v.IsUnknown() {
			known = false
		}
	}
	files, filesKnown := stringSlice(m.Files)
	profiles, profilesKnown := stringSlice(m.Profiles)
	return &compose.Config{
		Repo:          repo,
		Files:         files,
		Profiles:      profiles,
		Service:       m.Service.ValueString(),
		Port:          int(m.Port.ValueInt64()),
		Healthcheck:   m.Healthcheck.ValueString(),
		RemoveVolumes: m.RemoveVolumes.ValueBool(),
	}, known && filesKnown && profilesKnown
}

// composeModelOf rebuilds the block from a config read back from the
// stack's record; the secrets and the write-only version are kept from
// prior.
func composeModelOf(c *compose.Config, prior *composeModel) *composeModel {
	var priorGit *gitModel
	if prior != nil {
		priorGit = &prior.gitModel
	}
	m := &composeModel{
		gitModel:      gitModelOf(c.Repo, priorGit),
		Files:         stringList(c.Files),
		Profiles:      stringList(c.Profiles),
		Service:       optionalString(c.Service),
		Port:          types.Int64Null(),
		Healthcheck:   optionalString(c.Healthcheck),
		RemoveVolumes: types.BoolValue(c.RemoveVolumes),
	}
	if c.Port != 0 {
		m.Port = types.Int64Value(int64(c.Port))
	}
	return m
}

// stringSlice reads a list attribute of strings; known is false when it or
// an element is unknown. Null is nil.
func stringSlice(l types.List) ([]string, bool) {
	if l.IsUnknown() {
		return nil, false
	}
	known := true
	var out []string
	for _, v := range l.Elements() {
		s, ok := v.(types.String)
		if !ok || s.IsUnknown() {
			known = false
			continue
		}
		out = append(out, s.ValueString())
	}
	return out, known
}
