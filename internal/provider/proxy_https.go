package provider

import (
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy/caddy"
)

// The provider's HTTPS settings: proxy { caddy { https { ... } } } and
// proxy { npm { https { ... } } }. A workload's own certificate is its tls
// block (workload_tls.go).

// caddyHTTPSModel is proxy.caddy.https.
type caddyHTTPSModel struct {
	Issuer        types.String `tfsdk:"issuer"`
	ACMECA        types.String `tfsdk:"acme_ca"`
	ACMECARootPEM types.String `tfsdk:"acme_ca_root_pem"`
	Email         types.String `tfsdk:"email"`
	RedirectHTTP  types.Bool   `tfsdk:"redirect_http"`
}

// npmHTTPSModel is proxy.npm.https.
type npmHTTPSModel struct {
	Email types.String `tfsdk:"email"`
}

func (m *caddyHTTPSModel) values() []types.String {
	return []types.String{m.Issuer, m.ACMECA, m.ACMECARootPEM, m.Email}
}

func (m *caddyHTTPSModel) known() bool {
	for _, v := range m.values() {
		if v.IsUnknown() {
			return false
		}
	}
	return !m.RedirectHTTP.IsUnknown()
}

// config maps the block onto Caddy's settings; the engine writes the root
// to a file Caddy reads (caddy.WriteRootFile) and says whether Caddy's log
// can reach the provider.
func (m *caddyHTTPSModel) config() *caddy.HTTPS {
	return &caddy.HTTPS{
		Issuer:        stringOr(m.Issuer, caddy.IssuerACME),
		ACMECA:        m.ACMECA.ValueString(),
		ACMECARootPEM: m.ACMECARootPEM.ValueString(),
		Email:         m.Email.ValueString(),
		RedirectHTTP:  m.RedirectHTTP.IsNull() || m.RedirectHTTP.ValueBool(),
	}
}

// caddyHTTPSBlock is proxy.caddy.https.
func caddyHTTPSBlock() schema.Block {
	return schema.SingleNestedBlock{
		MarkdownDescription: "Serve the workloads over HTTPS. With it, `listen` defaults to `[\":80\", \":443\"]`: the first " +
			"address serves HTTP (the redirect to HTTPS and the ACME CA's HTTP-01 challenge), the second HTTPS. Caddy " +
			"serves TLS on every port of a server but its `http_port` (80 unless Caddy's config sets " +
			"`apps.http.http_port`), so an HTTP address on another port needs that setting in Caddy.\n\n" +
			"Each workload's domains get a certificate from `issuer` (or the workload's own, see its `tls` block), " +
			"in place before the apply points a domain at new containers: a deploy waits (" +
			"at most " + fmt.Sprint(caddy.DefaultCertificateTimeout) + ") until Caddy serves each new domain over HTTPS " +
			"with a certificate for it, and a certificate the CA refuses fails the apply with the CA's reason, " +
			"naming the domain, while the previous version keeps serving. A blue-green swap never touches a " +
			"certificate. The provider owns, in Caddy's TLS app, an automation policy (`@id` " +
			"`tinyforge-<name>.policy`) and the names in `certificates.automate` of each workload, or its own " +
			"certificate (`tinyforge-<name>.certificate` in `certificates.load_pem`), and a log " +
			"(`logging.logs.tinyforge-<server>`) that sends Caddy's certificate errors over UDP to 127.0.0.1, where " +
			"the provider listens while an apply waits for a certificate (for a Caddy on the machine that runs " +
			"Terraform; a remote Caddy's refusal is reported when the wait times out, see Caddy's own log).",
		Attributes: map[string]schema.Attribute{
			"issuer": schema.StringAttribute{
				MarkdownDescription: "Where certificates come from: `acme` (default), an ACME CA (`acme_ca`), which " +
					"validates each domain over HTTP-01 on the HTTP address (so a domain must resolve to this Caddy, " +
					"and a wildcard domain needs a certificate of its own); or `internal`, Caddy's own local CA, for " +
					"private names and local use (browsers trust it only once its root is installed; Caddy tries to " +
					"install it into the system's trust store unless its config sets " +
					"`apps.pki.certificate_authorities.local.install_trust` to false).",
				Optional:   true,
				Validators: []validator.String{stringvalidator.OneOf(caddy.Issuers...)},
			},
			"acme_ca": schema.StringAttribute{
				MarkdownDescription: "The ACME directory URL. Defaults to Let's Encrypt's production directory, `" +
					caddy.DefaultACMECA + "` (its staging directory is " +
					"`https://acme-staging-v02.api.letsencrypt.org/directory`).",
				Optional:   true,
				Validators: []validator.String{engineRule("an https:// URL", checkHTTPSURL)},
			},
			"acme_ca_root_pem": schema.StringAttribute{
				MarkdownDescription: "PEM of the root certificate that signs the ACME CA's own HTTPS certificate, for a " +
					"private CA (step-ca, Pebble) whose root the system does not trust. Caddy 2.6 reads such a root " +
					"from a file only: the provider writes it to `acme-ca-root-<hash>.pem` in its state directory " +
					"(`$XDG_STATE_HOME/tinyforge`, else `/var/lib/tinyforge` as root, else " +
					"`~/.local/state/tinyforge`), readable by every user, so Caddy must run on the machine that runs " +
					"Terraform and be able to read that file (a remote Caddy is refused at plan).",
				Optional:   true,
				Validators: []validator.String{engineRule("a PEM certificate", checkRootPEM)},
			},
			"email": schema.StringAttribute{
				MarkdownDescription: "Contact address of the ACME account (the CA's expiry and policy mail).",
				Optional:            true,
				Validators:          []validator.String{stringvalidator.LengthAtLeast(3)},
			},
			"redirect_http": schema.BoolAttribute{
				MarkdownDescription: "Answer HTTP requests with a 308 redirect to the same URL over HTTPS, except the " +
					"ACME challenge path (`/.well-known/acme-challenge/`). Defaults to `true`; `false` serves the " +
					"routes over HTTP too.",
				Optional: true,
			},
		},
	}
}

// npmHTTPSBlock is proxy.npm.https.
func npmHTTPSBlock() schema.Block {
	return schema.SingleNestedBlock{
		MarkdownDescription: "Ask NPM for a Let's Encrypt certificate for each workload's domains (one certificate per " +
			"route, made before the route's proxy host is written, and deleted with the route), attached with " +
			"`ssl_forced` (HTTP answers 301 to HTTPS) and `http2_support`. NPM's certbot validates over HTTP-01 " +
			"through NPM's own nginx: a domain must resolve to NPM, and a wildcard domain needs a certificate of its " +
			"own (the workload's `tls`). A refusal fails the apply with certbot's report, naming the domain, before " +
			"the proxy host is touched. NPM takes a certificate's domains offline while certbot runs for a domain " +
			"change of a route (its own behaviour). A workload with a `tls` block uploads its own certificate " +
			"instead, with or without this block.",
		Attributes: map[string]schema.Attribute{
			"email": schema.StringAttribute{
				MarkdownDescription: "The address Let's Encrypt registers. NPM registers with the email of the NPM " +
					"user the provider logs in as, and takes no other: it defaults to the `npm` block's `email`, and " +
					"another value is refused.",
				Optional:   true,
				Validators: []validator.String{stringvalidator.LengthAtLeast(3)},
			},
		},
	}
}

func checkHTTPSURL(s string) error {
	if !strings.HasPrefix(s, "https://") || len(s) <= len("https://") {
		return fmt.Errorf("want an https:// URL (got %q)", s)
	}
	return nil
}

func checkRootPEM(s string) error {
	if !strings.Contains(s, "-----BEGIN CERTIFICATE-----") {
		return fmt.Errorf("want a PEM certificate (-----BEGIN CERTIFICATE-----)")
	}
	return nil
}
