package proxy_test

import (
	"strings"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest/refusal"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/proxy"
)

// FuzzValidateDomain: no input panics, a refusal names the domain and
// quotes it, and an accepted domain is a lower-case DNS hostname of at most
// 253 characters, whose labels are 1-63 letters, digits and hyphens not at
// either end, the first of which may be the wildcard "*".
func FuzzValidateDomain(f *testing.F) {
	f.Fuzz(func(t *testing.T, domain string) {
		err := proxy.ValidateDomain(domain)
		if err != nil {
			refusal.Check(t, err, "domain", domain)
			return
		}
		if len(domain) > 253 || domain != strings.ToLower(domain) {
			t.Fatalf("accepted domain %q is longer than 253 or not lower-case", domain)
		}
		for i, label := range strings.Split(domain, ".") {
			if i == 0 && label == "*" && domain != "*" {
				continue
			}
			if len(label) < 1 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
				t.Fatalf("accepted domain %q has label %q", domain, label)
			}
			for _, c := range []byte(label) {
				if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
					t.Fatalf("accepted domain %q holds %q", domain, c)
				}
			}
		}
	})
}
