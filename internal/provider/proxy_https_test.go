package provider

import (
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy/caddy"
)

// TestCaddyHTTPSBlockDefaults: an empty https block asks for ACME (the
// router fills in Let's Encrypt) and redirects HTTP; redirect_http = false
// serves HTTP too; the other attributes reach Caddy's settings as given.
func TestCaddyHTTPSBlockDefaults(t *testing.T) {
	t.Parallel()
	empty := caddyHTTPSModel{Issuer: types.StringNull(), ACMECA: types.StringNull(), ACMECARootPEM: types.StringNull(),
		Email: types.StringNull(), RedirectHTTP: types.BoolNull()}
	if got := *empty.config(); got != (caddy.HTTPS{Issuer: caddy.IssuerACME, RedirectHTTP: true}) {
		t.Fatalf("https {} = %+v, want ACME and the redirect", got)
	}
	set := caddyHTTPSModel{Issuer: types.StringValue("internal"), ACMECA: types.StringValue("https://ca.example.test/dir"),
		ACMECARootPEM: types.StringValue("-----BEGIN CERTIFICATE-----"), Email: types.StringValue("ops@example.test"),
		RedirectHTTP: types.BoolValue(false)}
	want := caddy.HTTPS{Issuer: caddy.IssuerInternal, ACMECA: "https://ca.example.test/dir",
		ACMECARootPEM: "-----BEGIN CERTIFICATE-----", Email: "ops@example.test"}
	if got := *set.config(); got != want {
		t.Fatalf("https { ... } = %+v, want %+v", got, want)
	}
	set.RedirectHTTP = types.BoolValue(true)
	if !set.config().RedirectHTTP {
		t.Fatal("redirect_http = true does not redirect")
	}
}
