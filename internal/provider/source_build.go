package provider

import (
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/sources/gitbuild"
)

// buildSecretsModel is the build secrets of a source that builds a
// Dockerfile of the user's.
type buildSecretsModel struct {
	BuildSecretsWO        types.Map   `tfsdk:"build_secrets_wo"`
	BuildSecretsWOVersion types.Int64 `tfsdk:"build_secrets_wo_version"`
}

// buildSecretsAttributes are build_secrets_wo and its version.
func buildSecretsAttributes() map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"build_secrets_wo": schema.MapAttribute{
			MarkdownDescription: "Write-only build secrets (Terraform 1.11+), by id: a step reads one with `RUN " +
				"--mount=type=secret,id=<key> ...` (at `/run/secrets/<key>`, during that step only). They reach the " +
				"build through BuildKit's session and nothing else: never the state, the plan, the image's history or " +
				"configuration, labels, logs or errors. Change `build_secrets_wo_version` when they change. BuildKit " +
				"does not key its cache on a secret's value: a step that reads one runs again when something else it " +
				"depends on changes (a `build_args` value it declares with `ARG`, say). Needs an engine with BuildKit.",
			ElementType: types.StringType,
			Optional:    true,
			Sensitive:   true,
			WriteOnly:   true,
			Validators: []validator.Map{
				mapvalidator.KeysAre(engineRule("a secret id", gitbuild.ValidateBuildSecretID)),
			},
		},
		"build_secrets_wo_version": schema.Int64Attribute{
			MarkdownDescription: "Version of `build_secrets_wo`; change it when a secret changes: the next apply builds " +
				"the image anew and deploys it.",
			Optional: true,
			Validators: []validator.Int64{
				int64validator.AlsoRequires(path.MatchRelative().AtParent().AtName("build_secrets_wo")),
			},
		},
	}
}

// secrets are the build secrets, from the configuration (config nil: none,
// the state has none). known is false when a value is not known yet.
func (m *buildSecretsModel) secrets(config *buildSecretsModel) (map[string]string, bool) {
	if config == nil || config.BuildSecretsWO.IsNull() {
		return nil, true
	}
	return stringMap(config.BuildSecretsWO)
}

// buildSecretsModelOf rebuilds the attributes from a config read back from
// labels, which record the version and never the secrets.
func buildSecretsModelOf(version int64) buildSecretsModel {
	v := types.Int64Null()
	if version != 0 {
		v = types.Int64Value(version)
	}
	return buildSecretsModel{BuildSecretsWO: types.MapNull(types.StringType), BuildSecretsWOVersion: v}
}
