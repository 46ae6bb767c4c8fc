package provider

import (
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/tlscert"
)

// TestTLSFromRoute: refresh shows a certificate the proxy lost, or holds
// another of, as a change of certificate_pem, and keeps the state's when
// the proxy holds it (as PEM, Caddy; or by fingerprint, NPM).
func TestTLSFromRoute(t *testing.T) {
	ca := acctest.MustTestCA(t, "provider test CA")
	a := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{"a.example.test"}})
	b := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{"a.example.test"}})
	state := &tlsModel{CertificatePEM: types.StringValue(a.CertPEM + ca.CertPEM), PrivateKeyPEMWO: types.StringNull(), PrivateKeyPEMWOVersion: types.Int64Value(3)}
	for name, tc := range map[string]struct {
		prev  *tlsModel
		route *proxy.Route
		want  types.String // the certificate_pem read back; null model: nil
		nilOK bool
	}{
		"no route: the state stands":              {prev: state, route: nil, want: state.CertificatePEM},
		"Caddy holds it":                          {prev: state, route: &proxy.Route{TLS: &proxy.TLS{CertificatePEM: a.CertPEM + ca.CertPEM}}, want: state.CertificatePEM},
		"Caddy holds another":                     {prev: state, route: &proxy.Route{TLS: &proxy.TLS{CertificatePEM: b.CertPEM}}, want: types.StringValue(b.CertPEM)},
		"NPM holds it, by fingerprint":            {prev: state, route: &proxy.Route{TLS: &proxy.TLS{Fingerprint: tlscert.Fingerprint(a.CertPEM)}}, want: state.CertificatePEM},
		"NPM holds another":                       {prev: state, route: &proxy.Route{TLS: &proxy.TLS{Fingerprint: tlscert.Fingerprint(b.CertPEM)}}, want: types.StringNull()},
		"the proxy lost it":                       {prev: state, route: &proxy.Route{}, want: types.StringNull()},
		"import from Caddy":                       {prev: nil, route: &proxy.Route{TLS: &proxy.TLS{CertificatePEM: a.CertPEM}}, want: types.StringValue(a.CertPEM)},
		"import from NPM (no PEM to read)":        {prev: nil, route: &proxy.Route{TLS: &proxy.TLS{Fingerprint: "ab"}}, nilOK: true},
		"a route of the proxy's issuer, no block": {prev: nil, route: &proxy.Route{}, nilOK: true},
	} {
		t.Run(name, func(t *testing.T) {
			got := tlsFromRoute(tc.prev, tc.route)
			if tc.nilOK {
				if got != nil {
					t.Fatalf("got %+v, want no tls block", got)
				}
				return
			}
			if got == nil || !got.CertificatePEM.Equal(tc.want) || !got.PrivateKeyPEMWO.IsNull() {
				t.Fatalf("got %+v, want certificate_pem %v and no key", got, tc.want)
			}
			if tc.prev != nil && !got.PrivateKeyPEMWOVersion.Equal(tc.prev.PrivateKeyPEMWOVersion) {
				t.Fatalf("the version changed: %v", got.PrivateKeyPEMWOVersion)
			}
		})
	}
}
