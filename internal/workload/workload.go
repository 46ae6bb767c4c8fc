// Package workload is the deploy engine's vocabulary: what a user asks for (a
// Spec), the rules a Spec must satisfy (Validate, one function for plan time
// and deploy time), and the labels through which the Docker host itself
// records what is deployed. It imports no terraform-plugin-* package: the
// provider maps Terraform values onto these types, and the engine could serve
// a CLI or a daemon unchanged.
//
// It builds on plugin (the source contract a Spec holds) and proxy (the
// domain rules); rollout (the pipelines), runner (what starts and observes
// instances) and the sources that record labels (gitbuild, static) import it.
package workload

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/tlscert"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/plugin"
)

// Labels every container the engine creates carries. The Docker host alone
// tells what is deployed, even after a crash or on another machine.
const (
	LabelWorkload   = "tinyforge.workload"   // the workload name
	LabelSource     = "tinyforge.source"     // the source kind
	LabelGeneration = "tinyforge.generation" // 1 on create, +1 per deploy
	LabelCommit     = "tinyforge.commit"     // the built revision (Git sources)
	LabelConfig     = "tinyforge.config"     // the source config as JSON, secrets removed
	LabelSettings   = "tinyforge.settings"   // the rest of the Spec as JSON, env values removed
	LabelOwner      = "tinyforge.owner"      // the Owner of the Spec that deployed the container
	LabelManaged    = "tinyforge.managed"    // on networks the provider creates
	// A stack-managed workload (compose) keeps the labels above on a record
	// (a labelled volume, rewritten by every deploy), since the stack
	// recreates only the containers that changed, and those keep the labels
	// they were created with; its containers carry LabelStack and LabelOwner.
	LabelStack  = "tinyforge.stack"  // on a stack's containers: the workload name
	LabelRecord = "tinyforge.record" // "true" on a stack's record
	// A release command's one-off container (or Swarm job) carries
	// LabelRelease, LabelOwner and LabelGeneration, never LabelWorkload:
	// it is not an instance of the workload.
	LabelRelease = "tinyforge.release" // the workload name
	// A Swarm service keeps the labels above on the service; its task
	// template carries the generation under a key of its own, so that a
	// task container never reads as a container the provider runs itself.
	LabelTaskGeneration = "tinyforge.task.generation" // on a service's tasks: the deploy that started them
)

// Defaults of the optional timings.
const (
	DefaultHealthTimeout = 60 * time.Second
	DefaultDrainTimeout  = 5 * time.Second
)

// Spec is one workload as the user asks for it.
type Spec struct {
	Name string
	// Owner identifies who manages the workload (a Terraform state): a
	// deploy records it on every container, and never touches a container
	// that records another. "" is the owner of containers deployed before
	// owners were recorded, which every owner may manage.
	Owner string
	// Strategy is the strategy as written; "" lets the source choose.
	Strategy plugin.Strategy
	Domains  []string
	// Env is injected into the container. Values are secrets: they never
	// reach logs, errors or labels.
	Env     map[string]string
	Volumes []Volume
	// HostPort is a fixed published port; 0 lets the engine choose.
	HostPort int
	// HealthTimeout bounds the readiness probe.
	HealthTimeout time.Duration
	// DrainTimeout is how long the old container keeps serving in-flight
	// requests after the route moved away from it.
	DrainTimeout time.Duration
	// Replicas is how many instances serve the workload; 0 means 1.
	Replicas int
	// Run is how each instance runs.
	Run Run
	// Release runs once per deploy, before any new instance starts.
	Release Release
	// SecretEnv is injected into the instances and the release command
	// like Env, but its values come from write-only attributes: they
	// reach nothing else the engine writes (labels, logs, errors).
	SecretEnv map[string]string
	// SecretEnvVersion stands for SecretEnv's values, which the state does
	// not hold: a change redeploys.
	SecretEnvVersion int
	// TLS, when set, is the certificate the domains are served with over
	// HTTPS, instead of one from the proxy's issuer. Its key is a secret
	// like SecretEnv's values: it reaches the proxy and nothing else.
	TLS    *proxy.TLS
	Source plugin.Source
}

// ReplicaCount is Replicas with the default written out.
func (s Spec) ReplicaCount() int { return max(s.Replicas, 1) }

// Volume mounts a named volume or a host path into the container.
type Volume struct {
	// Source is a named volume, or an absolute host path (a bind mount).
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only,omitempty"`
}

// Mounts are the workload's volumes and the mounts its source asks for
// (plugin.Mounter), in that order: what every instance mounts.
func (s Spec) Mounts() []Volume {
	out := append([]Volume(nil), s.Volumes...)
	if m, ok := s.Source.(plugin.Mounter); ok {
		for _, sm := range m.Mounts() {
			out = append(out, Volume{Source: sm.Source, Target: sm.Target, ReadOnly: sm.ReadOnly})
		}
	}
	return out
}

// Bind reports whether the volume is a bind mount of a host path.
func (v Volume) Bind() bool { return strings.HasPrefix(v.Source, "/") }

// Host is what the engine knows about where it deploys, for validation.
// What a runtime cannot do (a compose stack, a Swarm service) its pipeline
// in rollout refuses.
type Host struct {
	// Proxied says whether a proxy is configured to route domains.
	Proxied bool
	// SingleUpstream says the proxy forwards a route to one upstream only
	// (Nginx Proxy Manager), so a routed workload runs one replica.
	SingleUpstream bool
	// CheckTLS, when set, is the proxy's own rule for a route's
	// certificates (proxy.TLSChecker).
	CheckTLS func(proxy.Route) error
}

// FieldError is a rule broken by one attribute. Attr is the attribute path
// as the user writes it ("deploy_strategy", "volume[1].target",
// "source.image.port"), so that a diagnostic can point at it.
type FieldError struct {
	Attr string
	Err  error
}

func (e *FieldError) Error() string { return e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// FieldErrors lists the rules err reports as broken: each *FieldError it
// holds, through joins and wraps, in order.
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		var fe *FieldError
		if errors.As(err, &fe) && fe == err {
			out = append(out, fe)
			return
		}
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range joined.Unwrap() {
				walk(e)
			}
			return
		}
		if errors.As(err, &fe) {
			out = append(out, fe)
		}
	}
	walk(err)
	return out
}

func fieldErr(attr string, err error) error {
	if err == nil {
		return nil
	}
	return &FieldError{Attr: attr, Err: err}
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidateName is the rule for a workload name: a DNS label, since it names
// containers and proxy routes.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("name must be a DNS label: 1-63 lower-case letters, digits and hyphens, starting and ending with a letter or digit (got %q)", name)
	}
	return nil
}

// ValidateVolumeTarget is the rule for where a volume is mounted: an
// absolute path below the container's root, as the engine reads it.
func ValidateVolumeTarget(target string) error {
	if !strings.HasPrefix(target, "/") {
		return fmt.Errorf("target must be an absolute path in the container (got %q)", target)
	}
	if mountPoint(target) == "/" {
		return fmt.Errorf("target must not be the container's root directory (got %q)", target)
	}
	return nil
}

// mountPoint is where the engine mounts target: Docker reads a backslash
// as a slash, then cleans the path ("/data\\" is "/data").
func mountPoint(target string) string {
	return path.Clean(strings.ReplaceAll(target, `\`, "/"))
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// ValidateEnvName is the rule for an environment variable name.
func ValidateEnvName(name string) error {
	if !envNameRE.MatchString(name) {
		return fmt.Errorf("env name must start with a letter or underscore and hold only letters, digits, \"_\", \".\" and \"-\" (got %q)", name)
	}
	return nil
}

// volumeNameRE is a volume name as Docker's local volume driver takes it:
// two characters or more.
var volumeNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// ValidateVolumeSource is the rule for what a volume mounts: a named volume,
// or an absolute host path.
func ValidateVolumeSource(source string) error {
	if strings.HasPrefix(source, "/") || volumeNameRE.MatchString(source) {
		return nil
	}
	return fmt.Errorf("source must be a volume name of two or more characters ([a-zA-Z0-9][a-zA-Z0-9_.-]+) or an absolute host path (got %q)", source)
}

// ValidateHostPort is the rule for a fixed published port.
func ValidateHostPort(p int) error {
	if p < 1 || p > 65535 {
		return fmt.Errorf("host_port must be between 1 and 65535 (got %d)", p)
	}
	return nil
}

// Validate checks the whole Spec against the rules and the host, and
// resolves the strategy a deploy will use. Plan time and deploy time call it
// alike (through rollout's Engine.Validate, which adds what the runtime
// chosen for the spec refuses). Every broken rule is reported, each as a
// *FieldError.
func (s Spec) Validate(h Host) (plugin.Strategy, error) {
	var errs []error
	add := func(attr string, err error) { errs = append(errs, fieldErr(attr, err)) }

	add("name", ValidateName(s.Name))
	for i, d := range s.Domains {
		add(fmt.Sprintf("domains[%d]", i), proxy.ValidateDomain(d))
	}
	if len(s.Domains) > 0 && !h.Proxied {
		add("domains", fmt.Errorf("domains %q need a proxy to route them: add a proxy block to the provider configuration", s.Domains))
	}
	for _, k := range s.EnvKeys() {
		add("env", ValidateEnvName(k))
	}
	if s.HostPort != 0 {
		add("host_port", ValidateHostPort(s.HostPort))
	}
	targets := map[string]bool{}
	for i, v := range s.Volumes {
		add(fmt.Sprintf("volume[%d].source", i), ValidateVolumeSource(v.Source))
		add(fmt.Sprintf("volume[%d].target", i), ValidateVolumeTarget(v.Target))
		if t := mountPoint(v.Target); targets[t] {
			add(fmt.Sprintf("volume[%d].target", i), fmt.Errorf("target %q is mounted twice", v.Target))
		} else {
			targets[t] = true
		}
	}
	if s.HealthTimeout < 0 {
		add("health_timeout", fmt.Errorf("health_timeout must not be negative (got %s)", s.HealthTimeout))
	}
	s.Run.validate(add)
	s.Release.validate(add)
	s.validateSecrets(add)
	s.validateWorker(add)
	s.validateTLS(h, add)
	if s.Replicas != 0 {
		add("replicas", ValidateReplicas(s.Replicas))
	}
	if s.ReplicaCount() > 1 {
		if s.HostPort != 0 {
			add("replicas", fmt.Errorf("replicas %d cannot share host_port %d: each replica publishes the port", s.Replicas, s.HostPort))
		}
		if h.SingleUpstream && len(s.Domains) > 0 {
			add("replicas", fmt.Errorf("replicas %d needs a proxy that balances a route over several upstreams (Caddy): Nginx Proxy Manager forwards a host to one target", s.Replicas))
		}
	}
	for i, c := range s.Run.Placement {
		add(fmt.Sprintf("placement[%d]", i), ValidatePlacement(c))
	}
	if s.DrainTimeout < 0 {
		add("drain_timeout", fmt.Errorf("drain_timeout must not be negative (got %s)", s.DrainTimeout))
	}
	var strategy plugin.Strategy
	if s.Source == nil {
		add("source", errors.New("source must hold exactly one kind of source"))
	} else {
		add("source."+s.Source.Kind(), s.Source.Validate())
		if m, ok := s.Source.(plugin.Mounter); ok {
			for _, sm := range m.Mounts() {
				for i, v := range s.Volumes {
					if mountPoint(v.Target) == mountPoint(sm.Target) {
						add(fmt.Sprintf("volume[%d].target", i), fmt.Errorf("target %q is where the %s source mounts %s", v.Target, s.Source.Kind(), sm.Source))
					}
				}
			}
		}
		var err error
		routing := plugin.Routing{Proxy: h.Proxied, Domains: len(s.Domains) > 0, Worker: s.Worker()}
		strategy, err = plugin.ResolveStrategy(s.Strategy, s.Source, routing, s.HostPort != 0)
		add("deploy_strategy", err)
	}
	return strategy, errors.Join(errs...)
}

// validateTLS checks the workload's certificate (tlscert's rules: the PEM
// parses, the key is its key, it covers every domain, it is valid now),
// and what the proxy says of the route's certificates. A key the plan does
// not see (write-only) is checked at deploy.
func (s Spec) validateTLS(h Host, add func(string, error)) {
	if s.TLS != nil {
		if len(s.Domains) == 0 {
			add("tls", errors.New("tls: a certificate needs domains to serve"))
			return
		}
		c, err := tlscert.Parse(s.TLS.CertificatePEM)
		if err != nil {
			add("tls.certificate_pem", err)
			return
		}
		if s.TLS.KeyPEM != "" {
			add("tls.private_key_pem_wo", c.MatchKey(s.TLS.KeyPEM))
		}
		add("tls.certificate_pem", c.CheckDomains(s.Domains))
		_, err = c.CheckValidity(time.Now())
		add("tls.certificate_pem", err)
	}
	if h.CheckTLS != nil && len(s.Domains) > 0 {
		attr := "domains"
		if s.TLS != nil {
			attr = "tls"
		}
		add(attr, h.CheckTLS(proxy.Route{Workload: s.Name, Domains: s.Domains, TLS: s.TLS}))
	}
}

// CacheNamespace is the namespace of a workload's BuildKit cache mounts
// (docker.BuildSpec.CacheNamespace): the workload's own, kept across its
// deploys, removed with it.
func CacheNamespace(name string) string { return "tinyforge/" + name }

// NeedsRedeploy reports whether going from prev to next needs a new
// container. Routing, strategy, timing and release changes do not: they
// apply to the running container, or to the next deploy. SecretEnv's
// values are not in the state: its version stands for them.
func NeedsRedeploy(prev, next Spec) bool {
	if prev.Source == nil || next.Source == nil {
		return true
	}
	return prev.Source.Fingerprint() != next.Source.Fingerprint() ||
		!maps.Equal(prev.Env, next.Env) ||
		!slices.Equal(prev.Volumes, next.Volumes) ||
		prev.HostPort != next.HostPort ||
		!prev.Run.Equal(next.Run) ||
		prev.SecretEnvVersion != next.SecretEnvVersion
}

// EnvKeys are the names of the Spec's env, sorted: names are not secret and
// are recorded in labels so that import can read the values back from the
// container.
func (s Spec) EnvKeys() []string { return slices.Sorted(maps.Keys(s.Env)) }
