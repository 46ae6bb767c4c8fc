package compose

import (
	"errors"
	"io"
	"strings"

	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/context/docker"
	"github.com/docker/cli/cli/context/store"
	"github.com/docker/cli/cli/streams"
	"github.com/docker/docker/client"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// engineCLI is the docker CLI as the compose library sees it (command.Cli),
// reduced to what a library needs: the caller's API client, streams that
// never reach the process's stdout or stderr, and an empty in-memory CLI
// configuration.
//
// It replaces command.DockerCli on purpose. DockerCli.Client() resolves the
// Docker context on first use and calls os.Exit(1) when it cannot (a stale
// currentContext in ~/.docker/config.json, a bogus DOCKER_CONTEXT), even when
// a client was supplied; DockerCli.Initialize resets the global logrus level,
// rewrites OTEL_RESOURCE_ATTRIBUTES and may set GODEBUG; and DockerCli reads
// ~/.docker/config.json (auths, aliases, credential helpers, proxies). None
// of that happens here.
type engineCLI struct {
	api    client.APIClient
	info   command.ServerInfo
	out    *streams.Out
	err    *streams.Out
	in     *streams.In
	config *configfile.ConfigFile
}

var _ command.Cli = (*engineCLI)(nil)

// newEngineCLI wraps api; out receives what compose would print on stdout
// (classic build output), errOut what it would print on stderr.
func newEngineCLI(api client.APIClient, info command.ServerInfo, out, errOut io.Writer) *engineCLI {
	return &engineCLI{
		api:  api,
		info: info,
		out:  streams.NewOut(out),
		err:  streams.NewOut(errOut),
		// An empty stdin: nothing may ever wait for a person to answer.
		in: streams.NewIn(io.NopCloser(strings.NewReader(""))),
		// No file name: nothing is read from or saved to disk.
		config: configfile.New(""),
	}
}

func (c *engineCLI) Client() client.APIClient { return c.api }
func (c *engineCLI) In() *streams.In          { return c.in }
func (c *engineCLI) Out() *streams.Out        { return c.out }
func (c *engineCLI) Err() *streams.Out        { return c.err }
func (c *engineCLI) SetIn(*streams.In)        {}

// Apply refuses: CLI options are functions of *command.DockerCli, which this
// is not. The compose library calls it only for dry runs, which are not used.
func (c *engineCLI) Apply(...command.CLIOption) error {
	return errors.New("compose: CLI options are not supported")
}

func (c *engineCLI) ConfigFile() *configfile.ConfigFile { return c.config }
func (c *engineCLI) ServerInfo() command.ServerInfo     { return c.info }
func (c *engineCLI) CurrentVersion() string             { return c.api.ClientVersion() }

// BuildKitEnabled is false: with BuildKit compose builds through the buildx
// plugin binary ("docker buildx bake"), a program outside this process, and
// looks the plugin up under ~/.docker/cli-plugins. The classic builder is an
// Engine API call on the caller's client.
func (c *engineCLI) BuildKitEnabled() (bool, error) { return false, nil }

// ContextStore is nil: Docker contexts are not used; the caller's client
// says which engine to talk to. Only compose's dry-run and remote-resource
// paths read it, and neither is used.
func (c *engineCLI) ContextStore() store.Store { return nil }

// CurrentContext names the virtual default context: the caller's client.
func (c *engineCLI) CurrentContext() string { return command.DefaultContextName }

func (c *engineCLI) DockerEndpoint() docker.Endpoint {
	return docker.Endpoint{EndpointMeta: docker.EndpointMeta{Host: c.api.DaemonHost()}}
}

// Telemetry is off: no-op providers, nothing global is touched.
func (c *engineCLI) Resource() *resource.Resource         { return resource.Empty() }
func (c *engineCLI) TracerProvider() trace.TracerProvider { return tracenoop.NewTracerProvider() }
func (c *engineCLI) MeterProvider() metric.MeterProvider  { return metricnoop.NewMeterProvider() }
