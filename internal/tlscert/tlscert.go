// Package tlscert checks a custom certificate a workload brings (a
// corporate CA's, a wildcard bought elsewhere) before anything is deployed:
// the PEM parses, the private key belongs to the certificate, its names
// cover every domain the workload serves, and it has not expired. The
// provider runs it at plan time and the proxies at deploy time: one rule.
//
// The private key is a secret: no error of this package quotes it, or any
// part of it.
package tlscert

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ExpiryWarning is how close to its expiry a certificate draws a warning.
const ExpiryWarning = 14 * 24 * time.Hour

// Certificate is a parsed custom certificate: the leaf first, then the
// chain that came with it.
type Certificate struct {
	Leaf  *x509.Certificate
	Chain []*x509.Certificate
}

// Parse reads a PEM bundle: the leaf certificate first, then any
// intermediates. Blocks other than CERTIFICATE are refused (a private key
// pasted into certificate_pem must not travel on as a certificate).
func Parse(certPEM string) (*Certificate, error) {
	rest := []byte(certPEM)
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			// Never quote the block: it may be a key.
			return nil, fmt.Errorf("certificate_pem holds a %q PEM block; it takes CERTIFICATE blocks only (the leaf, then its chain)", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate_pem: certificate %d does not parse: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("certificate_pem holds no PEM certificate (want -----BEGIN CERTIFICATE----- blocks: the leaf, then its chain)")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("certificate_pem: text after the last PEM block is not PEM")
	}
	return &Certificate{Leaf: certs[0], Chain: certs[1:]}, nil
}

// Fingerprint is the SHA-256 of the leaf's DER, in hex: how a proxy's copy
// of the certificate is compared with the configuration's.
func (c *Certificate) Fingerprint() string {
	sum := sha256.Sum256(c.Leaf.Raw)
	return hex.EncodeToString(sum[:])
}

// Fingerprint is the Fingerprint of a PEM bundle's leaf, "" when it does
// not parse.
func Fingerprint(certPEM string) string {
	c, err := Parse(certPEM)
	if err != nil {
		return ""
	}
	return c.Fingerprint()
}

// MatchKey checks that keyPEM is the private key of the leaf. The error
// never quotes the key.
func (c *Certificate) MatchKey(keyPEM string) error {
	key, err := parseKey(keyPEM)
	if err != nil {
		return err
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(c.Leaf.PublicKey) {
		return fmt.Errorf("private_key_pem_wo is not the key of the certificate for %s (serial %s): the public keys differ",
			c.Names(), c.Leaf.SerialNumber.Text(16))
	}
	return nil
}

// parseKey reads one private key in PKCS#8, PKCS#1 (RSA) or SEC 1 (EC)
// form. Encrypted keys are refused: the proxy cannot unlock them.
func parseKey(keyPEM string) (crypto.Signer, error) {
	block, rest := pem.Decode([]byte(keyPEM))
	if block == nil {
		return nil, errors.New("private_key_pem_wo holds no PEM block (want -----BEGIN PRIVATE KEY-----)")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("private_key_pem_wo holds more than one PEM block; give the key alone")
	}
	if x509.IsEncryptedPEMBlock(block) || block.Type == "ENCRYPTED PRIVATE KEY" { //nolint:staticcheck // detecting, not decrypting
		return nil, errors.New("private_key_pem_wo is encrypted; the proxy needs it unencrypted")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("private_key_pem_wo holds a %q PEM block; want PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY", block.Type)
	}
	if err != nil {
		// The parser's message names the structure, never key bytes.
		return nil, fmt.Errorf("private_key_pem_wo (%s) does not parse: %w", block.Type, err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("private_key_pem_wo: unsupported key type %T", key)
}

// Names are the leaf's DNS names, for messages.
func (c *Certificate) Names() string {
	if len(c.Leaf.DNSNames) == 0 {
		return "no DNS name"
	}
	return strings.Join(c.Leaf.DNSNames, ", ")
}

// Covers reports whether the leaf is valid for domain, which may be a
// wildcard ("*.example.com" is covered by the same wildcard only, since a
// wildcard route serves every name under it). Only the subject alternative
// names count, as browsers do.
func (c *Certificate) Covers(domain string) bool {
	domain = strings.ToLower(domain)
	if strings.HasPrefix(domain, "*.") {
		for _, n := range c.Leaf.DNSNames {
			if strings.EqualFold(n, domain) {
				return true
			}
		}
		return false
	}
	return c.Leaf.VerifyHostname(domain) == nil
}

// CheckDomains refuses a certificate that does not cover one of domains,
// naming the first it misses.
func (c *Certificate) CheckDomains(domains []string) error {
	for _, d := range domains {
		if !c.Covers(d) {
			return &UncoveredError{Domain: d, Names: c.Names()}
		}
	}
	return nil
}

// UncoveredError is a domain the certificate is not valid for.
type UncoveredError struct {
	Domain string
	Names  string
}

func (e *UncoveredError) Error() string {
	return fmt.Sprintf("the certificate does not cover domain %q: its names are %s; add the domain to the certificate, or serve it from another workload",
		e.Domain, e.Names)
}

// CheckValidity refuses a certificate that is expired or not yet valid at
// now, and returns a warning when it expires within ExpiryWarning.
func (c *Certificate) CheckValidity(now time.Time) (warning string, err error) {
	l := c.Leaf
	switch {
	case now.After(l.NotAfter):
		return "", fmt.Errorf("the certificate for %s expired on %s", c.Names(), l.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(l.NotBefore):
		return "", fmt.Errorf("the certificate for %s is not valid before %s", c.Names(), l.NotBefore.UTC().Format(time.RFC3339))
	case l.NotAfter.Sub(now) < ExpiryWarning:
		return fmt.Sprintf("the certificate for %s expires on %s, in %s: rotate it (a new certificate_pem and private_key_pem_wo, with a new private_key_pem_wo_version)",
			c.Names(), l.NotAfter.UTC().Format(time.RFC3339), l.NotAfter.Sub(now).Round(time.Hour)), nil
	}
	return "", nil
}

// Check is every rule at once, as plan and deploy run it: the certificate
// parses, keyPEM (unless empty: a write-only key the plan does not see)
// is its key, it covers every domain, and it is valid at now.
func Check(certPEM, keyPEM string, domains []string, now time.Time) (c *Certificate, warning string, err error) {
	c, err = Parse(certPEM)
	if err != nil {
		return nil, "", err
	}
	if keyPEM != "" {
		if err := c.MatchKey(keyPEM); err != nil {
			return nil, "", err
		}
	}
	if err := c.CheckDomains(domains); err != nil {
		return nil, "", err
	}
	warning, err = c.CheckValidity(now)
	if err != nil {
		return nil, "", err
	}
	return c, warning, nil
}
