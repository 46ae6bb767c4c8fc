package provider

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest/npmstandin"
)

// TestAccHTTPSPlanTimeValidation: every HTTPS setting and every rule of a
// workload's own certificate refuses bad input at plan time, naming the
// attribute and the value (or the domain), before anything runs; nothing
// is routed at plan, so Caddy's admin URL answers nothing.
func TestAccHTTPSPlanTimeValidation(t *testing.T) {
	acctest.Acceptance(t)
	t.Parallel()
	acctest.RequireDocker(t)
	network := acctest.UniqueName("tf-net")
	caddyWith := func(attrs string) string {
		return fmt.Sprintf(`provider "tinyforge" {
  network = %q
  proxy {
    caddy {
      admin_url = "http://127.0.0.1:1"
%s
    }
  }
}
`, network, attrs)
	}
	https := caddyWith("      https {}")
	npm := npmstandin.New(t, npmEmail, npmPassword)
	npmWith := func(httpsBlock string) string {
		return fmt.Sprintf("provider \"tinyforge\" {\n  network = %q\n%s}\n", network,
			strings.Replace(npmBlock(npm), "    }\n  }\n", httpsBlock+"\n    }\n  }\n", 1))
	}

	ca := acctest.MustTestCA(t, "plan-time CA")
	leaf := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{"web.example.test"}})
	other := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{"web.example.test"}})
	expired := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{"web.example.test"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	workload := func(domains, tls string) string {
		return fmt.Sprintf(`
resource "tinyforge_workload" "web" {
  name    = "web"
  domains = [%s]
%s
  source {
    image {
      ref  = "tinyforge-acctest/none:1"
      port = 8080
    }
  }
}
`, domains, tls)
	}
	tlsBlock := func(cert, key string) string {
		return fmt.Sprintf(`  tls {
    certificate_pem            = %q
    private_key_pem_wo         = %q
    private_key_pem_wo_version = 1
  }`, cert, key)
	}
	web := `"web.example.test"`
	cases := []struct {
		name, config string
		want         *regexp.Regexp
	}{
		// The provider's https block.
		{"issuer value", caddyWith("      https {\n        issuer = \"zerossl\"\n      }") + workload(web, ""),
			atAttr("issuer", "zerossl", `value must be one of`, `"acme"`, `"internal"`, `got: "zerossl"`)},
		{"acme_ca over plain HTTP", caddyWith("      https {\n        acme_ca = \"http://ca.example.test/dir\"\n      }") + workload(web, ""),
			atAttr("acme_ca", "http://ca.example.test/dir", `want an https:// URL (got "http://ca.example.test/dir")`)},
		{"acme_ca_root_pem not PEM", caddyWith("      https {\n        acme_ca_root_pem = \"my root\"\n      }") + workload(web, ""),
			atAttr("acme_ca_root_pem", "my root", `want a PEM certificate`)},
		{"a private ACME root for a Caddy elsewhere", fmt.Sprintf(`provider "tinyforge" {
  network = %q
  proxy {
    caddy {
      admin_url = "http://caddy.example.test:2019"
      https {
        acme_ca_root_pem = %q
      }
    }
  }
}
`, network, ca.CertPEM) + workload(web, ""),
			wrapped(`A private ACME root needs Caddy on this machine`, `Caddy at caddy.example.test:2019 does not run here`)},
		{"automatic_https = true", caddyWith("      automatic_https = true") + workload(web, ""),
			wrapped(`automatic_https = true is removed`, `write an https block in proxy { caddy { ... } }`)},
		{"https with one listen address", caddyWith("      listen = [\"127.0.0.1:8080\"]\n      https {}") + workload(web, ""),
			wrapped(`listen`, `"127.0.0.1:8080"`, `give two addresses, the HTTP one first and the HTTPS one second`)},
		{"an ACME certificate for a wildcard", https + workload(`"*.example.test"`, ""),
			wrapped(`domain "*.example.test": an ACME CA certifies a wildcard only through DNS-01`, `issuer = "internal"`)},
		{"NPM's Let's Encrypt for a wildcard", npmWith("      https {}") + workload(`"*.example.test"`, ""),
			wrapped(`domain "*.example.test": NPM's Let's Encrypt certificates are validated over HTTP-01, which cannot certify a wildcard`)},
		{"NPM's https email not its user's", npmWith("      https {\n        email = \"someone@example.test\"\n      }") + workload(web, ""),
			wrapped(`https email "someone@example.test"`, `NPM registers Let's Encrypt accounts with the email of the NPM user`)},

		// A workload's own certificate.
		{"tls on Caddy without https", caddyWith("") + workload(web, tlsBlock(leaf.CertPEM, leaf.KeyPEM)),
			wrapped(`a certificate of its own needs the provider's https settings (proxy { caddy { https { ... } } })`)},
		{"tls without domains", https + workload("", tlsBlock(leaf.CertPEM, leaf.KeyPEM)),
			wrapped(`tls: a certificate needs domains to serve`)},
		{"certificate_pem not PEM", https + workload(web, tlsBlock("my certificate", leaf.KeyPEM)),
			wrapped(`certificate_pem holds no PEM certificate`)},
		{"a key pasted as the certificate", https + workload(web, tlsBlock(leaf.KeyPEM, leaf.KeyPEM)),
			wrapped(`certificate_pem holds a "PRIVATE KEY" PEM block; it takes CERTIFICATE blocks only`)},
		{"another certificate's key", https + workload(web, tlsBlock(leaf.CertPEM, other.KeyPEM)),
			wrapped(`private_key_pem_wo is not the key of the certificate for web.example.test`, `the public keys differ`)},
		{"a domain the certificate misses", https + workload(web+`, "api.example.test"`, tlsBlock(leaf.CertPEM, leaf.KeyPEM)),
			wrapped(`the certificate does not cover domain "api.example.test": its names are web.example.test`)},
		{"an expired certificate", https + workload(web, tlsBlock(expired.CertPEM, expired.KeyPEM)),
			wrapped(`the certificate for web.example.test expired on ` + expired.Cert.NotAfter.UTC().Format(time.RFC3339)[:10])},
		{"tls without its key", https + workload(web, fmt.Sprintf("  tls {\n    certificate_pem = %q\n  }", leaf.CertPEM)),
			wrapped(`private_key_pem_wo`, `must be specified`)},
	}
	var steps []resource.TestStep
	for _, c := range cases {
		steps = append(steps, resource.TestStep{Config: c.config, PlanOnly: true, ExpectError: c.want})
	}
	start := time.Now()
	accTest(t, resource.TestCase{ProtoV6ProviderFactories: providerFactories, Steps: steps})
	t.Logf("%d plan-time refusals in %s", len(cases), time.Since(start).Round(time.Millisecond))
}
