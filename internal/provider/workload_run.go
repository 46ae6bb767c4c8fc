package provider

import (
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/float64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
)

// runModel is how each instance runs, and how many there are: attributes of
// tinyforge_workload embedded in workloadModel.
type runModel struct {
	Replicas    types.Int64   `tfsdk:"replicas"`
	Memory      types.Int64   `tfsdk:"memory"`
	CPUs        types.Float64 `tfsdk:"cpus"`
	Restart     types.String  `tfsdk:"restart"`
	Command     types.List    `tfsdk:"command"`
	Entrypoint  types.List    `tfsdk:"entrypoint"`
	User        types.String  `tfsdk:"user"`
	WorkingDir  types.String  `tfsdk:"working_dir"`
	Labels      types.Map     `tfsdk:"labels"`
	StopSignal  types.String  `tfsdk:"stop_signal"`
	StopTimeout types.Int64   `tfsdk:"stop_timeout"`
	Placement   types.List    `tfsdk:"placement"`
}

// runAttributes are the attributes of runModel. Any change of them but
// replicas redeploys (a new generation); replicas scales the live
// generation.
func runAttributes() map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"replicas": schema.Int64Attribute{
			MarkdownDescription: "How many containers serve the workload, each gated before it takes traffic; Caddy " +
				"balances the route over all of them (round robin). A redeploy starts as many new ones, gates all, and " +
				"swaps the route to all at once. A change of `replicas` alone scales the running generation (no " +
				"redeploy); a replica that dies shows in the plan (`replicas_running`) and the next apply replaces it " +
				"without touching the others. More than 1 needs a proxy that balances (not Nginx Proxy Manager), and no " +
				"`host_port`. Not for `compose` (set replicas in the compose file). Defaults to 1.",
			Optional:   true,
			Computed:   true,
			Default:    int64default.StaticInt64(1),
			Validators: []validator.Int64{engineIntRule("a replica count", workload.ValidateReplicas)},
		},
		"memory": schema.Int64Attribute{
			MarkdownDescription: "Memory limit of each container, in MiB (at least 6). No limit by default.",
			Optional:            true,
			Validators:          []validator.Int64{engineIntRule("a memory limit", workload.ValidateMemory)},
		},
		"cpus": schema.Float64Attribute{
			MarkdownDescription: "CPU limit of each container, in cores (e.g. `0.5`). No limit by default.",
			Optional:            true,
			Validators:          []validator.Float64{float64validator.Between(0.01, 1024)},
		},
		"restart": schema.StringAttribute{
			MarkdownDescription: "Restart policy of each container: `unless-stopped` (default), `always`, `on-failure` or `no`.",
			Optional:            true,
			Computed:            true,
			Default:             stringdefault.StaticString(workload.RestartPolicies[0]),
			Validators:          []validator.String{stringvalidator.OneOf(workload.RestartPolicies...)},
		},
		"command": schema.ListAttribute{
			MarkdownDescription: "Command of each container, replacing the image's `CMD` (exec form: each element one argument).",
			ElementType:         types.StringType,
			Optional:            true,
			Validators:          []validator.List{listvalidator.SizeAtLeast(1)},
		},
		"entrypoint": schema.ListAttribute{
			MarkdownDescription: "Entrypoint of each container, replacing the image's `ENTRYPOINT` (exec form).",
			ElementType:         types.StringType,
			Optional:            true,
			Validators:          []validator.List{listvalidator.SizeAtLeast(1)},
		},
		"user": schema.StringAttribute{
			MarkdownDescription: "User (and group) the process runs as, e.g. `1000:1000` or `nobody`; the image's by default.",
			Optional:            true,
			Validators:          []validator.String{stringvalidator.LengthAtLeast(1)},
		},
		"working_dir": schema.StringAttribute{
			MarkdownDescription: "Working directory of the process, an absolute path; the image's by default.",
			Optional:            true,
			Validators:          []validator.String{stringvalidator.LengthAtLeast(1)},
		},
		"labels": schema.MapAttribute{
			MarkdownDescription: "Labels of each container, besides the provider's own. Keys under `tinyforge.` are the " +
				"provider's and are refused.",
			ElementType: types.StringType,
			Optional:    true,
			Validators:  []validator.Map{mapvalidator.KeysAre(engineRule("a label key", workload.ValidateLabelKey))},
		},
		"stop_signal": schema.StringAttribute{
			MarkdownDescription: "Signal that stops each container, e.g. `SIGQUIT`; `SIGTERM` (or the image's) by default.",
			Optional:            true,
			Validators:          []validator.String{engineRule("a signal", workload.ValidateStopSignal)},
		},
		"placement": schema.ListAttribute{
			MarkdownDescription: "Swarm placement constraints of the workload's service, as `docker service create " +
				"--constraint` takes them (`node.role==worker`, `node.labels.zone==a`). Only with a Swarm engine " +
				"(the provider's `swarm`); refused on one host.",
			ElementType: types.StringType,
			Optional:    true,
			Validators:  []validator.List{listvalidator.ValueStringsAre(engineRule("a placement constraint", workload.ValidatePlacement))},
		},
		"stop_timeout": schema.Int64Attribute{
			MarkdownDescription: "Seconds a stopping container gets after its stop signal before it is killed. Defaults to 10.",
			Optional:            true,
			Computed:            true,
			Default:             int64default.StaticInt64(int64(workload.DefaultStopTimeout / time.Second)),
			Validators:          []validator.Int64{int64validator.Between(0, 3600)},
		},
	}
}

// values lists the attributes, for a known-ness check.
func (r *runModel) values() []attr.Value {
	return []attr.Value{r.Replicas, r.Memory, r.CPUs, r.Restart, r.Command, r.Entrypoint, r.User, r.WorkingDir,
		r.Labels, r.StopSignal, r.StopTimeout, r.Placement}
}

// run maps the attributes onto the engine's Run and replica count.
func (r *runModel) run() (workload.Run, int) {
	command, _ := stringSlice(r.Command)
	entrypoint, _ := stringSlice(r.Entrypoint)
	labels, _ := stringMap(r.Labels)
	placement, _ := stringSlice(r.Placement)
	run := workload.Run{
		Placement:  placement,
		MemoryMiB:  int(r.Memory.ValueInt64()),
		CPUs:       r.CPUs.ValueFloat64(),
		Restart:    r.Restart.ValueString(),
		Command:    command,
		Entrypoint: entrypoint,
		User:       r.User.ValueString(),
		WorkingDir: r.WorkingDir.ValueString(),
		Labels:     labels,
		StopSignal: r.StopSignal.ValueString(),
	}
	if !r.StopTimeout.IsNull() && !r.StopTimeout.IsUnknown() {
		run.StopTimeout = time.Duration(r.StopTimeout.ValueInt64()) * time.Second
	}
	return run, int(r.Replicas.ValueInt64())
}

// runModelOf reads the attributes back from what a deploy recorded.
func runModelOf(set workload.Settings) runModel {
	run := set.Run
	m := runModel{
		Replicas:    types.Int64Value(int64(max(set.Replicas, 1))),
		Memory:      types.Int64Null(),
		CPUs:        types.Float64Null(),
		Restart:     types.StringValue(run.RestartPolicy()),
		Command:     types.ListNull(types.StringType),
		Entrypoint:  types.ListNull(types.StringType),
		User:        optionalString(run.User),
		WorkingDir:  optionalString(run.WorkingDir),
		Labels:      types.MapNull(types.StringType),
		StopSignal:  optionalString(run.StopSignal),
		StopTimeout: types.Int64Value(int64(workload.DefaultStopTimeout / time.Second)),
		Placement:   types.ListNull(types.StringType),
	}
	if run.Placement != nil {
		m.Placement = stringList(run.Placement)
	}
	if run.MemoryMiB != 0 {
		m.Memory = types.Int64Value(int64(run.MemoryMiB))
	}
	if run.CPUs != 0 {
		m.CPUs = types.Float64Value(run.CPUs)
	}
	if run.Command != nil {
		m.Command = stringList(run.Command)
	}
	if run.Entrypoint != nil {
		m.Entrypoint = stringList(run.Entrypoint)
	}
	if run.Labels != nil {
		m.Labels = stringMapValue(run.Labels)
	}
	if set.StopTimeout > 0 {
		m.StopTimeout = types.Int64Value(int64(set.StopTimeout))
	}
	return m
}
