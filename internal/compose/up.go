package compose

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v5/pkg/api"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
)

// DefaultUpTimeout bounds an Up whose options give no timeout.
const DefaultUpTimeout = 10 * time.Minute

// UpOptions say how to bring a project up.
type UpOptions struct {
	// Labels go on every container, network and volume Up creates and on
	// every image it builds, beside compose's own labels (tinyforge.workload,
	// tinyforge.owner, tinyforge.test-run). They are not part of compose's
	// config-hash: changing them does not recreate a container, and a
	// container Up leaves alone keeps the labels it was created with, so
	// they should identify (workload, owner), not describe a deploy. Keys
	// under com.docker.compose. are refused.
	Labels map[string]string
	// Publish publishes service ports on the host, replacing the ports the
	// compose file gives those services (other services keep theirs). Ps
	// reports the host port the engine chose.
	Publish []Publish
	// Timeout bounds the whole Up: builds, dependency waits, start and the
	// final wait for every service to run (and be healthy when it has a
	// healthcheck). Zero means DefaultUpTimeout.
	Timeout time.Duration
	// Log receives progress: build output, each container's and network's
	// status changes, compose's warnings. Nil discards it.
	Log *slog.Logger
	// CacheNamespace is the namespace of the builds' cache mounts (see
	// docker.BuildSpec), with a Builder.
	CacheNamespace string
	// Warn receives what the Up says without failing, for the deploy to
	// report: a service built with the classic builder, and what that
	// cannot do. Nil leaves it to Log alone.
	Warn func(msg string)
}

// Publish asks for one container port of a service on the host.
type Publish struct {
	Service string
	Port    int // container port, tcp
	// HostIP is the host address to publish on; empty means 127.0.0.1. The
	// host port is always chosen by the engine.
	HostIP string
}

// Up does what `docker compose up --detach --build --wait --remove-orphans`
// does: builds every service that has `build:` (on every Up, so that a new
// commit's Dockerfile applies; an unchanged build reuses the engine's cache
// and keeps its image ID), creates what is missing, recreates what changed
// (compose's config-hash and image digest), removes containers of services
// the project no longer has, starts what is stopped, waits for depends_on
// conditions, and returns once every service runs (healthy, when it has a
// healthcheck) or fails naming the services that did not get there.
// Containers that are up to date and running are not touched. A named
// volume whose configuration changed is kept (not recreated, which would
// lose its data), with a warning in the log. After a successful Up, images
// this package built for the project earlier and that nothing uses any more
// are removed.
func (r *Runtime) Up(ctx context.Context, p *Project, opts UpOptions) error {
	_, err := r.up(ctx, p, opts, "")
	return err
}

// up is Up, with the service to update beside its running containers
// (UpBeside) or none ("").
func (r *Runtime) up(ctx context.Context, p *Project, opts UpOptions, beside string) (Beside, error) {
	var b Beside
	fail := func(err error) (Beside, error) {
		return b, fmt.Errorf("compose up %s: %w", p.Name(), p.redact.Error(err))
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultUpTimeout
	}
	project, err := p.forUp(opts)
	if err != nil {
		return fail(err)
	}

	op, end := startOperation(opts.Log, p.redact)
	defer end()
	upCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	svc, flush, err := r.service(upCtx, op)
	if err != nil {
		return fail(err)
	}
	defer flush()

	start := time.Now()
	if r.builder != nil {
		if err := r.buildServices(upCtx, op, project, opts); err != nil {
			return fail(err)
		}
	}
	up := upOptions(project, timeout)
	if beside != "" && project.Services[beside].ContainerName != "" {
		op.log.Warn("service "+beside+" sets container_name: compose cannot run its new container beside the old one, "+
			"so it recreates it in place (a downtime window)", "project", p.Name())
	} else if beside != "" {
		if b.Old, err = r.planBeside(upCtx, svc, project, beside, &up); err != nil {
			return fail(err)
		}
		if len(b.Old) > 0 {
			op.log.Info("starting the new containers of a service beside its running ones", "project", p.Name(), "service", beside,
				"running", len(b.Old))
		}
	}
	// A build that the engine's cache-lookup race failed is no fault of the
	// project: up again (it converges: what already runs stays), as the Git
	// sources build again.
	attempt := 0
	err = docker.BuildCacheRaceRetry.Do(upCtx, func(ctx context.Context) error {
		if attempt++; attempt > 1 {
			op.log.Info("up again: the engine lost an image while it looked through its build cache", "project", p.Name(), "attempt", attempt)
		}
		return svc.Up(ctx, project, up)
	})
	// compose returns nil from a dependency wait whose context ended.
	if err == nil {
		err = upCtx.Err()
	}
	if len(b.Old) > 0 {
		// What Up created beside the old containers, read on a context of
		// its own: the caller must be told even when the Up's is spent.
		listCtx, listCancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer listCancel()
		all, listErr := r.serviceContainers(listCtx, p.Name(), beside)
		if listErr != nil && err == nil {
			err = listErr
		}
		for _, c := range all {
			if !slices.ContainsFunc(b.Old, func(o Container) bool { return o.ID == c.ID }) {
				b.New = append(b.New, c)
			}
		}
	}
	if err != nil {
		// Which services did not make it, read on a context of its own: the
		// Up's may be spent.
		psCtx, psCancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer psCancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("not ready within %s", timeout)
		}
		if detail := r.notReady(psCtx, p); detail != "" {
			err = fmt.Errorf("%w; %s", err, detail)
		}
		return fail(err)
	}
	op.log.Info("compose project is up", "project", p.Name(), "took", time.Since(start).Round(time.Millisecond))
	r.pruneBuilds(ctx, op, p.Name())
	return b, nil
}

// upOptions are the options of `up --detach --build --wait
// --remove-orphans` for project, waiting up to timeout.
func upOptions(project *types.Project, timeout time.Duration) api.UpOptions {
	return api.UpOptions{
		Create: api.CreateOptions{
			Build:                &api.BuildOptions{Quiet: true},
			Services:             project.ServiceNames(),
			RemoveOrphans:        true,
			Recreate:             api.RecreateDiverged,
			RecreateDependencies: api.RecreateDiverged,
			Inherit:              true,
			QuietPull:            true,
		},
		Start: api.StartOptions{
			Project:     project,
			Services:    project.ServiceNames(),
			Wait:        true,
			WaitTimeout: timeout,
		},
	}
}

// notReady describes the services of p that are not running and healthy,
// with the last health check output of an unhealthy one.
func (r *Runtime) notReady(ctx context.Context, p *Project) string {
	st, err := r.Ps(ctx, p.Name(), p)
	if err != nil {
		return ""
	}
	var parts []string
	for _, s := range st {
		state := s.State()
		if state == docker.ServiceRunning {
			continue
		}
		part := fmt.Sprintf("service %s is %s", s.Name, state)
		for _, c := range s.Containers {
			if c.Health == docker.HealthUnhealthy && c.HealthOutput != "" {
				part += fmt.Sprintf(" (last health check: %s)", p.redact.String(c.HealthOutput))
				break
			}
			if c.State == docker.ContainerExited || c.State == docker.ContainerDead {
				part += fmt.Sprintf(" (container %s exited with code %d)", c.Name, c.ExitCode)
				break
			}
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, "; ")
}

// forUp returns the copy of the project that Up hands to compose: builds on
// every Up, extra labels on everything it creates, published ports
// overridden.
func (p *Project) forUp(opts UpOptions) (*types.Project, error) {
	for k := range opts.Labels {
		if strings.HasPrefix(k, "com.docker.compose.") {
			return nil, fmt.Errorf("label %s: keys under com.docker.compose. belong to compose", k)
		}
	}
	publish := map[string]Publish{}
	for _, pub := range opts.Publish {
		if _, ok := p.raw.Services[pub.Service]; !ok {
			return nil, fmt.Errorf("publish: the project has no service %q", pub.Service)
		}
		if pub.Port < 1 || pub.Port > 65535 {
			return nil, fmt.Errorf("publish: service %s: port must be between 1 and 65535 (got %d)", pub.Service, pub.Port)
		}
		if _, dup := publish[pub.Service]; dup {
			return nil, fmt.Errorf("publish: service %s is listed twice", pub.Service)
		}
		if pub.HostIP == "" {
			pub.HostIP = "127.0.0.1"
		}
		if _, err := netip.ParseAddr(pub.HostIP); err != nil {
			return nil, fmt.Errorf("publish: service %s: host IP %q: %w", pub.Service, pub.HostIP, err)
		}
		publish[pub.Service] = pub
	}

	// WithServicesTransform works on a deep copy: p stays as loaded.
	project, err := p.raw.WithServicesTransform(func(name string, s types.ServiceConfig) (types.ServiceConfig, error) {
		s.CustomLabels = addLabels(s.CustomLabels, opts.Labels)
		if s.Build != nil {
			// pull_policy: build is what `up --build` means: build even when
			// an image of that name exists. It is not part of config-hash.
			s.PullPolicy = types.PullPolicyBuild
			s.Build.Labels = addLabels(s.Build.Labels, opts.Labels)
			// The classic builder does not label images with their project
			// (BuildKit does): these labels let pruneBuilds and down find
			// them.
			s.Build.Labels = addLabels(s.Build.Labels, map[string]string{
				api.ProjectLabel: p.raw.Name,
				api.ServiceLabel: name,
			})
		}
		if pub, ok := publish[name]; ok {
			s.Ports = []types.ServicePortConfig{{
				Mode:     "ingress",
				HostIP:   pub.HostIP,
				Target:   uint32(pub.Port),
				Protocol: "tcp",
			}}
		}
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	for name, n := range project.Networks {
		if !n.External {
			n.CustomLabels = addLabels(n.CustomLabels, opts.Labels)
			project.Networks[name] = n
		}
	}
	for name, v := range project.Volumes {
		if !v.External {
			v.CustomLabels = addLabels(v.CustomLabels, opts.Labels)
			project.Volumes[name] = v
		}
	}
	return project, nil
}

func addLabels[M ~map[string]string](dst M, add map[string]string) M {
	if len(add) == 0 {
		return dst
	}
	if dst == nil {
		dst = M{}
	} else {
		dst = maps.Clone(dst)
	}
	maps.Copy(dst, add)
	return dst
}

// pruneBuilds removes the images built for the project (labelled by
// forUp) that are neither tagged nor used by a container: builds that a
// later Up superseded. Failures are logged, not returned: the Up succeeded.
func (r *Runtime) pruneBuilds(ctx context.Context, op *operation, project string) {
	images, err := r.api.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", api.ProjectLabel+"="+project),
		filters.Arg("dangling", "true"),
	)})
	if err != nil {
		op.log.Warn("list superseded builds", "project", project, "error", err.Error())
		return
	}
	for _, img := range images {
		if img.Containers > 0 {
			continue
		}
		if _, err := r.api.ImageRemove(ctx, img.ID, image.RemoveOptions{PruneChildren: true}); err != nil {
			// In use by a container (Containers is -1 unless asked for).
			op.log.Debug("keep superseded build", "image", img.ID, "reason", err.Error())
			continue
		}
		op.log.Info("removed superseded build", "project", project, "image", img.ID)
	}
}
