package provider

import (
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
)

// secretEnvModel is the write-only environment of a workload: attributes
// of tinyforge_workload embedded in workloadModel. The values are only
// in the configuration (Terraform keeps write-only values out of the plan
// and the state); the version stands for them.
type secretEnvModel struct {
	SecretEnvWO        types.Map   `tfsdk:"secret_env_wo"`
	SecretEnvWOVersion types.Int64 `tfsdk:"secret_env_wo_version"`
}

func secretEnvAttributes() map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"secret_env_wo": schema.MapAttribute{
			MarkdownDescription: "Write-only environment variables (Terraform 1.11+): set in every container and in " +
				"the release command like `env`, and nowhere else the provider writes: not in the state, the plan, " +
				"labels, logs or errors (a value that shows verbatim in a container's output is masked in the " +
				"errors and in `tinyforge_workload_logs`). Change `secret_env_wo_version` when a value or a name " +
				"changes: that redeploys. A name set in `env` too is refused. Import cannot read the values back: " +
				"it says which names to write here. On Swarm the values are part of the service's spec: whoever " +
				"may run `docker service inspect` on a manager (the Docker API's users) can read them, as with " +
				"`env`; Swarm secrets (files) are not used.",
			ElementType: types.StringType,
			Optional:    true,
			Sensitive:   true,
			WriteOnly:   true,
			Validators: []validator.Map{
				mapvalidator.KeysAre(engineRule("an environment variable name", workload.ValidateEnvName)),
				mapvalidator.AlsoRequires(path.MatchRoot("secret_env_wo_version")),
			},
		},
		"secret_env_wo_version": schema.Int64Attribute{
			MarkdownDescription: "Version of `secret_env_wo`; change it when a value or a name there changes, and " +
				"the apply redeploys with the new values (the state holds none to compare). Required with " +
				"`secret_env_wo`.",
			Optional: true,
			Validators: []validator.Int64{
				int64validator.AtLeast(0),
				int64validator.AlsoRequires(path.MatchRoot("secret_env_wo")),
			},
		},
	}
}

func (m *secretEnvModel) values() []attr.Value { return []attr.Value{m.SecretEnvWOVersion} }

// secretEnv maps the configuration's values (config nil: none, as the
// state has) and the version onto the engine's spec. known is false when
// a value is not known yet.
func (m *secretEnvModel) secretEnv(config *secretEnvModel) (env map[string]string, version int, known bool) {
	known = !m.SecretEnvWOVersion.IsUnknown()
	if config != nil {
		env, known = stringMap(config.SecretEnvWO)
		known = known && !m.SecretEnvWOVersion.IsUnknown()
	}
	return env, int(m.SecretEnvWOVersion.ValueInt64()), known
}

// secretEnvModelOf reads the version back from what a deploy recorded,
// for import: the values are not recorded anywhere.
func secretEnvModelOf(set workload.Settings) secretEnvModel {
	m := secretEnvModel{SecretEnvWO: types.MapNull(types.StringType), SecretEnvWOVersion: types.Int64Null()}
	if len(set.SecretEnvKeys) > 0 || set.SecretEnvVersion != 0 {
		m.SecretEnvWOVersion = types.Int64Value(int64(set.SecretEnvVersion))
	}
	return m
}

// secretsNotImported is import's word on the write-only values it cannot
// read back: which names to write into secret_env_wo.
func secretsNotImported(name string, set workload.Settings) diag.Diagnostics {
	var diags diag.Diagnostics
	if len(set.SecretEnvKeys) == 0 {
		return diags
	}
	names := strings.Join(set.SecretEnvKeys, ", ")
	diags.AddAttributeWarning(path.Root("secret_env_wo"), "Import cannot read secret_env_wo: write "+names+" into it",
		fmt.Sprintf("Workload %s runs with the write-only environment variables %s (secret_env_wo_version = %d). Their "+
			"values are recorded nowhere the provider can read them back, by design: write them into secret_env_wo with "+
			"secret_env_wo_version = %d, and the import changes nothing. %s", name, names, set.SecretEnvVersion,
			set.SecretEnvVersion, generatedConfigHint))
	return diags
}
