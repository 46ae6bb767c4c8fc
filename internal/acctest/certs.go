package acctest

import (
	"cmp"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"testing"
	"time"
)

// TestCA is a certificate authority made for a test: it signs the
// certificates of TLS listeners the tests start (a test host's engine,
// Pebble's directory) and the custom certificates they deploy.
type TestCA struct {
	// CertPEM is the CA's certificate, what a client trusts.
	CertPEM string

	cert *x509.Certificate
	key  crypto.Signer
}

// NewTestCA makes a CA named name, valid from an hour ago for a year.
func NewTestCA(name string) (*TestCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &TestCA{CertPEM: string(pemBlock("CERTIFICATE", der)), cert: cert, key: key}, nil
}

// MustTestCA is NewTestCA; the test fails when it does.
func MustTestCA(t testing.TB, name string) *TestCA {
	t.Helper()
	ca, err := NewTestCA(name)
	if err != nil {
		t.Fatalf("make a test CA: %v", err)
	}
	return ca
}

// Pool is a certificate pool holding only this CA.
func (ca *TestCA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return pool
}

// LeafOptions say what a certificate the CA issues is for.
type LeafOptions struct {
	// CommonName defaults to the first DNS name, else the first IP.
	CommonName string
	DNSNames   []string
	IPs        []net.IP
	// Usage defaults to server authentication.
	Usage x509.ExtKeyUsage
	// NotBefore defaults to an hour ago, NotAfter to 90 days from now (a
	// Let's Encrypt certificate's life, past the 14 days that draw an
	// expiry warning).
	NotBefore, NotAfter time.Time
}

// Leaf is a certificate the CA issued and its private key (a secret: never
// log it).
type Leaf struct {
	CertPEM, KeyPEM string
	Cert            *x509.Certificate
}

// Issue makes a certificate as opts say, with a new P-256 key.
func (ca *TestCA) Issue(opts LeafOptions) (Leaf, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Leaf{}, err
	}
	now := time.Now()
	name := opts.CommonName
	if name == "" && len(opts.DNSNames) > 0 {
		name = opts.DNSNames[0]
	}
	if name == "" && len(opts.IPs) > 0 {
		name = opts.IPs[0].String()
	}
	notBefore := opts.NotBefore
	if notBefore.IsZero() {
		notBefore = now.Add(-time.Hour)
	}
	notAfter := opts.NotAfter
	if notAfter.IsZero() {
		notAfter = now.Add(90 * 24 * time.Hour)
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{cmp.Or(opts.Usage, x509.ExtKeyUsageServerAuth)},
		DNSNames:     opts.DNSNames,
		IPAddresses:  opts.IPs,
	}, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return Leaf{}, fmt.Errorf("issue a certificate for %q: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Leaf{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Leaf{}, err
	}
	return Leaf{CertPEM: string(pemBlock("CERTIFICATE", der)), KeyPEM: string(pemBlock("PRIVATE KEY", keyDER)), Cert: cert}, nil
}

// MustIssue is Issue; the test fails when it does.
func (ca *TestCA) MustIssue(t testing.TB, opts LeafOptions) Leaf {
	t.Helper()
	leaf, err := ca.Issue(opts)
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

func pemBlock(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

// randomSerial is a 128-bit serial number, unique in practice: clients
// cache certificates by issuer and serial.
func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		panic(err)
	}
	return n
}
