// Package compose is the only importer of the compose libraries
// (github.com/compose-spec/compose-go and github.com/docker/compose): it gives
// the engine real compose semantics for the compose source. Load reads and
// validates a project (compose-go, no engine needed: plan time calls it); a
// Runtime brings it up, reports it and takes it down on one Docker engine
// (the docker/compose library, in process: no `docker compose` binary, no
// compose engine of our own).
//
// It sits below the rollout engine (internal/workload), beside
// internal/docker, whose API client it is handed. Nothing here knows about
// workloads or Terraform: labels that tie a project to a workload are
// whatever the caller passes.
//
// The compose library is written for the docker CLI. What that means for a
// library inside a Terraform provider, and how each point is handled here:
//
//   - stdout is the plugin handshake channel: compose prints build output and
//     prompts to the CLI's streams. The streams here are log writers (see
//     engineCLI), the volume-drift prompt is answered "no" in code, and stdin
//     is empty.
//   - command.DockerCli can os.Exit(1) and changes process-wide state (logrus
//     level, OTEL and GODEBUG variables): it is not used; engineCLI is a
//     minimal command.Cli over the caller's client.
//   - BuildKit builds run the buildx plugin binary, and without it compose
//     falls back to the classic builder: with a Builder (WithBuilder), Up
//     builds the `build:` services itself with BuildKit through the
//     engine's API, and compose finds their images.
//   - compose's LoadProject reads the process environment and loads remote
//     includes: Load calls compose-go directly with the caller's environment.
//   - the compose library and compose-go log through the global logrus
//     logger (to stderr): see logrusBridge, the one process-wide change.
//   - the compose library caches the engine's API version and swarm state in
//     package variables on first use, for the life of the process, error
//     included: every Runtime of a process must talk to engines of one API
//     version, and each Runtime pings its engine before the first compose
//     call so that a cached error is unlikely.
package compose

import (
	"context"
	"fmt"
	"sync"

	"github.com/docker/cli/cli/command"
	"github.com/docker/compose/v5/pkg/api"
	composelib "github.com/docker/compose/v5/pkg/compose"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
)

// maxConcurrency bounds the engine calls compose makes in parallel (it
// defaults to unbounded); the engine is shared.
const maxConcurrency = 4

// Runtime runs compose projects on one Docker engine.
type Runtime struct {
	api     client.APIClient
	builder Builder

	mu   sync.Mutex
	info *command.ServerInfo
}

// New returns a Runtime that talks to the engine through api, for example
// the client of internal/docker (which is configured with the provider's
// docker_host and TLS material). The Runtime does not own api: it never
// closes it. New does not contact the engine.
func New(api client.APIClient, opts ...Option) *Runtime {
	r := &Runtime{api: api}
	for _, o := range opts {
		o(r)
	}
	return r
}

// serverInfo pings the engine once (again after a failure) and returns what
// the compose library asks of the CLI about the server.
func (r *Runtime) serverInfo(ctx context.Context) (command.ServerInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.info != nil {
		return *r.info, nil
	}
	ping, err := r.api.Ping(ctx)
	if err != nil {
		return command.ServerInfo{}, fmt.Errorf("docker engine at %s does not answer: %w", r.api.DaemonHost(), err)
	}
	r.api.NegotiateAPIVersionPing(ping)
	r.info = &command.ServerInfo{
		HasExperimental: ping.Experimental,
		OSType:          ping.OSType,
		BuildkitVersion: build.BuilderV1,
		SwarmStatus:     ping.SwarmStatus,
	}
	return *r.info, nil
}

// service builds a compose service for one operation: its output streams,
// events and warnings go to op.
func (r *Runtime) service(ctx context.Context, op *operation) (api.Compose, func(), error) {
	info, err := r.serverInfo(ctx)
	if err != nil {
		return nil, nil, err
	}
	out := &lineWriter{op: op, stream: "stdout"}
	errOut := &lineWriter{op: op, stream: "stderr"}
	svc, err := composelib.NewComposeService(newEngineCLI(r.api, info, out, errOut),
		composelib.WithPrompt(func(message string, _ bool) (bool, error) {
			// The only question Up can meet: a named volume whose
			// configuration changed. Recreating it loses its data, so the
			// answer is no; the volume stays as it is until a Down with
			// volumes removes it.
			op.log.Warn(op.redact.String(message)+" Answered no: the volume is kept as it is; remove it with a down that removes volumes to apply the change.",
				"source", "compose-library")
			return false, nil
		}),
		composelib.WithEventProcessor(newEventLog(op)),
		composelib.WithMaxConcurrency(maxConcurrency),
		// No proxy settings from ~/.docker/config.json into builds.
		composelib.WithProxyConfig(map[string]string{}),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("set up the compose library: %w", err)
	}
	return svc, func() { out.Flush(); errOut.Flush() }, nil
}

// Labels compose puts on what it creates, for a caller that lists a
// project's containers itself.
const (
	ProjectLabel         = api.ProjectLabel
	ServiceLabel         = api.ServiceLabel
	ContainerNumberLabel = api.ContainerNumberLabel
)
