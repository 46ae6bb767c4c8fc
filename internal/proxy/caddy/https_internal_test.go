package caddy

import (
	"slices"
	"testing"
)

// TestHTTPSDefaults: with an https block and nothing else, the server
// listens on :80 (HTTP) and :443 (HTTPS), certificates come from Let's
// Encrypt's production directory, and a new domain's wait is bounded by
// DefaultCertificateTimeout; without https, :80 alone.
func TestHTTPSDefaults(t *testing.T) {
	t.Parallel()
	plain, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(plain.listen, []string{":80"}) || plain.https != nil {
		t.Fatalf("without https: listen %q, https %+v", plain.listen, plain.https)
	}
	r, err := New(Config{HTTPS: &HTTPS{}})
	if err != nil {
		t.Fatal(err)
	}
	h := r.https
	if !slices.Equal(r.listen, []string{":80", ":443"}) || r.httpsPort != 443 {
		t.Fatalf("with https: listen %q, HTTPS port %d", r.listen, r.httpsPort)
	}
	if h.Issuer != IssuerACME || h.ACMECA != "https://acme-v02.api.letsencrypt.org/directory" || h.CertificateTimeout != DefaultCertificateTimeout {
		t.Fatalf("with https: %+v", h)
	}
	if iss := h.issuer(); iss["module"] != "acme" || iss["ca"] != DefaultACMECA || iss["email"] != nil {
		t.Fatalf("the issuer of the policies: %v", iss)
	}
}
