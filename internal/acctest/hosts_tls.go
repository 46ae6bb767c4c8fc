package acctest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// EngineTLS is a test host engine's TLS listener and the certificates made
// for it: a CA of its own, the engine's certificate (for the host's
// address) and a client certificate the engine accepts.
type EngineTLS struct {
	// Host is the docker_host, "tcp://<address>:2376".
	Host string
	// CAPEM, CertPEM and KeyPEM are what a client needs: the CA, and the
	// client certificate and key (KeyPEM is a secret; never log it).
	CAPEM, CertPEM, KeyPEM string

	caFile, certFile, keyFile string // the engine's
}

// makeEngineTLS makes the certificates of an engine listening on addr and
// writes the engine's files into dir.
func makeEngineTLS(dir, addr string) (*EngineTLS, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tinyforge acctest CA " + addr},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	leaf := func(serial int64, name string, usage x509.ExtKeyUsage, ips []net.IP) (certPEM, keyPEM []byte, err error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: name},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  ips,
		}, ca, &key.PublicKey, caKey)
		if err != nil {
			return nil, nil, err
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
	}
	serverCert, serverKey, err := leaf(2, addr, x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP(addr)})
	if err != nil {
		return nil, err
	}
	clientCert, clientKey, err := leaf(3, "tinyforge acctest client", x509.ExtKeyUsageClientAuth, nil)
	if err != nil {
		return nil, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	e := &EngineTLS{
		Host:     "tcp://" + net.JoinHostPort(addr, "2376"),
		CAPEM:    string(caPEM),
		CertPEM:  string(clientCert),
		KeyPEM:   string(clientKey),
		caFile:   filepath.Join(dir, "ca.pem"),
		certFile: filepath.Join(dir, "server-cert.pem"),
		keyFile:  filepath.Join(dir, "server-key.pem"),
	}
	for path, content := range map[string][]byte{e.caFile: caPEM, e.certFile: serverCert, e.keyFile: serverKey} {
		if err := os.WriteFile(path, content, 0o600); err != nil {
			return nil, err
		}
	}
	return e, nil
}
