package engine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy/caddy"
)

// TestCaddyHTTPSWhereCaddyRuns: Caddy's certificate errors are read, and a
// private ACME CA's root written to a file Caddy reads, only for a Caddy
// on this machine (its admin API on loopback, reached directly, not
// through an ssh:// engine); elsewhere such a root is refused at its
// attribute, saying why.
func TestCaddyHTTPSWhereCaddyRuns(t *testing.T) {
	t.Parallel()
	root := acctest.MustTestCA(t, "a private ACME CA").CertPEM
	for _, tc := range []struct {
		name      string
		adminURL  string
		direct    bool
		issuerLog bool
	}{
		{"the default admin URL", "", true, true},
		{"localhost", "http://localhost:2019", true, true},
		{"IPv6 loopback", "http://[::1]:2019", true, true},
		{"another machine", "http://caddy.example.test:2019", true, false},
		{"loopback through an ssh:// engine", "http://127.0.0.1:2019", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := caddyHTTPS(caddy.HTTPS{}, tc.adminURL, tc.direct, t.TempDir())
			if err != nil || h.IssuerLog != tc.issuerLog {
				t.Fatalf("caddyHTTPS = %+v, %v; want IssuerLog %v", h, err, tc.issuerLog)
			}
			dir := filepath.Join(t.TempDir(), "state")
			h, err = caddyHTTPS(caddy.HTTPS{ACMECARootPEM: root}, tc.adminURL, tc.direct, dir)
			if !tc.issuerLog {
				var bad *Error
				if !errors.As(err, &bad) || bad.Attr != "proxy.caddy.https.acme_ca_root_pem" || !strings.Contains(err.Error(), "from a file") {
					t.Fatalf("a private root for a Caddy elsewhere = %v, want an error at acme_ca_root_pem", err)
				}
				if _, err := os.Stat(dir); !os.IsNotExist(err) {
					t.Fatalf("the refused root was written (%v)", err)
				}
				return
			}
			if err != nil || filepath.Dir(h.ACMECARootFile) != dir {
				t.Fatalf("caddyHTTPS with a root = %+v, %v; want the root in %s", h, err, dir)
			}
			if b, err := os.ReadFile(h.ACMECARootFile); err != nil || string(b) != root {
				t.Fatalf("the root file holds %q (%v)", b, err)
			}
		})
	}
}
