package provider

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/rollout"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/runner"
)

// workloadModel is tinyforge_workload as Terraform holds it.
type workloadModel struct {
	runModel
	releaseModel
	secretEnvModel
	ID                types.String `tfsdk:"id"`
	Name              types.String `tfsdk:"name"`
	DeployStrategy    types.String `tfsdk:"deploy_strategy"`
	Domains           types.List   `tfsdk:"domains"`
	Env               types.Map    `tfsdk:"env"`
	HostPort          types.Int64  `tfsdk:"host_port"`
	HealthTimeout     types.Int64  `tfsdk:"health_timeout"`
	DrainTimeout      types.Int64  `tfsdk:"drain_timeout"`
	Volumes           types.List   `tfsdk:"volume"`
	Source            *sourceModel `tfsdk:"source"`
	ContainerID       types.String `tfsdk:"container_id"`
	ContainerName     types.String `tfsdk:"container_name"`
	ImageID           types.String `tfsdk:"image_id"`
	Generation        types.Int64  `tfsdk:"generation"`
	Upstream          types.String `tfsdk:"upstream"`
	EffectiveStrategy types.String `tfsdk:"effective_strategy"`
	CommitSHA         types.String `tfsdk:"commit_sha"`
	Status            types.String `tfsdk:"status"`
	StrayContainers   types.List   `tfsdk:"stray_containers"`
	RoutedTo          types.String `tfsdk:"routed_to"`
	Owner             types.String `tfsdk:"owner"`
	Services          types.Map    `tfsdk:"services"`
	ReplicasRunning   types.Int64  `tfsdk:"replicas_running"`
	Upstreams         types.List   `tfsdk:"upstreams"`
	TLS               *tlsModel    `tfsdk:"tls"`
}

// serviceType is one service of a stack, in the services attribute.
var serviceType = types.ObjectType{AttrTypes: map[string]attr.Type{
	"state": types.StringType, "running": types.Int64Type, "desired": types.Int64Type,
}}

// servicesOf is the services attribute of what was observed: null for a
// workload that is not a stack.
func servicesOf(o rollout.Observed) types.Map {
	services, ok := o.Services()
	if !ok {
		return types.MapNull(serviceType)
	}
	elems := map[string]attr.Value{}
	for _, svc := range services {
		elems[svc.Name] = types.ObjectValueMust(serviceType.AttrTypes, map[string]attr.Value{
			"state": types.StringValue(string(svc.State)), "running": types.Int64Value(int64(svc.Running)),
			"desired": types.Int64Value(int64(svc.Desired)),
		})
	}
	return types.MapValueMust(serviceType, elems)
}

type volumeModel struct {
	Source   types.String `tfsdk:"source"`
	Target   types.String `tfsdk:"target"`
	ReadOnly types.Bool   `tfsdk:"read_only"`
}

var volumeType = types.ObjectType{AttrTypes: map[string]attr.Type{
	"source": types.StringType, "target": types.StringType, "read_only": types.BoolType,
}}

// spec maps the model onto the engine's Spec. known is false when a value
// is not known yet (it comes from a resource not applied yet); the Spec then
// holds what is known. config supplies write-only values, which only the
// configuration carries; nil when there is none (state).
func (m *workloadModel) spec(ctx context.Context, config *workloadModel) (workload.Spec, bool, diag.Diagnostics) {
	var diags diag.Diagnostics
	known := true
	check := func(vs ...attr.Value) {
		for _, v := range vs {
			if v.IsUnknown() {
				known = false
			}
		}
	}
	check(m.Name, m.DeployStrategy, m.Domains, m.Env, m.HostPort, m.HealthTimeout, m.DrainTimeout, m.Volumes)
	check(m.runModel.values()...)
	check(m.releaseModel.values()...)
	s := workload.Spec{
		Name:          m.Name.ValueString(),
		Owner:         m.Owner.ValueString(),
		Strategy:      plugin.Strategy(m.DeployStrategy.ValueString()),
		HostPort:      int(m.HostPort.ValueInt64()),
		HealthTimeout: seconds(m.HealthTimeout, workload.DefaultHealthTimeout),
		DrainTimeout:  seconds(m.DrainTimeout, workload.DefaultDrainTimeout),
	}
	s.Run, s.Replicas = m.runModel.run()
	s.Release = m.release()
	var cfgSecrets *secretEnvModel
	if config != nil {
		cfgSecrets = &config.secretEnvModel
	}
	var secretsKnown bool
	s.SecretEnv, s.SecretEnvVersion, secretsKnown = m.secretEnv(cfgSecrets)
	known = known && secretsKnown
	if !m.Domains.IsNull() && !m.Domains.IsUnknown() {
		var domains []types.String
		diags.Append(m.Domains.ElementsAs(ctx, &domains, false)...)
		for _, d := range domains {
			check(d)
			s.Domains = append(s.Domains, d.ValueString())
		}
	}
	if !m.Env.IsNull() && !m.Env.IsUnknown() {
		var env map[string]types.String
		diags.Append(m.Env.ElementsAs(ctx, &env, false)...)
		s.Env = make(map[string]string, len(env))
		for k, v := range env {
			check(v)
			s.Env[k] = v.ValueString()
		}
	}
	if !m.Volumes.IsNull() && !m.Volumes.IsUnknown() {
		var vols []volumeModel
		diags.Append(m.Volumes.ElementsAs(ctx, &vols, false)...)
		for _, v := range vols {
			check(v.Source, v.Target, v.ReadOnly)
			s.Volumes = append(s.Volumes, workload.Volume{
				Source: v.Source.ValueString(), Target: v.Target.ValueString(), ReadOnly: v.ReadOnly.ValueBool(),
			})
		}
	}
	if m.TLS != nil {
		check(m.TLS.CertificatePEM)
		var cfgTLS *tlsModel
		if config != nil {
			cfgTLS = config.TLS
		}
		s.TLS = m.TLS.certificate(cfgTLS)
	}
	if m.Source != nil {
		var cfgSource *sourceModel
		if config != nil {
			cfgSource = config.Source
		}
		src, srcKnown := m.Source.source(cfgSource)
		s.Source = src
		known = known && srcKnown
	}
	return s, known, diags
}

func seconds(v types.Int64, def time.Duration) time.Duration {
	if v.IsNull() || v.IsUnknown() {
		return def
	}
	return time.Duration(v.ValueInt64()) * time.Second
}

// observe refreshes the model from what runs: the live container (and its
// labels, which record the source config), the strays and the route.
// Attributes that say how to deploy rather than what runs (strategy,
// timeouts, env values) keep their state values.
func (m *workloadModel) observe(ctx context.Context, o rollout.Observed) diag.Diagnostics {
	var diags diag.Diagnostics
	m.ID = types.StringValue(o.Name)
	if l := o.Primary(); l != nil {
		m.live(l)
		if src, err := l.Recorded.Source(); err == nil {
			m.Source = recordedSource(src, m.Source)
		} else {
			diags.AddWarning("Unreadable source label",
				"The source config recorded on container "+l.Name+" could not be read; the state keeps its own: "+err.Error())
		}
		set := l.Recorded.Settings
		m.HostPort = types.Int64Null()
		if set.HostPort != 0 {
			m.HostPort = types.Int64Value(int64(set.HostPort))
		}
		vols := make([]attr.Value, 0, len(set.Volumes))
		for _, v := range set.Volumes {
			vols = append(vols, types.ObjectValueMust(volumeType.AttrTypes, map[string]attr.Value{
				"source": types.StringValue(v.Source), "target": types.StringValue(v.Target), "read_only": types.BoolValue(v.ReadOnly),
			}))
		}
		m.Volumes = types.ListValueMust(volumeType, vols)
		if scale := o.Scale(); scale > 0 {
			// Scaling does not recreate containers: their labels keep the
			// replica count they were started with. The state's count
			// stands; import counts what runs.
			replicas := m.Replicas
			m.runModel = runModelOf(set)
			m.Replicas = types.Int64Value(int64(scale))
			if !replicas.IsNull() && !replicas.IsUnknown() {
				m.Replicas = replicas
			}
		} else if m.Replicas.IsNull() || m.Replicas.IsUnknown() {
			// The runtime sets the replicas (a stack: its compose file):
			// import writes the settings' defaults, as a configuration
			// that leaves them out has.
			m.runModel = runModelOf(workload.Settings{})
		}
	}
	m.Status = types.StringValue(string(o.Status()))
	m.StrayContainers = stringList(o.StrayNames())
	m.Services = servicesOf(o)
	m.ReplicasRunning, m.Upstreams = liveCounts(o)
	if o.Route != nil {
		var current []string
		if !m.Domains.IsNull() && !m.Domains.IsUnknown() {
			m.Domains.ElementsAs(ctx, &current, false)
		}
		// The order the user wrote stays, unless the route serves other
		// hosts than that.
		if !proxy.SameHosts(current, o.Route.Domains) {
			m.Domains = stringList(o.Route.Domains)
		}
		// A certificate the proxy lost, or holds another of, shows in the
		// plan; the apply puts the workload's back.
		m.TLS = tlsFromRoute(m.TLS, o.Route)
	}
	m.RoutedTo = routedTo(o, len(m.Domains.Elements()) > 0)
	return diags
}

// live records the live container's identity.
func (m *workloadModel) live(l *runner.Instance) {
	m.ContainerID = types.StringValue(l.ID)
	m.ContainerName = types.StringValue(l.Name)
	m.ImageID = types.StringValue(l.ImageID)
	m.Generation = types.Int64Value(int64(l.Recorded.Generation))
	m.Upstream = types.StringValue(l.Upstream)
	m.CommitSHA = types.StringNull()
	if l.Recorded.Revision != "" {
		m.CommitSHA = types.StringValue(l.Recorded.Revision)
	}
}

// routedTo is what the route points at: null for a workload without domains
// and without a route, "" for a route that is missing.
func routedTo(o rollout.Observed, wantsRoute bool) types.String {
	switch target, ok := o.RoutedTo(); {
	case ok:
		return types.StringValue(target)
	case wantsRoute:
		return types.StringValue("")
	default:
		return types.StringNull()
	}
}

// joinUpstreams spells a set of upstreams in one string, sorted.
func joinUpstreams(ups []string) string {
	return strings.Join(slices.Sorted(slices.Values(ups)), ", ")
}

// liveCounts are replicas_running and upstreams of what was observed.
func liveCounts(o rollout.Observed) (types.Int64, types.List) {
	return types.Int64Value(int64(o.ReplicasRunning())), stringList(o.Upstreams())
}

// adopt fills an imported model: everything the Docker host recorded.
func (m *workloadModel) adopt(ctx context.Context, engine *rollout.Engine, o rollout.Observed, env map[string]string) diag.Diagnostics {
	set := o.Primary().Recorded.Settings
	m.Domains = stringList(set.Domains)
	diags := m.observe(ctx, o)
	if m.Source == nil {
		diags.AddError("Cannot import workload "+o.Name, "its source config label could not be read")
		return diags
	}
	m.Owner = optionalString(o.Primary().Recorded.Owner)
	m.DeployStrategy = types.StringValue(set.Strategy)
	m.HealthTimeout = types.Int64Value(int64(orDefault(set.HealthTimeout, workload.DefaultHealthTimeout)))
	m.DrainTimeout = types.Int64Value(int64(set.DrainTimeout))
	m.releaseModel = releaseModelOf(set)
	m.secretEnvModel = secretEnvModelOf(set)
	diags.Append(secretsNotImported(o.Name, set)...)
	envValues := make(map[string]attr.Value, len(env))
	for k, v := range env {
		envValues[k] = types.StringValue(v)
	}
	m.Env = types.MapValueMust(types.StringType, envValues)
	m.RoutedTo = routedTo(o, len(set.Domains) > 0)
	spec, _, d := m.spec(ctx, nil)
	diags.Append(d...)
	m.EffectiveStrategy = types.StringNull()
	if strategy, err := engine.Validate(spec); err == nil {
		m.EffectiveStrategy = types.StringValue(string(strategy))
	}
	return diags
}

func orDefault(secs int, def time.Duration) int {
	if secs > 0 {
		return secs
	}
	return int(def / time.Second)
}

// applied records the outcome of an apply in the planned model. Only
// computed attributes change: the rest is what the plan promised.
func (m *workloadModel) applied(_ context.Context, res rollout.Result) diag.Diagnostics {
	var diags diag.Diagnostics
	if res.Primary() == nil {
		diags.AddError("Deploy left no container", "The deploy reported success but the workload has no container.")
		return diags
	}
	m.ID = m.Name
	planned, plannedImage := m.CommitSHA, m.ImageID
	m.live(res.Primary())
	if !planned.IsUnknown() && !planned.Equal(m.CommitSHA) {
		diags.AddError("Deployed another commit than planned",
			"The plan promised commit "+planned.ValueString()+" but "+m.CommitSHA.ValueString()+" was deployed.")
	}
	if !plannedImage.IsUnknown() && !plannedImage.IsNull() && !plannedImage.Equal(m.ImageID) {
		diags.AddError("Deployed another image than planned",
			"The plan promised image "+plannedImage.ValueString()+" but "+m.ImageID.ValueString()+" was deployed.")
	}
	m.EffectiveStrategy = types.StringValue(string(res.Strategy))
	m.Status = types.StringValue(string(res.Status()))
	m.StrayContainers = stringList(res.StrayNames())
	m.Services = servicesOf(res.Observed)
	m.ReplicasRunning, m.Upstreams = liveCounts(res.Observed)
	m.RoutedTo = routedTo(res.Observed, len(m.Domains.Elements()) > 0)
	return diags
}

// newOwner makes the owner ID of a workload this state creates: 64 random
// bits, so that no two states ever draw the same.
func newOwner() string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

// stringList is a known list of strings, never null.
func stringList(ss []string) types.List {
	elems := make([]attr.Value, 0, len(ss))
	for _, s := range ss {
		elems = append(elems, types.StringValue(s))
	}
	return types.ListValueMust(types.StringType, elems)
}
