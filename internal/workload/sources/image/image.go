// Package image is the registry-image source: the workload runs an image that
// already exists, pulled from its registry per the pull policy. It is the
// simplest source and the default path for blue-green: with a proxy
// configured, "" resolves to blue-green.
package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/distribution/reference"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
)

// Kind is the source kind and schema block name.
const Kind = "image"

// Pull policies.
const (
	PullMissing = "missing"
	PullAlways  = "always"
	PullNever   = "never"
)

// PullPolicies are the values of pull, default first.
var PullPolicies = []string{PullMissing, PullAlways, PullNever}

// Config is an image source as the user writes it.
type Config struct {
	Ref         string `json:"ref"`
	Port        int    `json:"port"`
	Healthcheck string `json:"healthcheck,omitempty"`
	// Pull is "missing" (pull when the engine lacks the image), "always" or
	// "never". "" means "missing".
	Pull string `json:"pull,omitempty"`
}

func init() {
	plugin.Register(Kind, func(public []byte) (plugin.Source, error) {
		var c Config
		if err := json.Unmarshal(public, &c); err != nil {
			return nil, fmt.Errorf("decode image source config: %w", err)
		}
		return &c, nil
	})
}

// Kind implements plugin.Source.
func (c *Config) Kind() string { return Kind }

// Validate implements plugin.Source.
func (c *Config) Validate() error {
	var errs []error
	if err := ValidateRef(c.Ref); err != nil {
		errs = append(errs, err)
	}
	if err := plugin.ValidateOptionalPort(c.Port); err != nil {
		errs = append(errs, err)
	}
	if err := plugin.ValidateHealthcheck(c.Healthcheck); err != nil {
		errs = append(errs, err)
	}
	if err := ValidatePull(c.Pull); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("image source: %w", err)
	}
	return nil
}

// ValidateRef is the rule for an image reference.
func ValidateRef(ref string) error {
	if ref == "" {
		return errors.New("ref must not be empty")
	}
	if _, err := reference.ParseNormalizedNamed(ref); err != nil {
		return fmt.Errorf("ref %q is not a valid image reference: %v", ref, err)
	}
	return nil
}

// ValidatePull is the rule for a pull policy.
func ValidatePull(pull string) error {
	switch pull {
	case "", PullMissing, PullAlways, PullNever:
		return nil
	}
	return fmt.Errorf("pull must be one of %q, %q, %q (got %q)", PullMissing, PullAlways, PullNever, pull)
}

// DefaultStrategy implements plugin.Source: images historically deploy
// blue-green when a proxy routes them, else recreate.
func (c *Config) DefaultStrategy(routed bool) plugin.Strategy {
	if routed {
		return plugin.StrategyBlueGreen
	}
	return plugin.StrategyRecreate
}

// Container implements plugin.Source.
func (c *Config) Container() plugin.Container {
	return plugin.Container{Port: c.Port, Healthcheck: c.Healthcheck}
}

// Fingerprint implements plugin.Source: the image and the port make the
// container; the probe path and pull policy do not.
func (c *Config) Fingerprint() string { return fmt.Sprintf("image|%s|%d", c.Ref, c.Port) }

// Public implements plugin.Source; an image source holds no secret.
func (c *Config) Public() any {
	p := *c
	if p.Pull == "" {
		p.Pull = PullMissing
	}
	return p
}

// Produce implements plugin.Source: make the image present per the pull
// policy.
func (c *Config) Produce(ctx context.Context, env plugin.ProduceEnv) (plugin.Artifact, error) {
	pull := c.Pull
	if pull == "" {
		pull = PullMissing
	}
	if pull != PullAlways {
		img, err := env.Images.InspectImage(ctx, c.Ref)
		switch {
		case err == nil:
			env.Log.InfoContext(ctx, "image present, not pulling", "workload", env.Workload, "image", c.Ref, "pull", pull)
			return plugin.Artifact{Image: c.Ref, ImageID: img.ID}, nil
		case !errors.Is(err, docker.ErrNotFound):
			return plugin.Artifact{}, fmt.Errorf("inspect image %s: %w", c.Ref, err)
		case pull == PullNever:
			return plugin.Artifact{}, fmt.Errorf("image %q is not on the Docker host and pull is %q", c.Ref, PullNever)
		}
	}
	env.Log.InfoContext(ctx, "pulling image", "workload", env.Workload, "image", c.Ref)
	progress := func(line string) {
		env.Log.InfoContext(ctx, "pull: "+line, "workload", env.Workload, "image", c.Ref)
	}
	if err := env.Images.PullImage(ctx, c.Ref, progress); err != nil {
		return plugin.Artifact{}, fmt.Errorf("pull %s: %w", c.Ref, err)
	}
	img, err := env.Images.InspectImage(ctx, c.Ref)
	if err != nil {
		return plugin.Artifact{}, fmt.Errorf("inspect pulled image %s: %w", c.Ref, err)
	}
	return plugin.Artifact{Image: c.Ref, ImageID: img.ID}, nil
}
