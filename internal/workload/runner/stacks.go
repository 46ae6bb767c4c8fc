package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/compose"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
)

// StackHost is what Stacks needs from the Docker engine besides compose.
type StackHost interface {
	ListContainers(ctx context.Context, labelKey string) ([]docker.Container, error)
	ListVolumes(ctx context.Context, label string) ([]docker.Volume, error)
	CreateVolume(ctx context.Context, name string, labels map[string]string) error
	RemoveVolume(ctx context.Context, name string) error
}

// Compose is what Stacks needs of the compose runtime (internal/compose).
type Compose interface {
	Up(ctx context.Context, p *compose.Project, opts compose.UpOptions) error
	UpBeside(ctx context.Context, p *compose.Project, opts compose.UpOptions, service string) (compose.Beside, error)
	Retire(ctx context.Context, projectName string, ids []string) error
	Down(ctx context.Context, projectName string, removeVolumes bool, log *slog.Logger) error
}

// Stacks runs stack-managed workloads: each a compose project named after
// the workload, brought up and down by compose, which recreates only what
// changed. Since a container compose leaves alone keeps the labels it was
// created with, what a deploy deployed (generation, commit, config,
// settings) is kept on a record: a labelled volume per generation, the
// newest of which stands for the workload. The stack's containers carry the
// workload (workload.LabelStack) and its owner.
type Stacks struct {
	Docker  StackHost
	Compose Compose
	// PublishAddress is the host IP the routed service's port is published
	// on; ForwardTo picks the address a proxy is given, as for Containers.
	PublishAddress string
	ForwardTo      ForwardTo
	// Log receives compose's progress.
	Log *slog.Logger
}

// Stack is what runs of a stack-managed workload, as the Docker host says.
type Stack struct {
	Name string
	// Record is what the newest record says was deployed; HasRecord is
	// false when the stack has none (an Up that did not finish).
	Record    workload.Recorded
	HasRecord bool
	// Records are the names of the workload's record volumes, newest
	// first: the first is the record, the others leftovers.
	Records []string
	// Services are the services the record lists and those with
	// containers, by name.
	Services []Service
}

// Service is one service of a stack.
type Service struct {
	Name string
	// Desired is how many containers the deployed project asks for.
	Desired int
	// Instances are its containers.
	Instances []Instance
}

// Running counts the service's running containers.
func (s Service) Running() int {
	n := 0
	for _, in := range s.Instances {
		if in.Running() {
			n++
		}
	}
	return n
}

// State sums the service up: running, stopped or missing (a record knows
// no health checks).
func (s Service) State() docker.ServiceState {
	switch {
	case len(s.Instances) == 0:
		return docker.ServiceMissing
	case s.Running() < max(s.Desired, 1):
		return docker.ServiceStopped
	}
	return docker.ServiceRunning
}

// Instances are every container of the stack.
func (s Stack) Instances() []Instance {
	var out []Instance
	for _, svc := range s.Services {
		out = append(out, svc.Instances...)
	}
	return out
}

// List reads the stacks of one workload (name) or of every workload (""):
// one list of containers and one of records, whatever their number.
func (s *Stacks) List(ctx context.Context, name string) (map[string]Stack, error) {
	filter := workload.LabelStack
	recordFilter := workload.LabelRecord + "=true"
	if name != "" {
		filter += "=" + name
	}
	containers, err := s.Docker.ListContainers(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("list stack containers: %w", err)
	}
	volumes, err := s.Docker.ListVolumes(ctx, recordFilter)
	if err != nil {
		return nil, err
	}
	stacks := map[string]*Stack{}
	get := func(n string) *Stack {
		if st, ok := stacks[n]; ok {
			return st
		}
		st := &Stack{Name: n}
		stacks[n] = st
		return st
	}
	// The records: the newest generation of each workload stands for it.
	for _, v := range volumes {
		rec, err := workload.ReadLabels(v.Labels)
		if err != nil || (name != "" && rec.Workload != name) {
			continue
		}
		st := get(rec.Workload)
		st.Records = append(st.Records, v.Name)
		if !st.HasRecord || rec.Generation > st.Record.Generation {
			st.Record, st.HasRecord = rec, true
		}
	}
	for _, st := range stacks {
		slices.SortFunc(st.Records, func(a, b string) int { return recordGeneration(b) - recordGeneration(a) })
		for svc, desired := range st.Record.Settings.Services {
			st.Services = append(st.Services, Service{Name: svc, Desired: desired})
		}
	}
	for _, ct := range containers {
		n := ct.Labels[workload.LabelStack]
		st := get(n)
		svcName := ct.Labels[compose.ServiceLabel]
		i := slices.IndexFunc(st.Services, func(s Service) bool { return s.Name == svcName })
		if i < 0 {
			st.Services = append(st.Services, Service{Name: svcName})
			i = len(st.Services) - 1
		}
		st.Services[i].Instances = append(st.Services[i].Instances, s.instance(ct, *st, svcName))
	}
	out := make(map[string]Stack, len(stacks))
	for n, st := range stacks {
		slices.SortFunc(st.Services, func(a, b Service) int { return strings.Compare(a.Name, b.Name) })
		for _, svc := range st.Services {
			slices.SortFunc(svc.Instances, func(a, b Instance) int { return strings.Compare(a.Name, b.Name) })
		}
		out[n] = *st
	}
	return out, nil
}

// recordName is the record volume of generation gen of workload name.
func recordName(name string, gen int) string { return fmt.Sprintf("tinyforge-record-%s-%d", name, gen) }

// recordGeneration reads the generation back from a record's name.
func recordGeneration(volume string) int {
	n, _ := strconv.Atoi(volume[strings.LastIndexByte(volume, '-')+1:])
	return n
}

// instance reads one container of a stack: what the stack's record says,
// with the container's own owner, and its address when it is the routed
// service's.
func (s *Stacks) instance(ct docker.Container, st Stack, service string) Instance {
	return s.instanceRouting(ct, st, service, st.Record.Settings.Service, st.Record.Settings.Port)
}

// instanceRouting is instance with the routed service and port given.
func (s *Stacks) instanceRouting(ct docker.Container, st Stack, service, routedService string, routed int) Instance {
	in := Instance{
		ID: ct.ID, Name: ct.Name, State: ct.State, Image: ct.Image, ImageID: ct.ImageID, Created: ct.Created,
		Recorded: st.Record, Service: service,
	}
	in.Recorded.Workload = st.Name
	in.Recorded.Owner = ct.Labels[workload.LabelOwner]
	if routed > 0 && service == routedService {
		in.Recorded.Settings.Port = routed
		for _, p := range ct.Ports {
			if p.ContainerPort == routed && p.HostPort > 0 && (p.Protocol == "" || p.Protocol == "tcp") {
				in.Published = net.JoinHostPort(dialHost(p.HostIP, s.PublishAddress), strconv.Itoa(p.HostPort))
				break
			}
		}
		in.Network = net.JoinHostPort(ct.Name, strconv.Itoa(routed))
		in.Upstream = in.Published
		if s.ForwardTo == ForwardNetwork {
			in.Upstream = in.Network
		}
	}
	return in
}

// Routed are the running containers of spec's routed service, with their
// addresses as spec routes them (the record may say otherwise until the
// deploy is recorded). An error when the stack routes no service or the
// service runs no container.
func (s *Stacks) Routed(ctx context.Context, spec workload.Spec) ([]Instance, error) {
	cfg := stackConfig(spec)
	if cfg.Service == "" {
		return nil, fmt.Errorf("workload %q routes no service of its stack", spec.Name)
	}
	containers, err := s.Docker.ListContainers(ctx, workload.LabelStack+"="+spec.Name)
	if err != nil {
		return nil, fmt.Errorf("list stack containers: %w", err)
	}
	st := Stack{Name: spec.Name}
	var out []Instance
	for _, ct := range containers {
		if ct.Labels[compose.ServiceLabel] == cfg.Service && ct.State == docker.ContainerRunning {
			out = append(out, s.instanceRouting(ct, st, cfg.Service, cfg.Service, cfg.Port))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("workload %q: service %q of the stack runs no container", spec.Name, cfg.Service)
	}
	slices.SortFunc(out, func(a, b Instance) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Up brings the stack of spec up at art's project: builds, recreates what
// changed, starts what is stopped, waits for it (healthy, where compose
// has a healthcheck), with the routed service's port published on the
// publish address. The record is not written: Record does, once the deploy
// passed its gate. warn hears what the Up says without failing (a build
// with the classic builder).
func (s *Stacks) Up(ctx context.Context, spec workload.Spec, art plugin.Artifact, warn func(string)) error {
	project, ok := art.Project.(*compose.Project)
	if !ok || project == nil {
		return fmt.Errorf("workload %q: no compose project to bring up", spec.Name)
	}
	return s.Compose.Up(ctx, project, s.upOptions(ctx, spec, warn))
}

// upOptions label what the stack of spec creates with its workload and
// owner, publish its routed service's port, and send warnings to warn.
func (s *Stacks) upOptions(ctx context.Context, spec workload.Spec, warn func(string)) compose.UpOptions {
	cfg := stackConfig(spec)
	opts := compose.UpOptions{
		Labels:         map[string]string{workload.LabelStack: spec.Name, workload.LabelOwner: spec.Owner},
		Log:            boundTo(ctx, s.Log),
		CacheNamespace: workload.CacheNamespace(spec.Name),
		Warn:           warn,
	}
	if cfg.Service != "" {
		opts.Publish = []compose.Publish{{Service: cfg.Service, Port: cfg.Port, HostIP: s.PublishAddress}}
	}
	return opts
}

// Record writes what generation gen of spec deployed from art as the
// stack's record, and removes the older records.
func (s *Stacks) Record(ctx context.Context, spec workload.Spec, art plugin.Artifact, gen int) error {
	labels, err := spec.Labels(gen, art.Revision)
	if err != nil {
		return err
	}
	var set workload.Settings
	if err := json.Unmarshal([]byte(labels[workload.LabelSettings]), &set); err != nil {
		return fmt.Errorf("record of workload %q: %w", spec.Name, err)
	}
	cfg := stackConfig(spec)
	set.Service, set.Port = cfg.Service, cfg.Port
	if art.Project != nil {
		set.Services = art.Project.Replicas()
	}
	raw, err := json.Marshal(set)
	if err != nil {
		return fmt.Errorf("record of workload %q: %w", spec.Name, err)
	}
	labels[workload.LabelSettings] = string(raw)
	labels[workload.LabelRecord] = "true"
	existing, err := s.Docker.ListVolumes(ctx, workload.LabelRecord+"=true")
	if err != nil {
		return err
	}
	name := recordName(spec.Name, gen)
	var older []string
	have := false
	for _, v := range existing {
		if v.Labels[workload.LabelWorkload] != spec.Name {
			continue
		}
		if v.Name == name {
			have = true
		} else {
			older = append(older, v.Name)
		}
	}
	if !have {
		if err := s.Docker.CreateVolume(ctx, name, labels); err != nil {
			return fmt.Errorf("record of workload %q: %w", spec.Name, err)
		}
	}
	for _, v := range older {
		if err := s.Docker.RemoveVolume(ctx, v); err != nil {
			return fmt.Errorf("remove an older record of workload %q: %w", spec.Name, err)
		}
	}
	return nil
}

// Down takes the stack of spec down (containers, networks, the images it
// built; named volumes too with the source's remove_volumes) and removes
// its records.
func (s *Stacks) Down(ctx context.Context, spec workload.Spec) error {
	if err := s.Compose.Down(ctx, spec.Name, stackConfig(spec).RemoveVolumes, boundTo(ctx, s.Log)); err != nil {
		return err
	}
	volumes, err := s.Docker.ListVolumes(ctx, workload.LabelWorkload+"="+spec.Name)
	if err != nil {
		return err
	}
	for _, v := range volumes {
		if v.Labels[workload.LabelRecord] == "true" {
			if err := s.Docker.RemoveVolume(ctx, v.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// stackConfig is the stack source's configuration; zero for a spec whose
// source is none.
func stackConfig(spec workload.Spec) plugin.StackConfig {
	if st, ok := spec.Source.(plugin.Stack); ok {
		return st.Stack()
	}
	return plugin.StackConfig{}
}

// ServiceNames lists the stack's services, for messages.
func (s Stack) ServiceNames() []string {
	names := make([]string, 0, len(s.Services))
	for _, svc := range s.Services {
		names = append(names, svc.Name)
	}
	return slices.Sorted(slices.Values(names))
}

// boundTo is log with every record logged in ctx: compose logs without a
// context, and the provider's handler finds Terraform's logger in it.
func boundTo(ctx context.Context, log *slog.Logger) *slog.Logger {
	if log == nil {
		return nil
	}
	return slog.New(ctxHandler{Handler: log.Handler(), ctx: ctx})
}

type ctxHandler struct {
	slog.Handler
	ctx context.Context
}

func (h ctxHandler) Handle(_ context.Context, r slog.Record) error { return h.Handler.Handle(h.ctx, r) }
func (h ctxHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return ctxHandler{Handler: h.Handler.WithAttrs(a), ctx: h.ctx}
}
func (h ctxHandler) WithGroup(name string) slog.Handler {
	return ctxHandler{Handler: h.Handler.WithGroup(name), ctx: h.ctx}
}
