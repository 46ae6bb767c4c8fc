package compose

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v5/pkg/api"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
)

// Builder builds images with BuildKit through the engine's API
// (internal/docker's Client). Without one, compose builds `build:`
// services itself, and without the buildx plugin that is the classic
// builder: no `RUN --mount`, no cache mounts.
type Builder interface {
	BuildImage(ctx context.Context, spec docker.BuildSpec, progress docker.Progress) (docker.BuildResult, error)
	RemoveBuildCache(ctx context.Context, images []docker.Image) error
}

// Option adjusts a Runtime.
type Option func(*Runtime)

// WithBuilder makes Up build the `build:` services with b, before compose
// creates anything: compose then finds their images and builds nothing.
func WithBuilder(b Builder) Option { return func(r *Runtime) { r.builder = b } }

// inlineDockerfile is the context name of a service's dockerfile_inline.
const inlineDockerfile = ".tinyforge.dockerfile_inline"

// buildServices builds every `build:` service of project (the copy Up hands
// to compose) with the Runtime's builder, tagged with the image name
// compose gives it, labelled as forUp labelled its build, and with the
// cache namespace of opts; then compose finds each image and builds
// nothing. What the builder cannot build as compose would (a remote or
// missing context, additional contexts, SSH or secrets of the build) is
// refused, naming the service.
func (r *Runtime) buildServices(ctx context.Context, op *operation, project *types.Project, opts UpOptions) error {
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n, s := range project.Services {
			if s.Build != nil && !yield(n) {
				return
			}
		}
	}) {
		s := project.Services[name]
		if err := r.buildService(ctx, op, project.Name, name, &s, opts); err != nil {
			return fmt.Errorf("build service %s: %w", name, err)
		}
		project.Services[name] = s
	}
	return nil
}

// buildService builds one service and leaves compose nothing to build.
func (r *Runtime) buildService(ctx context.Context, op *operation, projectName, name string, s *types.ServiceConfig, opts UpOptions) error {
	b := s.Build
	switch {
	case len(b.Secrets) > 0:
		return fmt.Errorf("build.secrets is not supported here; give the build what it needs as build args")
	case len(b.SSH) > 0:
		return fmt.Errorf("build.ssh is not supported here")
	case len(b.AdditionalContexts) > 0:
		return fmt.Errorf("build.additional_contexts is not supported here")
	}
	if fi, err := os.Stat(b.Context); err != nil || !fi.IsDir() {
		return fmt.Errorf("build.context %q is not a directory of the checkout", b.Context)
	}
	dc := docker.DirContext{Dir: b.Context}
	dockerfile := b.Dockerfile
	var generated []docker.ContextFile
	if b.DockerfileInline != "" {
		dockerfile = inlineDockerfile
		generated = append(generated, docker.ContextBytes(inlineDockerfile, []byte(b.DockerfileInline), 0o644))
		dc.Skip = func(n string) bool { return n == inlineDockerfile }
	} else {
		if dockerfile == "" {
			dockerfile = "Dockerfile"
		}
		rel, err := filepath.Rel(b.Context, filepath.Join(b.Context, dockerfile))
		if err != nil || !filepath.IsLocal(rel) {
			return fmt.Errorf("build.dockerfile %q is not inside build.context", b.Dockerfile)
		}
		dockerfile = filepath.ToSlash(rel)
		dc.Dockerfile = dockerfile
	}
	files, err := dc.Files()
	if err != nil {
		return err
	}
	context, err := docker.NewBuildContext(append(generated, files...))
	if err != nil {
		return err
	}
	args := map[string]string{}
	for k, v := range b.Args {
		if v != nil {
			args[k] = *v
		}
	}
	labels := map[string]string{api.ImageBuilderLabel: "buildkit"}
	for k, v := range b.Labels {
		labels[k] = v
	}
	image := api.GetImageNameOrDefault(*s, projectName)
	start := time.Now()
	op.log.Info("building", "project", projectName, "service", name, "image", image)
	res, err := r.builder.BuildImage(ctx, docker.BuildSpec{
		Context:        context,
		Dockerfile:     dockerfile,
		Target:         b.Target,
		Tags:           append([]string{image}, b.Tags...),
		BuildArgs:      args,
		Labels:         labels,
		CacheNamespace: opts.CacheNamespace,
	}, func(line string) { op.log.Info("build: "+op.redact.String(line), "service", name) })
	if err != nil {
		return err
	}
	if res.Classic {
		op.log.Warn(docker.ClassicBuilderWarning, "service", name)
		if opts.Warn != nil {
			opts.Warn(fmt.Sprintf("compose service %s: %s", name, docker.ClassicBuilderWarning))
		}
	}
	op.log.Info("built", "service", name, "image", image, "image_id", res.ImageID, "took", time.Since(start).Round(time.Millisecond))
	// The image is there: compose uses it and builds nothing.
	s.PullPolicy = types.PullPolicyMissing
	return nil
}
