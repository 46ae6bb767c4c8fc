// Package plugin is the contract between the deploy engine and the kinds of
// workload source (image, dockerfile, ...). A source says only what is special
// about it: how its config is validated, how its image is produced on the
// Docker host, and what its container listens on. Everything a deploy does
// step by step lives once, in rollout, for every source.
//
// Strategy resolution lives here too, so that plan time (the provider) and
// deploy time (rollout) share one rule.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"sync"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
)

// Strategy is how a redeploy replaces the running container.
type Strategy string

const (
	// StrategyDefault lets the source choose its historical default.
	StrategyDefault Strategy = ""
	// StrategyRecreate stops the old container before the new one starts: a
	// short downtime window, by design.
	StrategyRecreate Strategy = "recreate"
	// StrategyBlueGreen starts the new container beside the old one, gates
	// it, swaps the proxy route, then retires the old one: no downtime.
	StrategyBlueGreen Strategy = "blue-green"
	// StrategyStartFirst is a compose stack's own update of its routed
	// service (the compose spec's update_config order of that name): the
	// service's new container starts beside the old one within the stack,
	// is gated, takes the route, and the old one drains and goes; the
	// stack's other services are recreated in place by compose. A source's
	// default, never written by a user.
	StrategyStartFirst Strategy = "start-first"
)

// Strategies are the values a user may write, in the order documented.
var Strategies = []Strategy{StrategyDefault, StrategyRecreate, StrategyBlueGreen}

// Source is one configured workload source.
type Source interface {
	// Kind names the source: the schema block and the tinyforge.source label.
	Kind() string
	// Validate rejects bad config before any expensive work. Plan time and
	// deploy time call the same function. Errors name the attribute and the
	// value.
	Validate() error
	// DefaultStrategy is what StrategyDefault resolves to; routed says
	// whether the workload has a proxy route that a deploy can swap.
	DefaultStrategy(routed bool) Strategy
	// Container says what the produced container listens on.
	Container() Container
	// Fingerprint changes exactly when a redeploy is needed: it covers what
	// the image and the container are made from, not how the deploy is
	// gated or reported.
	Fingerprint() string
	// Public is the config with secrets removed, as stored in the
	// tinyforge.config label and read back by import.
	Public() any
	// Produce makes the image available on the Docker host. Nothing running
	// is touched.
	Produce(ctx context.Context, env ProduceEnv) (Artifact, error)
}

// Resolver is implemented by sources whose content moves on its own, such as
// a Git branch: Resolve returns the revision a deploy would use now, so that
// the plan can show it.
type Resolver interface {
	Resolve(ctx context.Context) (string, error)
	// Origin names what Resolve looks at (the repository and branch, no
	// secret): a revision resolved earlier stands for the same Origin.
	Origin() string
}

// Errors a Resolver marks its failures with (errors.Is), so that a plan can
// tell what to do: refused credentials fail it, naming the credential; an
// unavailable origin may leave the deployed revision in place, with a
// warning that a new one may be missed. Any other failure fails the plan.
var (
	// ErrCredentials: the origin refused the credentials (or needs some).
	ErrCredentials = errors.New("credentials refused")
	// ErrUnavailable: the origin could not be reached, timed out, or
	// answered 5xx; it may pass by itself.
	ErrUnavailable = errors.New("origin unavailable")
)

// AttrError is a failure caused by one attribute of the source's own block,
// such as a ref that names no tag: Attr names it in the block ("ref",
// "branch"), so that the plan and the apply can point at
// source.<kind>.<Attr>. Its message is Err's, which names the attribute
// too.
type AttrError struct {
	Attr string
	Err  error
}

func (e *AttrError) Error() string { return e.Err.Error() }
func (e *AttrError) Unwrap() error { return e.Err }

// MarkError returns err, with its message, marked as class (ErrCredentials
// or ErrUnavailable) for errors.Is.
func MarkError(err, class error) error {
	if err == nil {
		return nil
	}
	return &markedError{err: err, class: class}
}

type markedError struct{ err, class error }

func (e *markedError) Error() string   { return e.err.Error() }
func (e *markedError) Unwrap() []error { return []error{e.err, e.class} }

// Reporter is implemented by sources that report a deploy's outcome to where
// the source came from (commit statuses and deployments on a Git host), and
// that the workload is gone once it is destroyed. Reporting is best
// effort: its error is a warning, never a failed deploy or destroy.
type Reporter interface {
	Report(ctx context.Context, workload, revision string, state DeployState, description string) error
}

// DeployState is a deploy's outcome as reported to a Reporter.
type DeployState string

const (
	DeployPending DeployState = "pending"
	DeploySuccess DeployState = "success"
	// DeployFailure is reported with the reason as its description.
	DeployFailure DeployState = "failure"
	// DeployRetired is reported once the workload is destroyed, with no
	// revision.
	DeployRetired DeployState = "retired"
)

// Pruner is implemented by sources that build images: after a deploy,
// Prune removes the workload's images except those in keep, so that disk
// does not grow per deploy.
type Pruner interface {
	Prune(ctx context.Context, env ProduceEnv, keep []string) error
}

// Forgetter is implemented by sources that keep something of a workload
// on the machine that runs the provider (a checkout, a cached
// repository): Forget removes it once the workload is destroyed.
type Forgetter interface {
	Forget(workload string) error
}

// HealthcheckDefaulter is implemented by sources whose probe path has a
// default the user did not write (static: "/").
type HealthcheckDefaulter interface {
	// HealthcheckDefaulted reports whether the probe path is the default.
	HealthcheckDefaulted() bool
}

// HealthcheckDefaulted reports whether src's probe path is a default the
// user did not write.
func HealthcheckDefaulted(src Source) bool {
	d, ok := src.(HealthcheckDefaulter)
	return ok && d.HealthcheckDefaulted()
}

// Prebuilder is implemented by sources that build an image per revision,
// so that a plan can say when a deploy reuses an image already on the
// Docker host (a rollback to the previous commit, a settings change)
// instead of building.
type Prebuilder interface {
	// Built returns the ID of the image a deploy of revision would run
	// when it is already built, "" when the deploy must build it.
	Built(ctx context.Context, images ImageHost, workload, revision string) (string, error)
}

// Container is what a source's container listens on.
type Container struct {
	// Port is the container port the workload serves HTTP on.
	Port int
	// Healthcheck is the HTTP path of the readiness probe; "" gates on the
	// liveness window instead.
	Healthcheck string
	// Init asks for an init process as PID 1 (the engine's docker-init),
	// for a program that does not stop cleanly on SIGTERM as PID 1.
	Init bool
}

// ImageHost is what sources need from the Docker host to produce images.
type ImageHost interface {
	InspectImage(ctx context.Context, ref string) (docker.Image, error)
	PullImage(ctx context.Context, ref string, progress docker.Progress) error
	BuildImage(ctx context.Context, spec docker.BuildSpec, progress docker.Progress) (docker.BuildResult, error)
	RemoveBuildCache(ctx context.Context, images []docker.Image) error
	ListImages(ctx context.Context, labelKey, labelValue string) ([]docker.Image, error)
	RemoveImage(ctx context.Context, ref string) error
}

// ProduceEnv is what Produce gets to work with.
type ProduceEnv struct {
	Images   ImageHost
	Log      *slog.Logger
	Workload string
	// Revision is the revision planned by Resolve ("" for sources without
	// one). Produce deploys exactly it or fails.
	Revision string
	// Vars are the workload's env, for a source that interpolates it into
	// what it deploys (a compose project). Values are secrets.
	Vars map[string]string
}

// Artifact is a produced image.
type Artifact struct {
	// Image is the reference the container is created from.
	Image string
	// ImageID is the engine's image ID.
	ImageID string
	// Revision is the revision the image was made from (a Git commit), "" if
	// none.
	Revision string
	// Built says the source made Image on the Docker host: no registry has
	// it until it is pushed to one.
	Built bool
	// Warning is what the deploy should say without failing: a build on
	// an engine without BuildKit, say.
	Warning string
	// Project is what a stack source produced instead of one image: its
	// compose project, loaded and validated at the revision, whose builds
	// the stack's up makes.
	Project Project
}

// Project is a stack source's project of services (a compose project).
// Only the runner that brings the stack up knows its type; the contract
// names what the record of a deploy reads, so that importing the contract
// does not import compose.
type Project interface {
	// Replicas is how many containers each service asks for, by service.
	Replicas() map[string]int
}

// Stack is implemented by stack-managed sources (compose): their instances
// are a stack that recreates what changed itself, so rollout brings the
// whole stack up, gates its routed service, routes it, and never runs two
// generations side by side.
type Stack interface {
	Stack() StackConfig
}

// StackConfig is what rollout and the stack runtime need of a stack source.
type StackConfig struct {
	// Service is the service the workload's domains route to; "" for none.
	Service string
	// Port is that service's container port.
	Port int
	// RemoveVolumes makes teardown remove the stack's named volumes too.
	RemoveVolumes bool
}

// Checker is implemented by sources whose content can be checked only at a
// revision (a compose project: its files at the commit): the plan calls
// Check once the revision is resolved, so that a broken file fails the plan,
// and deploy time checks the same in Produce. vars are the workload's env.
type Checker interface {
	Check(ctx context.Context, revision string, vars map[string]string) error
}

// Routing says whether a workload's traffic comes through a proxy route,
// the one thing blue-green swaps.
type Routing struct {
	// Proxy says whether the provider has a proxy configured.
	Proxy bool
	// Domains says whether the workload names domains for the proxy to route.
	Domains bool
	// Worker says the workload has no port (a queue worker): nothing routes
	// to it, and blue-green starts the new instances beside the old ones
	// and stops the old once the new passed their gate, with no route to
	// swap.
	Worker bool
}

// Routed reports whether the workload has a route to swap.
func (r Routing) Routed() bool { return r.Proxy && r.Domains }

// StrategyRefuser is implemented by sources that cannot deploy by every
// strategy: a storage-backed Deno site mounts one read-write volume and must
// never run twice at once; a compose stack is stack-managed. RefuseStrategy
// says why strategy (already resolved) cannot be used, nil when it can.
type StrategyRefuser interface {
	RefuseStrategy(strategy Strategy) error
}

// Mounter is implemented by sources whose instances need mounts of their
// own (a Deno site's storage volume), besides the workload's volumes.
type Mounter interface {
	Mounts() []Mount
}

// Mount is a named volume or host path a source mounts into its instances.
type Mount struct {
	// Source is a named volume, or an absolute host path.
	Source   string
	Target   string
	ReadOnly bool
}

// ResolveStrategy resolves the strategy a deploy of src will use: "" is the
// source's historical default, given whether the workload is routed and
// whether it asks for a fixed host port; a strategy the source or the
// routing cannot honour is refused, saying why. It is the one rule for plan
// time and deploy time.
func ResolveStrategy(requested Strategy, src Source, routing Routing, hostPort bool) (Strategy, error) {
	if err := CheckStrategy(string(requested)); err != nil {
		return "", err
	}
	effective := requested
	if effective == StrategyDefault {
		effective = src.DefaultStrategy(routing.Routed())
		// A default never makes a valid config invalid: a fixed host port
		// cannot be shared by blue and green, so the default falls back.
		if effective == StrategyBlueGreen && hostPort {
			effective = StrategyRecreate
		}
	}
	if r, ok := src.(StrategyRefuser); ok {
		if err := r.RefuseStrategy(effective); err != nil {
			return "", err
		}
	}
	if effective != StrategyBlueGreen || routing.Worker {
		return effective, nil
	}
	switch {
	case !routing.Proxy:
		return "", fmt.Errorf("deploy_strategy %q needs a proxy to swap the route: add a proxy block to the provider configuration, or use %q", string(requested), string(StrategyRecreate))
	case !routing.Domains:
		return "", fmt.Errorf("deploy_strategy %q needs domains: blue-green swaps the proxy route of the workload's domains, and this workload has none", string(requested))
	case hostPort:
		return "", fmt.Errorf("deploy_strategy %q cannot be used with host_port: blue and green run side by side and cannot share one fixed host port", string(requested))
	}
	return effective, nil
}

func quoted(ss []Strategy) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ", "
		}
		out += strconv.Quote(string(s))
	}
	return out
}

// Decoder rebuilds a source from its Public form (the tinyforge.config label),
// for import.
type Decoder func(public []byte) (Source, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Decoder{}
)

// Register makes a source kind known to Decode. Source packages call it from
// init.
func Register(kind string, decode Decoder) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[kind]; dup {
		panic("plugin: source kind registered twice: " + kind)
	}
	registry[kind] = decode
}

// Decode rebuilds a source of the given kind from its Public form.
func Decode(kind string, public []byte) (Source, error) {
	registryMu.RLock()
	decode, ok := registry[kind]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown source kind %q (known: %v)", kind, Kinds())
	}
	return decode(public)
}

// Kinds lists the registered source kinds, sorted.
func Kinds() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	return slices.Sorted(maps.Keys(registry))
}

// ValidatePort is the rule for a container port.
func ValidatePort(port int) error {
	if port < 1 || port > 65535 {
		return fmt.Errorf("port must be between 1 and 65535 (got %d)", port)
	}
	return nil
}

// ValidateOptionalPort is the rule for the port of a source that may run
// a worker: 0 (none: nothing is routed to it or probed), or a port.
func ValidateOptionalPort(port int) error {
	if port == 0 {
		return nil
	}
	return ValidatePort(port)
}

// ValidateHealthcheck is the rule for a readiness probe path: "" (no
// probe), or an absolute HTTP path that, appended to the container's
// address, makes the probe's URL.
func ValidateHealthcheck(path string) error {
	if path == "" {
		return nil
	}
	if path[0] != '/' {
		return fmt.Errorf("healthcheck must be an absolute HTTP path starting with \"/\" (got %q)", path)
	}
	for _, r := range path {
		if r <= ' ' || r == 0x7f {
			return fmt.Errorf("healthcheck must not contain spaces or control characters (got %q)", path)
		}
	}
	// The probe would retry a URL that cannot parse until its timeout.
	if _, err := url.Parse("http://127.0.0.1" + path); err != nil {
		return fmt.Errorf("healthcheck must be a valid URL path (got %q): %v", path, errors.Unwrap(err))
	}
	return nil
}

// CheckStrategy is the rule for a deploy_strategy value on its own, before
// the source and routing are known.
func CheckStrategy(s string) error {
	for _, known := range Strategies {
		if Strategy(s) == known {
			return nil
		}
	}
	return fmt.Errorf("deploy_strategy must be one of %s (got %q)", quoted(Strategies), s)
}
