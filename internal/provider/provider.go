// Package provider is the Terraform layer of tinyforge and nothing else:
// schemas, plan logic, and the mapping between Terraform values and the
// engine's types. The deploy engine itself lives in internal/workload and
// does not know Terraform exists.
package provider

import (
	"context"
	"errors"
	"fmt"
	"os"

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

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy/caddy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/engine"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/rollout"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/runner"
)

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

// providerData is what Configure hands to resources: one engine per provider
// process, so that every workload of a plan shares its snapshot of the host.
type providerData struct {
	engine *rollout.Engine
	// gitTokens are the git_auth tokens, by Git host.
	gitTokens gitTokens
	// https says whether the proxy serves the workloads' domains over
	// HTTPS (its https block), which a preview's default URL follows.
	https bool
	// localEngine says the Docker engine runs on this machine (its disk
	// holds a file:// remote).
	localEngine bool
}

// providerLink is what a resource or a data source keeps of the
// provider's Configure: its data, nil while the provider's configuration
// holds values not known yet.
type providerLink struct {
	data *providerData
}

// take keeps the data a resource's or a data source's Configure is
// handed (nil before the provider is configured).
func (l *providerLink) take(data any, diags *diag.Diagnostics) {
	if data == nil {
		return
	}
	d, ok := data.(*providerData)
	if !ok {
		diags.AddError("Unexpected provider data", fmt.Sprintf("expected *providerData, got %T", data))
		return
	}
	l.data = d
}

// configured reports whether the provider is configured, and says so when
// it is not.
func (l *providerLink) configured(diags *diag.Diagnostics) bool {
	if l.data == nil {
		diags.AddError("Provider not configured",
			"The tinyforge provider configuration has values that are not known yet; apply what they depend on first.")
		return false
	}
	return true
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
					"Defaults to `" + engine.DefaultNetwork + "`.",
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
					engine.DefaultPublishAddress + "`, so that workloads are reached only through the proxy on the Docker host. " +
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
								MarkdownDescription: "URL of Caddy's admin API. Defaults to `" + caddy.DefaultAdminURL + "`. With an " +
									"`ssh://` `docker_host`, a loopback address here is the Docker host's loopback, reached through " +
									"the SSH connection.",
								Optional: true,
							},
							"server": schema.StringAttribute{
								MarkdownDescription: "Name of the Caddy HTTP server the provider owns (created when missing). " +
									"Defaults to `" + caddy.DefaultServer + "`.",
								Optional: true,
							},
							"listen": schema.ListAttribute{
								MarkdownDescription: "Addresses the provider's Caddy server listens on. Defaults to `[\":80\"]`, " +
									"or with `https` to `[\":80\", \":443\"]`: then give two, the HTTP address first and the HTTPS " +
									"one second.",
								ElementType: types.StringType,
								Optional:    true,
							},
							"automatic_https": schema.BoolAttribute{
								MarkdownDescription: "Removed: `true` is refused at plan, saying what to write instead (an " +
									"`https` block), and `false`, what the provider does without `https`, draws a warning. Caddy's " +
									"automatic HTTPS stays off for the provider's server: the provider says which certificates " +
									"Caddy holds.",
								Optional:           true,
								DeprecationMessage: "automatic_https is removed: write an https block instead (see the provider's docs, HTTPS).",
							},
						},
						Blocks: map[string]schema.Block{"https": caddyHTTPSBlock()},
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
						Blocks: map[string]schema.Block{"https": npmHTTPSBlock()},
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
	if c := m.Proxy.Caddy; c != nil && !c.AutomaticHTTPS.IsNull() && !c.AutomaticHTTPS.IsUnknown() {
		at := path.Root("proxy").AtName("caddy").AtName("automatic_https")
		if c.AutomaticHTTPS.ValueBool() {
			resp.Diagnostics.AddAttributeError(at, "automatic_https is removed",
				"automatic_https = true is removed: remove it and write an https block in proxy { caddy { ... } }: "+
					"https {} serves every workload over HTTPS with certificates from Let's Encrypt (listen defaults to "+
					"[\":80\", \":443\"]), https { issuer = \"internal\" } with Caddy's own CA.")
		} else {
			resp.Diagnostics.AddAttributeWarning(at, "automatic_https is removed",
				"automatic_https = false is what the provider does without an https block: remove the attribute.")
		}
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
	cfg, diags := m.engineConfig(ctx)
	resp.Diagnostics.Append(diags...)
	tokens, diags := gitTokensOf(m.GitAuth)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	if path := os.Getenv(CallLogEnv); path != "" {
		calls, err := openCallLog(path)
		if err != nil {
			resp.Diagnostics.AddError("Cannot open the call log", err.Error())
			return
		}
		cfg.Transport = calls.wrap
	}
	cfg.Log = newEngineLogger()
	cfg.AfterStep = crashAt(os.Getenv(CrashAtEnv))
	e, err := engine.Open(ctx, cfg)
	if err != nil {
		var bad *engine.Error
		if errors.As(err, &bad) {
			resp.Diagnostics.AddAttributeError(attrPath(bad.Attr), bad.Summary, bad.Err.Error())
		} else {
			resp.Diagnostics.AddError("Cannot open the Docker engine", err.Error())
		}
		return
	}
	data := &providerData{engine: e, gitTokens: tokens, https: m.servesHTTPS(), localEngine: docker.IsLocal(cfg.Docker.Host)}
	resp.ResourceData = data
	resp.DataSourceData = data
}

func (p *tinyforgeProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{NewWorkloadResource}
}

func (p *tinyforgeProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{NewWorkloadDataSource, NewWorkloadLogsDataSource, NewPullRequestsDataSource, NewGitBranchesDataSource}
}
