package acctest

import (
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
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
	ca, err := NewTestCA("tinyforge acctest CA " + addr)
	if err != nil {
		return nil, err
	}
	server, err := ca.Issue(LeafOptions{CommonName: addr, IPs: []net.IP{net.ParseIP(addr)}})
	if err != nil {
		return nil, err
	}
	client, err := ca.Issue(LeafOptions{CommonName: "tinyforge acctest client", Usage: x509.ExtKeyUsageClientAuth})
	if err != nil {
		return nil, err
	}
	e := &EngineTLS{
		Host:     "tcp://" + net.JoinHostPort(addr, "2376"),
		CAPEM:    ca.CertPEM,
		CertPEM:  client.CertPEM,
		KeyPEM:   client.KeyPEM,
		caFile:   filepath.Join(dir, "ca.pem"),
		certFile: filepath.Join(dir, "server-cert.pem"),
		keyFile:  filepath.Join(dir, "server-key.pem"),
	}
	for path, content := range map[string]string{e.caFile: ca.CertPEM, e.certFile: server.CertPEM, e.keyFile: server.KeyPEM} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return nil, err
		}
	}
	return e, nil
}
