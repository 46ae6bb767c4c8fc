package provider

import (
	"cmp"

	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/mapdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/dockerfile"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/gitbuild"
)

// dockerfileKind is the source.dockerfile block.
var dockerfileKind = sourceKind{
	name:  dockerfile.Kind,
	block: dockerfileBlock,
	in:    func(m *sourceModel) bool { return m.Dockerfile != nil },
	source: func(m, config *sourceModel) (plugin.Source, bool) {
		var cfg *dockerfileModel
		if config != nil {
			cfg = config.Dockerfile
		}
		return m.Dockerfile.source(cfg)
	},
	model: func(src plugin.Source, prior *sourceModel) (*sourceModel, bool) {
		c, ok := src.(*dockerfile.Config)
		if !ok {
			return nil, false
		}
		var p *dockerfileModel
		if prior != nil {
			p = prior.Dockerfile
		}
		return &sourceModel{Dockerfile: dockerfileModelOf(c, p)}, true
	},
	git: func(m *sourceModel) *gitModel {
		if m == nil || m.Dockerfile == nil {
			return nil
		}
		return &m.Dockerfile.gitModel
	},
}

// dockerfileModel is the source.dockerfile block.
type dockerfileModel struct {
	gitModel
	Path           types.String `tfsdk:"path"`
	ContextPath    types.String `tfsdk:"context_path"`
	DockerfilePath types.String `tfsdk:"dockerfile_path"`
	Port           types.Int64  `tfsdk:"port"`
	Healthcheck    types.String `tfsdk:"healthcheck"`
	BuildArgs      types.Map    `tfsdk:"build_args"`
	Target         types.String `tfsdk:"target"`
	buildSecretsModel
}

func dockerfileBlock() schema.Block {
	return schema.SingleNestedBlock{
		MarkdownDescription: "A Git repository with a Dockerfile, cloned at one commit and built on the Docker host. " +
			"The plan resolves the branch head into `commit_sha`, so a new push shows as a change; the apply builds " +
			"exactly that commit (or fails, touching nothing that runs, when it can no longer get it). Deploys " +
			"recreate by default; `blue-green` works as for images.",
		Validators: []validator.Object{gitOrigin{withPath: true}},
		Attributes: gitAttributes(withAttributes(map[string]schema.Attribute{
			"context_path": schema.StringAttribute{
				MarkdownDescription: "Build context, relative to the repository root: no leading `/`, no `..`, and no " +
					"symlink that leads out of the clone. Defaults to the root (`.`).",
				Optional:   true,
				Computed:   true,
				Default:    stringdefault.StaticString(dockerfile.DefaultContextPath),
				Validators: []validator.String{engineRule("a relative path", dockerfile.ValidateContextPath)},
			},
			"dockerfile_path": schema.StringAttribute{
				MarkdownDescription: "Dockerfile, relative to the build context, under the same rules. Defaults to `" +
					dockerfile.DefaultDockerfilePath + "`.",
				Optional:   true,
				Computed:   true,
				Default:    stringdefault.StaticString(dockerfile.DefaultDockerfilePath),
				Validators: []validator.String{engineRule("a relative path", dockerfile.ValidateDockerfilePath)},
			},
			"path":        pathAttribute(),
			"port":        portAttribute(),
			"healthcheck": healthcheckAttribute(),
			"target": schema.StringAttribute{
				MarkdownDescription: "The stage of a multi-stage Dockerfile to build (`FROM ... AS <name>`), and the stages it " +
					"needs; the others are not built. Unset: the last stage.",
				Optional:   true,
				Validators: []validator.String{engineRule("a stage name", gitbuild.ValidateTarget)},
			},
			"build_args": schema.MapAttribute{
				MarkdownDescription: "Docker build arguments. They are not secret: like `docker history`, the " +
					"provider records them (in the container's `tinyforge.config` label); pass secrets as `env`.",
				ElementType: types.StringType,
				Optional:    true,
				Computed:    true,
				Default:     mapdefault.StaticValue(types.MapValueMust(types.StringType, nil)),
				Validators: []validator.Map{
					mapvalidator.KeysAre(engineRule("a build argument name", dockerfile.ValidateBuildArgName)),
				},
			},
		}, buildSecretsAttributes())),
	}
}

// source maps the block onto the engine's source; config is the
// configuration's block, for the write-only token.
func (m *dockerfileModel) source(config *dockerfileModel) (plugin.Source, bool) {
	var cfgGit *gitModel
	if config != nil {
		cfgGit = &config.gitModel
	}
	repo, known := m.repo(cfgGit)
	repo.Path = m.Path.ValueString()
	known = known && !m.Path.IsUnknown()
	for _, v := range []attr.Value{m.ContextPath, m.DockerfilePath, m.Port, m.Healthcheck, m.BuildArgs, m.Target, m.BuildSecretsWOVersion} {
		if v.IsUnknown() {
			known = false
		}
	}
	c := &dockerfile.Config{
		Repo:           repo,
		ContextPath:    m.ContextPath.ValueString(),
		DockerfilePath: m.DockerfilePath.ValueString(),
		Port:           int(m.Port.ValueInt64()),
		Healthcheck:    m.Healthcheck.ValueString(),
		Target:         m.Target.ValueString(),
	}
	args, argsKnown := stringMap(m.BuildArgs)
	c.BuildArgs = args
	var cfgBuild *buildSecretsModel
	if config != nil {
		cfgBuild = &config.buildSecretsModel
	}
	secrets, secretsKnown := m.secrets(cfgBuild)
	c.BuildSecrets, c.BuildSecretsVersion = secrets, m.BuildSecretsWOVersion.ValueInt64()
	return c, known && argsKnown && secretsKnown
}

// dockerfileModelOf rebuilds the block from a config read back from labels;
// the secrets and the write-only version are kept from prior.
func dockerfileModelOf(c *dockerfile.Config, prior *dockerfileModel) *dockerfileModel {
	var priorGit *gitModel
	if prior != nil {
		priorGit = &prior.gitModel
	}
	return &dockerfileModel{
		gitModel:          gitModelOf(c.Repo, priorGit),
		Path:              optionalString(c.Repo.Path),
		ContextPath:       types.StringValue(cmp.Or(c.ContextPath, dockerfile.DefaultContextPath)),
		DockerfilePath:    types.StringValue(cmp.Or(c.DockerfilePath, dockerfile.DefaultDockerfilePath)),
		Port:              optionalInt(c.Port),
		Healthcheck:       optionalString(c.Healthcheck),
		BuildArgs:         stringMapValue(c.BuildArgs),
		Target:            optionalString(c.Target),
		buildSecretsModel: buildSecretsModelOf(c.BuildSecretsVersion),
	}
}

// stringMap reads a map attribute of strings; known is false when it or a
// value is unknown. Null is nil.
func stringMap(m types.Map) (map[string]string, bool) {
	if m.IsUnknown() {
		return nil, false
	}
	if m.IsNull() {
		return nil, true
	}
	known := true
	out := map[string]string{}
	for k, v := range m.Elements() {
		s, ok := v.(types.String)
		if !ok || s.IsUnknown() {
			known = false
			continue
		}
		out[k] = s.ValueString()
	}
	return out, known
}

// stringMapValue is a known map attribute of strings, never null.
func stringMapValue(m map[string]string) types.Map {
	elems := make(map[string]attr.Value, len(m))
	for k, v := range m {
		elems[k] = types.StringValue(v)
	}
	return types.MapValueMust(types.StringType, elems)
}
