package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

func TestCheck(t *testing.T) {
	ca := acctest.MustTestCA(t, "tlscert test CA")
	now := time.Now()
	site := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{"www.example.test", "example.test"}})
	wild := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{"*.example.test"}})
	other := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{"www.example.test"}})
	soon := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{"example.test"}, NotAfter: now.Add(3 * 24 * time.Hour)})
	expired := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{"example.test"}, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
	future := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{"example.test"}, NotBefore: now.Add(24 * time.Hour), NotAfter: now.Add(48 * time.Hour)})
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	pemOf := func(kind string, der []byte) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}))
	}

	for _, tc := range []struct {
		name              string
		cert, key         string
		domains           []string
		wantErr, wantWarn string
	}{
		{name: "leaf and chain, every domain covered", cert: site.CertPEM + ca.CertPEM, key: site.KeyPEM, domains: []string{"example.test", "www.example.test"}},
		{name: "no key at plan (write-only)", cert: site.CertPEM, domains: []string{"example.test"}},
		{name: "a wildcard covers a name under it", cert: wild.CertPEM, key: wild.KeyPEM, domains: []string{"a.example.test", "*.example.test"}},
		{name: "a wildcard does not cover the apex", cert: wild.CertPEM, key: wild.KeyPEM, domains: []string{"example.test"}, wantErr: `does not cover domain "example.test": its names are *.example.test`},
		{name: "a wildcard does not cover two labels", cert: wild.CertPEM, domains: []string{"a.b.example.test"}, wantErr: `does not cover domain "a.b.example.test"`},
		{name: "a wildcard domain needs the wildcard", cert: site.CertPEM, domains: []string{"*.example.test"}, wantErr: `does not cover domain "*.example.test"`},
		{name: "the second domain is missing", cert: other.CertPEM, key: other.KeyPEM, domains: []string{"www.example.test", "api.example.test"}, wantErr: `does not cover domain "api.example.test": its names are www.example.test`},
		{name: "another certificate's key", cert: site.CertPEM, key: other.KeyPEM, domains: []string{"example.test"}, wantErr: "private_key_pem_wo is not the key of the certificate for www.example.test, example.test"},
		{name: "an RSA key of nothing", cert: site.CertPEM, key: pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), domains: []string{"example.test"}, wantErr: "public keys differ"},
		{name: "an SEC 1 key of nothing", cert: site.CertPEM, key: pemOf("EC PRIVATE KEY", ecDER), domains: []string{"example.test"}, wantErr: "public keys differ"},
		{name: "expired", cert: expired.CertPEM, key: expired.KeyPEM, domains: []string{"example.test"}, wantErr: "the certificate for example.test expired on"},
		{name: "not yet valid", cert: future.CertPEM, domains: []string{"example.test"}, wantErr: "is not valid before"},
		{name: "expires within 14 days", cert: soon.CertPEM, key: soon.KeyPEM, domains: []string{"example.test"}, wantWarn: "the certificate for example.test expires on"},
		{name: "not PEM", cert: "hello", domains: []string{"example.test"}, wantErr: "certificate_pem holds no PEM certificate"},
		{name: "a key in certificate_pem", cert: site.KeyPEM, domains: []string{"example.test"}, wantErr: `certificate_pem holds a "PRIVATE KEY" PEM block`},
		{name: "garbage after the PEM", cert: site.CertPEM + "trailing", domains: []string{"example.test"}, wantErr: "text after the last PEM block"},
		{name: "a certificate as the key", cert: site.CertPEM, key: site.CertPEM, domains: []string{"example.test"}, wantErr: `private_key_pem_wo holds a "CERTIFICATE" PEM block`},
		{name: "two keys", cert: site.CertPEM, key: site.KeyPEM + site.KeyPEM, domains: []string{"example.test"}, wantErr: "more than one PEM block"},
		{name: "a broken key", cert: site.CertPEM, key: pemOf("PRIVATE KEY", []byte("not DER at all")), domains: []string{"example.test"}, wantErr: "private_key_pem_wo (PRIVATE KEY) does not parse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, warn, err := Check(tc.cert, tc.key, tc.domains, now)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
			case tc.wantErr == "" && c == nil:
				t.Fatal("no certificate returned")
			}
			if (tc.wantWarn == "") != (warn == "") || !strings.Contains(warn, tc.wantWarn) {
				t.Fatalf("warning = %q, want %q", warn, tc.wantWarn)
			}
			// No message ever carries a piece of a key.
			for _, key := range []string{tc.key, site.KeyPEM} {
				for _, line := range strings.Split(key, "\n") {
					if len(line) < 16 || strings.HasPrefix(line, "-----") {
						continue
					}
					if err != nil && strings.Contains(err.Error(), line[:16]) || strings.Contains(warn, line[:16]) {
						t.Fatalf("a message quotes the key: %v %q", err, warn)
					}
				}
			}
		})
	}
}

func TestUncoveredErrorNamesTheDomain(t *testing.T) {
	ca := acctest.MustTestCA(t, "tlscert test CA")
	leaf := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{"a.example.test"}})
	_, _, err := Check(leaf.CertPEM, "", []string{"a.example.test", "b.example.test"}, time.Now())
	var uncovered *UncoveredError
	if !errors.As(err, &uncovered) || uncovered.Domain != "b.example.test" {
		t.Fatalf("error = %v, want an UncoveredError for b.example.test", err)
	}
}

func TestFingerprint(t *testing.T) {
	ca := acctest.MustTestCA(t, "tlscert test CA")
	a := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{"a.example.test"}})
	b := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{"a.example.test"}})
	if Fingerprint(a.CertPEM) == "" || Fingerprint(a.CertPEM) != Fingerprint(a.CertPEM+ca.CertPEM) {
		t.Fatal("the fingerprint is the leaf's, whatever chain follows")
	}
	if Fingerprint(a.CertPEM) == Fingerprint(b.CertPEM) {
		t.Fatal("two certificates share a fingerprint")
	}
	if Fingerprint("junk") != "" {
		t.Fatal("junk has a fingerprint")
	}
}
