package provider

import (
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
)

// releaseModel is the release command of a workload: attributes of
// tinyforge_workload embedded in workloadModel. They say how a deploy is
// made, not what runs: a change applies to the next deploy, and refresh
// keeps the state's values (import reads them from the labels).
type releaseModel struct {
	ReleaseCommand types.List  `tfsdk:"release_command"`
	ReleaseTimeout types.Int64 `tfsdk:"release_timeout"`
}

func releaseAttributes() map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"release_command": schema.ListAttribute{
			MarkdownDescription: "Command run once per deploy (database migrations, say), after the new image is " +
				"produced (and, with HTTPS, the route's certificates are had) and before any new container " +
				"starts, by either strategy: a one-off container of the new image with the workload's `env`, " +
				"`secret_env_wo`, volumes and network. It replaces the image's " +
				"`CMD` (exec form, as `docker run IMAGE COMMAND` does); the image's `ENTRYPOINT`, or `entrypoint`, " +
				"stays. Exit 0: the deploy goes on. Another exit code, or `release_timeout`: the apply fails with the " +
				"exit code and the last 50 lines of its output, nothing that runs is touched, and the next plan offers " +
				"the same deploy again. The one-off container is removed in every case, an interrupt included. It runs " +
				"only when a deploy happens (`generation` rises): never on an apply that changes nothing, a refresh or " +
				"a change of `replicas` alone; a change of it alone does not deploy. On Swarm it runs as a replicated " +
				"job on the cluster. Not for `compose` (use the compose file's `depends_on` and one-off services).",
			ElementType: types.StringType,
			Optional:    true,
			Validators:  []validator.List{listvalidator.SizeAtLeast(1)},
		},
		"release_timeout": schema.Int64Attribute{
			MarkdownDescription: "Seconds the release command may run before it is killed and the deploy fails. " +
				"Defaults to 600.",
			Optional: true,
			Computed: true,
			Default:  int64default.StaticInt64(int64(workload.DefaultReleaseTimeout / time.Second)),
			Validators: []validator.Int64{
				int64validator.Between(1, int64(workload.MaxReleaseTimeout/time.Second)),
			},
		},
	}
}

func (r *releaseModel) values() []attr.Value { return []attr.Value{r.ReleaseCommand, r.ReleaseTimeout} }

// release maps the attributes onto the engine's Release.
func (r *releaseModel) release() workload.Release {
	command, _ := stringSlice(r.ReleaseCommand)
	rel := workload.Release{Command: command}
	if !r.ReleaseTimeout.IsNull() && !r.ReleaseTimeout.IsUnknown() {
		rel.Timeout = time.Duration(r.ReleaseTimeout.ValueInt64()) * time.Second
	}
	return rel
}

// releaseModelOf reads the attributes back from what a deploy recorded,
// for import.
func releaseModelOf(set workload.Settings) releaseModel {
	rel := set.ReleaseRecorded()
	m := releaseModel{
		ReleaseCommand: types.ListNull(types.StringType),
		ReleaseTimeout: types.Int64Value(int64(rel.Limit() / time.Second)),
	}
	if rel.Set() {
		m.ReleaseCommand = stringList(rel.Command)
	}
	return m
}
