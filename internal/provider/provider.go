// Package provider is the Terraform layer of tinyforge and nothing else:
// schemas, plan logic, and the mapping between Terraform values and the
// engine's types. The deploy engine itself lives in internal/workload and
// does not know Terraform exists.
package provider

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/compose"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy/caddy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy/npm"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/rollout"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/runner"
)

// CrashAtEnv names the test hook that makes the provider exit abruptly when a
// deploy has completed a step (see rollout.Steps). Tests use it to prove that
// a kill at any instant leaves traffic on a gated container.
const CrashAtEnv = "TINYFORGE_CRASH_AT"

// crashAt is the engine's AfterStep hook for CrashAtEnv: the provider
// process exits abruptly, as in a power cut, once a deploy has completed
// step; nil (no hook) when step is "".
func crashAt(step string) func(context.Context, string, rollout.Step) {
	if step == "" {
		return nil
	}
	return func(ctx context.Context, workload string, done rollout.Step) {
		if string(done) == step {
			tflog.Warn(ctx, CrashAtEnv+": exiting abruptly", map[string]any{"workload": workload, "step": step})
			os.Exit(75)
		}
	}
}

// Defaults of the provider configuration.
const (
	defaultNetwork        = "tinyforge"
	defaultPublishAddress = "127.0.0.1"
	defaultCaddyAdminURL  = "http://127.0.0.1:2019"
	defaultCaddyServer    = "tinyforge"
)

var defaultCaddyListen = []string{":80"}

var (
	_ provider.Provider                   = (*tinyforgeProvider)(nil)
	_ provider.ProviderWithValidateConfig = (*tinyforgeProvider)(nil)
)

type tinyforgeProvider struct {
	version string
}

// New returns the provider factory for providerserver.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &tinyforgeProvider{version: version} }
}

type providerModel struct {
	DockerHost        types.String `tfsdk:"docker_host"`
	CAPEM             types.String `tfsdk:"ca_pem"`
	CertPEM           types.String `tfsdk:"cert_pem"`
	KeyPEM            types.String `tfsdk:"key_pem"`
	SSHPrivateKey     types.String `tfsdk:"ssh_private_key"`
	SSHHostKey        types.String `tfsdk:"ssh_host_key"`
	SSHKnownHostsFile types.String `tfsdk:"ssh_known_hosts_file"`
	Network           types.String `tfsdk:"network"`
	PublishAddress    types.String `tfsdk:"publish_address"`
	Swarm             types.Bool   `tfsdk:"swarm"`
	SwarmRegistry     types.String `tfsdk:"swarm_registry"`
	Proxy             *proxyModel  `tfsdk:"proxy"`
	// Registries: the logins pulls use.
	RegistryAuth     []registryAuthModel `tfsdk:"registry_auth"`
	DockerConfigFile types.String        `tfsdk:"docker_config_file"`
	// Git hosts: the tokens the data sources and Git sources use.
	GitAuth []gitAuthModel `tfsdk:"git_auth"`
}

type registryAuthModel struct {
	Address  types.String `tfsdk:"address"`
	Username types.String `tfsdk:"username"`
	Password types.String `tfsdk:"password"`
}

type proxyModel struct {
	RetryTimeout types.Int64 `tfsdk:"retry_timeout"`
	Caddy        *caddyModel `tfsdk:"caddy"`
	NPM          *npmModel   `tfsdk:"npm"`
}

type caddyModel struct {
	AdminURL       types.String `tfsdk:"admin_url"`
	Server         types.String `tfsdk:"server"`
	Listen         types.List   `tfsdk:"listen"`
	AutomaticHTTPS types.Bool   `tfsdk:"automatic_https"`
}

type npmModel struct {
	URL       types.String `tfsdk:"url"`
	Email     types.String `tfsdk:"email"`
	Password  types.String `tfsdk:"password"`
	ForwardTo types.String `tfsdk:"forward_to"`
	HTTPURL   types.String `tfsdk:"http_url"`
}

// providerData is what Configure hands to resources: one engine per provider
// process, so that every workload of a plan shares its snapshot of the host.
type providerData struct {
	engine *rollout.Engine
	// gitTokens are the git_auth tokens, by Git host.
	gitTokens gitTokens
	// https says whether the proxy serves the workloads' domains over
	// HTTPS, which a preview's default URL follows. Nothing does yet:
	// issue 21 (HTTPS) sets it where it configures certificates.
	https bool
}

func (p *tinyforgeProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "tinyforge"
	resp.Version = p.version
}

func (p *tinyforgeProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Deploys workloads onto a Docker host and routes them behind a reverse proxy, " +
			"with zero-downtime blue-green redeploys. `terraform apply` deploys, `terraform plan` shows what a " +
			"deploy will do, refresh reconciles the state against the real containers and proxy routes.",
		Attributes: map[string]schema.Attribute{
			// Optional
			"docker_host": schema.StringAttribute{
				MarkdownDescription: "Address of the Docker engine: `unix:///path/to/docker.sock`, `tcp://host:port` " +
					"(with `ca_pem`, `cert_pem` and `key_pem` for TLS) or `ssh://user@host[:port][/path/to/docker.sock]`. " +
					"Defaults to `$DOCKER_HOST`, then `unix:///var/run/docker.sock`.\n\n" +
					"Over `ssh://`, the provider keeps one SSH connection to the host (its own client: no `ssh` binary, no " +
					"`~/.ssh/config`) and everything that targets the Docker host travels through it: Engine API calls (to the " +
					"engine's socket on the host, `/var/run/docker.sock` unless the URL has a path; the user must be allowed to " +
					"use it, and the server to forward to it: `AllowStreamLocalForwarding`, on by default), the health gate's " +
					"probe of a new container's published port, and the proxy's admin API when its URL is on a loopback " +
					"address (`http://127.0.0.1:2019` then means the Docker host's loopback, where a proxy beside the engine " +
					"listens). The host key is checked (`ssh_host_key`, else `ssh_known_hosts_file`); the client key is " +
					"`ssh_private_key`, else the SSH agent's. A connection that drops is opened again on the next call; a " +
					"call that was in flight fails, and the deploy cleans up as after any failure.",
				Optional: true,
			},
			"ca_pem": schema.StringAttribute{
				MarkdownDescription: "PEM-encoded CA certificate that signs the engine's TLS certificate (`tcp://` hosts).",
				Optional:            true,
			},
			"cert_pem": schema.StringAttribute{
				MarkdownDescription: "PEM-encoded client certificate for a TLS engine (`tcp://` hosts); set with `key_pem`.",
				Optional:            true,
			},
			"key_pem": schema.StringAttribute{
				MarkdownDescription: "PEM-encoded private key of `cert_pem`.",
				Optional:            true,
				Sensitive:           true,
			},
			"ssh_private_key": schema.StringAttribute{
				MarkdownDescription: "Private key of the SSH user of an `ssh://` `docker_host` (OpenSSH or PEM format, " +
					"unencrypted). When unset, the keys of the SSH agent at `$SSH_AUTH_SOCK` are offered (the way to use a " +
					"key with a passphrase). Provider configuration is never stored in the state, and this attribute accepts " +
					"ephemeral values (Terraform 1.10+: an `ephemeral = true` variable or an ephemeral resource), which keeps " +
					"the key out of plan files too. It never appears in logs or errors (only its public SHA256 fingerprint).",
				Optional:   true,
				Sensitive:  true,
				Validators: []validator.String{engineRule("an SSH private key", docker.CheckSSHPrivateKey)},
			},
			"ssh_host_key": schema.StringAttribute{
				MarkdownDescription: "The SSH host's public key, as `ssh-keyscan` or a `.pub` file prints it " +
					"(`ssh-ed25519 AAAA...`), for an `ssh://` `docker_host`. When set, the host must present exactly this " +
					"key and `ssh_known_hosts_file` is not read.",
				Optional:   true,
				Validators: []validator.String{engineRule("an SSH public key line", docker.CheckHostKey)},
			},
			"ssh_known_hosts_file": schema.StringAttribute{
				MarkdownDescription: "The known_hosts file the host key of an `ssh://` `docker_host` is checked against " +
					"when `ssh_host_key` is unset (OpenSSH's format; hashed names and `[host]:port` entries work). Defaults to " +
					"`~/.ssh/known_hosts`. An unknown host, or a key other than the file's, is refused, with the key's SHA256 " +
					"fingerprint and the commands that fix it; nothing is ever added to the file.",
				Optional:   true,
				Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"network": schema.StringAttribute{
				MarkdownDescription: "User-defined bridge network that every workload joins. Created, with the label " +
					"`tinyforge.managed=true`, when it does not exist; never removed by a workload's destroy. " +
					"Defaults to `" + defaultNetwork + "`.",
				Optional:   true,
				Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"swarm": schema.BoolAttribute{
				MarkdownDescription: "Whether workloads are Docker Swarm services: `true` requires the engine to be a Swarm " +
					"manager (an error otherwise); unset or `false` runs containers on that engine alone, also on a manager, " +
					"so that turning Swarm on is a choice, never a side effect of `docker swarm init`. " +
					"On Swarm each workload is a service (`endpoint_mode` dnsrr) on `network`, which is then an attachable " +
					"overlay network, created when missing; the proxy must be Caddy, attached to that network, which routes " +
					"each workload's domains to `tasks.<name>` and follows Swarm's rescheduling by itself. Images are run " +
					"by digest from their registry (every node pulls them), with the `registry_auth` login sent along.",
				Optional: true,
			},
			"swarm_registry": schema.StringAttribute{
				MarkdownDescription: "With `swarm = true`: the registry repository prefix (`registry.example:5000`, " +
					"`ghcr.io/team`) that images built on the manager (dockerfile and static sources) are pushed to, " +
					"as `<prefix>/<workload>:<commit>-<inputs>`, with the `registry_auth` login for that registry; " +
					"the service then runs the pushed image by digest, which every node pulls. Without it, a dockerfile " +
					"or static source on Swarm is refused at plan.",
				Optional:   true,
				Validators: []validator.String{engineRule("a registry repository prefix", docker.ValidateRepositoryPrefix)},
			},
			"docker_config_file": schema.StringAttribute{
				MarkdownDescription: "Docker config file whose logins pulls use when no `registry_auth` block is for the " +
					"image's registry: its `auths`, and its `credHelpers`/`credsStore` through the `docker-credential-*` " +
					"programs, as the docker CLI does. Defaults to `~/.docker/config.json`; `\"\"` uses none.",
				Optional: true,
			},
			"publish_address": schema.StringAttribute{
				MarkdownDescription: "Host IP address on which container ports are published. Defaults to `" +
					defaultPublishAddress + "`, so that workloads are reached only through the proxy on the Docker host. " +
					"With a remote `tcp://` engine the provider probes published ports from here, so a loopback (or " +
					"`0.0.0.0`) address is refused at plan time: set an address of the Docker host that is reachable from " +
					"here, or use `ssh://`, which probes through the SSH connection.",
				Optional:   true,
				Validators: []validator.String{ipAddress()},
			},
		},
		Blocks: map[string]schema.Block{
			"git_auth": gitAuthBlock(),
			"registry_auth": schema.ListNestedBlock{
				MarkdownDescription: "A login to a private registry, used by every pull of an image from it (before the " +
					"Docker config file). Errors name the registry, never the password.",
				NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
					"address": schema.StringAttribute{
						MarkdownDescription: "The registry's `host[:port]`, as image references name it (`ghcr.io`, `registry.example.com:5000`; Docker Hub is `docker.io`).",
						Required:            true,
					},
					"username": schema.StringAttribute{
						MarkdownDescription: "The user.",
						Required:            true,
					},
					"password": schema.StringAttribute{
						MarkdownDescription: "The password or token. Provider configuration is never stored in the state, and " +
							"this attribute accepts ephemeral values (an `ephemeral = true` variable or an ephemeral resource).",
						Required:  true,
						Sensitive: true,
					},
				}},
			},
			"proxy": schema.SingleNestedBlock{
				MarkdownDescription: "The reverse proxy that routes each workload's `domains` to its live container. " +
					"Without it, workloads have no routes, and `domains` and `blue-green` are refused at plan time. " +
					"A domain has one owner: a domain already routed to another workload, or one that overlaps a " +
					"wildcard of another workload's (`*.example.com` covers every name under `example.com`, one " +
					"label deep or more, as nginx's wildcards do), is refused.",
				Attributes: map[string]schema.Attribute{
					"retry_timeout": schema.Int64Attribute{
						MarkdownDescription: "Seconds a call to the proxy's API is retried while the API does not answer (connection " +
							"refused, reset or dropped) or a gateway in front of it answers 502, 503 or 504, for instance while " +
							"the proxy restarts; then the apply fails cleanly: a new container is removed and the route stays " +
							"where it was. Defaults to " + fmt.Sprint(int(caddy.DefaultRetryTimeout.Seconds())) + ".",
						Optional:   true,
						Validators: []validator.Int64{int64validator.Between(1, 3600)},
					},
				},
				Blocks: map[string]schema.Block{
					"caddy": schema.SingleNestedBlock{
						MarkdownDescription: "Caddy, driven through its admin API. The provider owns one HTTP server " +
							"(`server`) and its own routes (`@id` = `tinyforge-<name>`); it never replaces the rest of " +
							"Caddy's configuration.",
						Attributes: map[string]schema.Attribute{
							"admin_url": schema.StringAttribute{
								MarkdownDescription: "URL of Caddy's admin API. Defaults to `" + defaultCaddyAdminURL + "`. With an " +
									"`ssh://` `docker_host`, a loopback address here is the Docker host's loopback, reached through " +
									"the SSH connection.",
								Optional: true,
							},
							"server": schema.StringAttribute{
								MarkdownDescription: "Name of the Caddy HTTP server the provider owns (created when missing). " +
									"Defaults to `" + defaultCaddyServer + "`.",
								Optional: true,
							},
							"listen": schema.ListAttribute{
								MarkdownDescription: "Addresses the provider's Caddy server listens on. Defaults to `[\":80\"]`.",
								ElementType:         types.StringType,
								Optional:            true,
							},
							"automatic_https": schema.BoolAttribute{
								MarkdownDescription: "Let Caddy obtain certificates and redirect HTTP to HTTPS for the " +
									"workloads' domains. Defaults to `false`.",
								Optional: true,
							},
						},
					},
					"npm": schema.SingleNestedBlock{
						MarkdownDescription: "Nginx Proxy Manager, driven through its REST API: one proxy host per " +
							"workload, marked as the provider's own, swapped blue to green by an in-place update. A host " +
							"on one of a workload's domains that the provider did not create is refused, never taken over.",
						Validators: []validator.Object{requiredInBlock("url", "email", "password")},
						Attributes: map[string]schema.Attribute{
							"url": schema.StringAttribute{
								MarkdownDescription: "Required. NPM's admin address, e.g. `http://127.0.0.1:81` (the API is under `/api`). " +
									"With an `ssh://` `docker_host`, a loopback address here is the Docker host's loopback, reached " +
									"through the SSH connection.",
								Optional: true,
							},
							"email": schema.StringAttribute{
								MarkdownDescription: "Required. Email of an NPM user allowed to manage proxy hosts.",
								Optional:            true,
							},
							"password": schema.StringAttribute{
								MarkdownDescription: "Required. Password of that user. Provider configuration is never stored in the " +
									"state, and this attribute accepts ephemeral values (Terraform 1.10+: an `ephemeral = true` " +
									"variable or an ephemeral resource), which keeps the password out of plan files too: the " +
									"provider-level equivalent of a write-only attribute.",
								Optional:  true,
								Sensitive: true,
							},
							"forward_to": schema.StringAttribute{
								MarkdownDescription: "What NPM forwards to: `network` (default; NPM runs as a container on the " +
									"provider's `network` and reaches workloads by container name and port, as the original " +
									"Tinyforge does) or `published` (NPM runs on the host and reaches the port published on " +
									"`publish_address`).",
								Optional:   true,
								Validators: []validator.String{stringvalidator.OneOf(string(runner.ForwardNetwork), string(runner.ForwardPublished))},
							},
							"http_url": schema.StringAttribute{
								MarkdownDescription: "NPM's public HTTP address, e.g. `http://127.0.0.1:80`. When set, a swap " +
									"returns only once a request through NPM for the workload's first domain reaches the new " +
									"upstream; without it, the provider waits a settle delay (NPM reloads nginx ~0.1 s after it " +
									"answers). With an `ssh://` `docker_host`, a loopback address here is the Docker host's " +
									"loopback, reached through the SSH connection.",
								Optional: true,
							},
						},
					},
				},
			},
		},
	}
}

// ValidateConfig refuses a proxy block without exactly one backend.
func (p *tinyforgeProvider) ValidateConfig(ctx context.Context, req provider.ValidateConfigRequest, resp *provider.ValidateConfigResponse) {
	var m providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() || m.Proxy == nil {
		return
	}
	if (m.Proxy.Caddy == nil) == (m.Proxy.NPM == nil) {
		got := "none"
		if m.Proxy.Caddy != nil {
			got = "caddy and npm"
		}
		resp.Diagnostics.AddAttributeError(path.Root("proxy"), "Invalid proxy",
			"proxy must hold exactly one of caddy, npm (got "+got+")")
	}
}

func (p *tinyforgeProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	tflog.Info(ctx, "tinyforge provider "+p.version, map[string]any{"version": p.version})
	var m providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !m.known() {
		// A value comes from a resource not created yet. Terraform will call
		// Configure again with known values before anything is applied.
		return
	}
	cfg := docker.Config{
		Host:              m.DockerHost.ValueString(),
		CAPEM:             m.CAPEM.ValueString(),
		CertPEM:           m.CertPEM.ValueString(),
		KeyPEM:            m.KeyPEM.ValueString(),
		SSHPrivateKey:     m.SSHPrivateKey.ValueString(),
		SSHHostKey:        m.SSHHostKey.ValueString(),
		SSHKnownHostsFile: m.SSHKnownHostsFile.ValueString(),
	}
	var calls *callLog
	var dockerOpts []docker.Option
	if path := os.Getenv(CallLogEnv); path != "" {
		var err error
		if calls, err = openCallLog(path); err != nil {
			resp.Diagnostics.AddError("Cannot open the call log", err.Error())
			return
		}
		dockerOpts = append(dockerOpts, docker.WithTransport(func(next http.RoundTripper) http.RoundTripper {
			return calls.wrap("docker", next)
		}))
	}
	registries, diags := m.registries()
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	dockerOpts = append(dockerOpts, docker.WithRegistries(registries), docker.WithLog(newEngineLogger()))
	client, err := docker.New(cfg, dockerOpts...)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("docker_host"), "Invalid Docker engine configuration", err.Error())
		return
	}
	publishAddress := stringOr(m.PublishAddress, defaultPublishAddress)
	// On Swarm nothing is published: the proxy reaches the tasks on the
	// overlay network.
	if err := client.CheckPublishAddress(publishAddress); err != nil && !m.Swarm.ValueBool() {
		resp.Diagnostics.AddAttributeError(path.Root("publish_address"), "publish_address unreachable on a remote engine", err.Error())
		return
	}
	if err := client.Ping(ctx); err != nil {
		var hostKey *docker.HostKeyError
		if errors.As(err, &hostKey) {
			attr := "ssh_known_hosts_file"
			if hostKey.Pinned {
				attr = "ssh_host_key"
			}
			resp.Diagnostics.AddAttributeError(path.Root(attr), "SSH host key refused", err.Error())
			return
		}
		resp.Diagnostics.AddAttributeError(path.Root("docker_host"), "Docker engine unreachable", err.Error())
		return
	}
	containers := &runner.Containers{
		Docker:         client,
		Network:        stringOr(m.Network, defaultNetwork),
		PublishAddress: publishAddress,
		ForwardTo:      runner.ForwardPublished,
	}
	log := newEngineLogger()
	stacks := &runner.Stacks{
		Docker:         client,
		Compose:        compose.New(client.EngineAPI()),
		PublishAddress: containers.PublishAddress,
		ForwardTo:      runner.ForwardPublished,
		Log:            log,
	}
	onSwarm := m.Swarm.ValueBool()
	if !onSwarm && !m.SwarmRegistry.IsNull() {
		resp.Diagnostics.AddAttributeError(path.Root("swarm_registry"), "swarm_registry needs swarm = true",
			fmt.Sprintf("swarm_registry = %q is where images built for Swarm services are pushed; without swarm = true workloads are containers on one engine and nothing is pushed", m.SwarmRegistry.ValueString()))
		return
	}
	if onSwarm {
		swarmManager, err := client.SwarmManager(ctx)
		if err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("docker_host"), "Docker engine unreachable", err.Error())
			return
		}
		if !swarmManager {
			resp.Diagnostics.AddAttributeError(path.Root("swarm"), "The engine is not a Swarm manager",
				fmt.Sprintf("swarm = true, but the engine at %s is not a manager of a Swarm (docker swarm init, or point docker_host at a manager)", stringOr(m.DockerHost, "the default socket")))
			return
		}
	}
	if onSwarm && m.Proxy != nil && m.Proxy.NPM != nil {
		resp.Diagnostics.AddAttributeError(path.Root("proxy").AtName("npm"), "Nginx Proxy Manager cannot route Swarm services",
			"The engine is a Swarm manager, so workloads are Swarm services whose tasks Swarm moves between nodes; Nginx Proxy Manager forwards to one fixed address "+
				"and cannot follow them. Use Caddy on the overlay network (proxy { caddy { ... } }), or set swarm = false.")
		return
	}
	runtimes := rollout.Runtimes{Containers: containers, Stacks: stacks}
	if onSwarm {
		runtimes.Services = &runner.Services{Docker: client, Network: containers.Network, Registry: m.SwarmRegistry.ValueString()}
	}
	engine := rollout.New(runtimes)
	engine.Images = client
	engine.Log = log
	engine.AfterStep = crashAt(os.Getenv(CrashAtEnv))
	// An ssh:// engine's: the gate probes ports on the host's loopback.
	engine.Dial = client.HostDialer()
	if m.Proxy != nil {
		router, forwardTo, diags := m.Proxy.router(ctx, calls, docker.LoopbackThrough(client.HostDialer()))
		resp.Diagnostics.Append(diags...)
		if resp.Diagnostics.HasError() {
			return
		}
		engine.Router, containers.ForwardTo, stacks.ForwardTo = router, forwardTo, forwardTo
	}
	tokens, diags := gitTokensOf(m.GitAuth)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	data := &providerData{engine: engine, gitTokens: tokens}
	resp.ResourceData = data
	resp.DataSourceData = data
}

// registries are the logins pulls use: the registry_auth blocks, then the
// Docker config file.
func (m providerModel) registries() (*docker.Registries, diag.Diagnostics) {
	var diags diag.Diagnostics
	r := &docker.Registries{}
	for i, a := range m.RegistryAuth {
		addr := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(a.Address.ValueString(), "https://"), "http://"), "/")
		if _, err := docker.RegistryOf(addr + "/image"); err != nil || addr == "" || strings.Contains(addr, "/") {
			diags.AddAttributeError(path.Root("registry_auth").AtListIndex(i).AtName("address"), "Invalid registry address",
				fmt.Sprintf("address must be a registry host[:port] such as \"ghcr.io\" (got %q)", a.Address.ValueString()))
			continue
		}
		r.Logins = append(r.Logins, docker.RegistryLogin{Address: a.Address.ValueString(), Username: a.Username.ValueString(), Password: a.Password.ValueString()})
	}
	switch {
	case !m.DockerConfigFile.IsNull():
		r.ConfigFile = m.DockerConfigFile.ValueString()
	default:
		if home, err := os.UserHomeDir(); err == nil {
			r.ConfigFile = filepath.Join(home, ".docker", "config.json")
		}
	}
	return r, diags
}

// known reports whether every configured value is known.
func (m providerModel) known() bool {
	for _, a := range m.RegistryAuth {
		for _, v := range []types.String{a.Address, a.Username, a.Password} {
			if v.IsUnknown() {
				return false
			}
		}
	}
	for _, a := range m.GitAuth {
		if a.BaseURL.IsUnknown() || a.Token.IsUnknown() {
			return false
		}
	}
	for _, v := range []types.String{m.DockerHost, m.CAPEM, m.CertPEM, m.KeyPEM, m.SSHPrivateKey, m.SSHHostKey, m.SSHKnownHostsFile, m.Network, m.PublishAddress, m.DockerConfigFile} {
		if v.IsUnknown() {
			return false
		}
	}
	if m.Swarm.IsUnknown() || m.Proxy != nil && m.Proxy.RetryTimeout.IsUnknown() {
		return false
	}
	if m.Proxy != nil && m.Proxy.Caddy != nil {
		c := m.Proxy.Caddy
		if c.AdminURL.IsUnknown() || c.Server.IsUnknown() || c.Listen.IsUnknown() || c.AutomaticHTTPS.IsUnknown() {
			return false
		}
	}
	if m.Proxy != nil && m.Proxy.NPM != nil {
		n := m.Proxy.NPM
		for _, v := range []types.String{n.URL, n.Email, n.Password, n.ForwardTo, n.HTTPURL} {
			if v.IsUnknown() {
				return false
			}
		}
	}
	return true
}

// router builds the configured proxy backend, and says which address of a
// container it forwards to. dial, when not nil, opens the connections to
// the proxy's API (see proxyClient).
func (m *proxyModel) router(ctx context.Context, calls *callLog, dial docker.DialFunc) (proxy.Router, runner.ForwardTo, diag.Diagnostics) {
	var diags diag.Diagnostics
	retryTimeout := time.Duration(m.RetryTimeout.ValueInt64()) * time.Second // 0: the backend's default
	log := func(ctx context.Context, msg string, fields map[string]any) { tflog.Info(ctx, msg, fields) }
	switch {
	case m.Caddy != nil && m.NPM == nil:
		c := m.Caddy
		listen := defaultCaddyListen
		if !c.Listen.IsNull() {
			listen = nil
			diags.Append(c.Listen.ElementsAs(ctx, &listen, false)...)
		}
		r, err := caddy.New(caddy.Config{
			AdminURL:       stringOr(c.AdminURL, defaultCaddyAdminURL),
			Server:         stringOr(c.Server, defaultCaddyServer),
			Listen:         listen,
			AutomaticHTTPS: c.AutomaticHTTPS.ValueBool(),
			HTTPClient:     proxyClient(calls, dial),
			RetryTimeout:   retryTimeout,
			Log:            log,
		})
		if err != nil {
			diags.AddAttributeError(path.Root("proxy").AtName("caddy"), "Invalid Caddy configuration", err.Error())
			return nil, "", diags
		}
		// Caddy runs on the host: it reaches the published port.
		return r, runner.ForwardPublished, diags
	case m.NPM != nil && m.Caddy == nil:
		n := m.NPM
		r, err := npm.New(npm.Config{
			URL:          n.URL.ValueString(),
			Email:        n.Email.ValueString(),
			Password:     n.Password.ValueString(),
			HTTPURL:      n.HTTPURL.ValueString(),
			HTTPClient:   proxyClient(calls, dial),
			Dial:         dial,
			RetryTimeout: retryTimeout,
			Log:          log,
		})
		if err != nil {
			diags.AddAttributeError(path.Root("proxy").AtName("npm"), "Invalid Nginx Proxy Manager configuration", err.Error())
			return nil, "", diags
		}
		return r, runner.ForwardTo(stringOr(n.ForwardTo, string(runner.ForwardNetwork))), diags
	}
	diags.AddAttributeError(path.Root("proxy"), "Invalid proxy", "proxy must hold exactly one of caddy, npm")
	return nil, "", diags
}

// proxyClient is the HTTP client of a proxy backend; nil lets the backend
// choose, unless calls are being logged or dial says how to connect: for
// an ssh:// engine, docker.LoopbackThrough, which reaches an API on a
// loopback address through the SSH connection (the proxy beside the
// engine) and any other address directly.
func proxyClient(calls *callLog, dial docker.DialFunc) *http.Client {
	if calls == nil && dial == nil {
		return nil
	}
	var next http.RoundTripper
	if dial != nil {
		next = &http.Transport{
			DialContext:     dial,
			Proxy:           http.ProxyFromEnvironment, // never used for loopback
			MaxIdleConns:    6,
			IdleConnTimeout: 30 * time.Second,
		}
	}
	if calls != nil {
		next = calls.wrap("proxy", next)
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: next}
}

func (p *tinyforgeProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{NewWorkloadResource}
}

func (p *tinyforgeProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{NewWorkloadDataSource, NewPullRequestsDataSource, NewGitBranchesDataSource}
}

func stringOr(v types.String, def string) string {
	if v.IsNull() || v.IsUnknown() || v.ValueString() == "" {
		return def
	}
	return v.ValueString()
}

// ipAddress validates an IP address attribute.
func ipAddress() validator.String {
	return engineRule("must be an IP address", func(s string) error {
		if net.ParseIP(s) == nil {
			return fmt.Errorf("must be an IP address (got %q)", s)
		}
		return nil
	})
}
