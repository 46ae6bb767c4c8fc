package provider

import (
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/tlscert"
)

// A workload's own certificate: tls { certificate_pem, private_key_pem_wo,
// private_key_pem_wo_version }. The key is write-only: it comes from the
// configuration of the plan or apply that needs it and reaches the proxy
// only, never the state, the plan, a label, a log or an error.

// tlsModel is the workload's tls block.
type tlsModel struct {
	CertificatePEM         types.String `tfsdk:"certificate_pem"`
	PrivateKeyPEMWO        types.String `tfsdk:"private_key_pem_wo"`
	PrivateKeyPEMWOVersion types.Int64  `tfsdk:"private_key_pem_wo_version"`
}

// tlsBlock is tinyforge_workload's tls block.
func tlsBlock() schema.Block {
	return schema.SingleNestedBlock{
		MarkdownDescription: "A certificate of the workload's own for its `domains` (a corporate CA's, a wildcard " +
			"bought elsewhere), served instead of one from the proxy's issuer. Checked at plan: the PEM parses, the key " +
			"is the certificate's, the certificate covers every domain (a domain it misses is named) and has not " +
			"expired (a warning when it expires within 14 days). With Caddy it needs the provider's `https` block (the " +
			"HTTPS listener); Nginx Proxy Manager gets it as a custom certificate (provider `other`), attached to the " +
			"workload's proxy host and deleted with it. A rotation (a new `certificate_pem` and key, and a new " +
			"`private_key_pem_wo_version`) replaces it in place, with no container touched and no handshake failed; " +
			"destroy removes it from the proxy.",
		Validators: []validator.Object{requiredInBlock("certificate_pem", "private_key_pem_wo", "private_key_pem_wo_version")},
		Attributes: map[string]schema.Attribute{
			"certificate_pem": schema.StringAttribute{
				MarkdownDescription: "Required. The certificate, PEM: the leaf first, then its intermediates.",
				Optional:            true,
			},
			"private_key_pem_wo": schema.StringAttribute{
				MarkdownDescription: "Required. The certificate's private key, PEM (PKCS#8, PKCS#1 or SEC 1, unencrypted). " +
					"Write-only (Terraform 1.11+): it is read from the configuration at plan and apply and is never " +
					"stored in the state or shown in the plan. Change `private_key_pem_wo_version` when it changes. " +
					"The proxy holds it (Caddy in its config, NPM in its certificate).",
				Optional:  true,
				Sensitive: true,
				WriteOnly: true,
			},
			"private_key_pem_wo_version": schema.Int64Attribute{
				MarkdownDescription: "Required. Version of `private_key_pem_wo`: change it with the key, so that Terraform " +
					"sees a change it cannot see in a write-only value.",
				Optional:   true,
				Validators: []validator.Int64{int64validator.AtLeast(1)},
			},
		},
	}
}

// certificate is the workload's certificate for the engine: the state's
// or plan's certificate, and the key from config (nil: a plan or a read,
// which do not hold it).
func (m *tlsModel) certificate(config *tlsModel) *proxy.TLS {
	if m == nil || m.CertificatePEM.IsNull() || m.CertificatePEM.IsUnknown() {
		return nil
	}
	t := &proxy.TLS{CertificatePEM: m.CertificatePEM.ValueString()}
	if config != nil && !config.PrivateKeyPEMWO.IsNull() && !config.PrivateKeyPEMWO.IsUnknown() {
		t.KeyPEM = config.PrivateKeyPEMWO.ValueString()
	}
	return t
}

// expiryWarning warns at plan when the certificate expires within
// tlscert.ExpiryWarning (its errors are the engine's, at Validate).
func (m *tlsModel) expiryWarning() diag.Diagnostics {
	var diags diag.Diagnostics
	if m == nil || m.CertificatePEM.IsNull() || m.CertificatePEM.IsUnknown() {
		return diags
	}
	c, err := tlscert.Parse(m.CertificatePEM.ValueString())
	if err != nil {
		return diags
	}
	if warning, err := c.CheckValidity(time.Now()); err == nil && warning != "" {
		diags.AddAttributeWarning(path.Root("tls").AtName("certificate_pem"), "Certificate expires soon", warning)
	}
	return diags
}

// tlsFromRoute is the tls block as a route read back shows it: the
// certificate the proxy holds when it kept its PEM (Caddy), else the
// state's when the proxy's fingerprint is that certificate's (NPM). A
// route without a certificate, or with another, reads as prev with no
// certificate, so that the plan shows the change and the apply puts it
// back.
func tlsFromRoute(prev *tlsModel, route *proxy.Route) *tlsModel {
	if route == nil {
		return prev
	}
	if route.TLS == nil {
		if prev == nil {
			return nil
		}
		out := *prev
		out.CertificatePEM = types.StringNull()
		return &out
	}
	out := tlsModel{PrivateKeyPEMWO: types.StringNull(), PrivateKeyPEMWOVersion: types.Int64Null()}
	if prev != nil {
		out = *prev
		out.PrivateKeyPEMWO = types.StringNull()
	}
	switch {
	case route.TLS.CertificatePEM != "":
		if prev == nil || !proxy.SameCertificate(route.TLS, &proxy.TLS{CertificatePEM: prev.CertificatePEM.ValueString()}) {
			out.CertificatePEM = types.StringValue(route.TLS.CertificatePEM)
		}
	case prev == nil || !proxy.SameCertificate(route.TLS, &proxy.TLS{CertificatePEM: prev.CertificatePEM.ValueString()}):
		// A fingerprint of another certificate: the state cannot say which.
		if prev == nil {
			return nil
		}
		out.CertificatePEM = types.StringNull()
	}
	return &out
}
