package provider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/docker"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy/caddy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy/npm"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/engine"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload/runner"
)

// providerModel is the provider configuration as Terraform holds it.
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
	AdminURL       types.String     `tfsdk:"admin_url"`
	Server         types.String     `tfsdk:"server"`
	Listen         types.List       `tfsdk:"listen"`
	AutomaticHTTPS types.Bool       `tfsdk:"automatic_https"`
	HTTPS          *caddyHTTPSModel `tfsdk:"https"`
}

type npmModel struct {
	URL       types.String   `tfsdk:"url"`
	Email     types.String   `tfsdk:"email"`
	Password  types.String   `tfsdk:"password"`
	ForwardTo types.String   `tfsdk:"forward_to"`
	HTTPURL   types.String   `tfsdk:"http_url"`
	HTTPS     *npmHTTPSModel `tfsdk:"https"`
}

// engineConfig maps the configuration onto the engine's; engine.Open
// fills in the defaults.
func (m providerModel) engineConfig(ctx context.Context) (engine.Config, diag.Diagnostics) {
	registries, diags := m.registries()
	cfg := engine.Config{
		Docker: docker.Config{
			Host:              m.DockerHost.ValueString(),
			CAPEM:             m.CAPEM.ValueString(),
			CertPEM:           m.CertPEM.ValueString(),
			KeyPEM:            m.KeyPEM.ValueString(),
			SSHPrivateKey:     m.SSHPrivateKey.ValueString(),
			SSHHostKey:        m.SSHHostKey.ValueString(),
			SSHKnownHostsFile: m.SSHKnownHostsFile.ValueString(),
		},
		Registries:     registries,
		Network:        m.Network.ValueString(),
		PublishAddress: m.PublishAddress.ValueString(),
		Swarm:          m.Swarm.ValueBool(),
		SwarmRegistry:  m.SwarmRegistry.ValueString(),
	}
	if m.Proxy != nil {
		var d diag.Diagnostics
		cfg.Proxy, d = m.Proxy.config(ctx)
		diags.Append(d...)
	}
	return cfg, diags
}

// config maps the proxy block onto its backend's configuration.
func (m *proxyModel) config(ctx context.Context) (*engine.Proxy, diag.Diagnostics) {
	var diags diag.Diagnostics
	retryTimeout := time.Duration(m.RetryTimeout.ValueInt64()) * time.Second // 0: the backend's default
	log := func(ctx context.Context, msg string, fields map[string]any) { tflog.Info(ctx, msg, fields) }
	p := &engine.Proxy{}
	if c := m.Caddy; c != nil {
		var listen []string // nil: Caddy's default
		if !c.Listen.IsNull() {
			diags.Append(c.Listen.ElementsAs(ctx, &listen, false)...)
		}
		p.Caddy = &caddy.Config{
			AdminURL:     c.AdminURL.ValueString(),
			Server:       c.Server.ValueString(),
			Listen:       listen,
			RetryTimeout: retryTimeout,
			Log:          log,
		}
		if c.HTTPS != nil {
			p.Caddy.HTTPS = c.HTTPS.config()
		}
	}
	if n := m.NPM; n != nil {
		p.NPM = &npm.Config{
			URL:          n.URL.ValueString(),
			Email:        n.Email.ValueString(),
			Password:     n.Password.ValueString(),
			HTTPURL:      n.HTTPURL.ValueString(),
			RetryTimeout: retryTimeout,
			Log:          log,
		}
		if n.HTTPS != nil {
			p.NPM.LetsEncrypt, p.NPM.LetsEncryptEmail = true, n.HTTPS.Email.ValueString()
		}
		p.ForwardTo = runner.ForwardTo(n.ForwardTo.ValueString())
	}
	return p, diags
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
		if c.AdminURL.IsUnknown() || c.Server.IsUnknown() || c.Listen.IsUnknown() || c.AutomaticHTTPS.IsUnknown() ||
			c.HTTPS != nil && !c.HTTPS.known() {
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
		if n.HTTPS != nil && n.HTTPS.Email.IsUnknown() {
			return false
		}
	}
	return true
}

// servesHTTPS reports whether the proxy serves the workloads over HTTPS:
// its https block is there.
func (m providerModel) servesHTTPS() bool {
	p := m.Proxy
	return p != nil && (p.Caddy != nil && p.Caddy.HTTPS != nil || p.NPM != nil && p.NPM.HTTPS != nil)
}

func stringOr(v types.String, def string) string {
	if v.IsNull() || v.IsUnknown() || v.ValueString() == "" {
		return def
	}
	return v.ValueString()
}
