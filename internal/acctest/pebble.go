package acctest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// PebbleBinary is Let's Encrypt's ACME test server (Debian's pebble
// package, installed by .ci/setup-host).
const PebbleBinary = "/usr/bin/pebble"

// Pebble is a real ACME CA for a test: Debian's pebble, validating HTTP-01
// challenges for real at HTTPPort of whatever address DNS gives for a
// name. Its directory is served over TLS with a certificate from a CA the
// fixture makes (the package ships none); DNS is a responder of the test's
// own (-dnsserver), so a test decides which names resolve.
type Pebble struct {
	// DirectoryURL is the ACME directory, "https://127.0.0.1:<port>/dir".
	DirectoryURL string
	// DirectoryCAPEM is the root of the directory's TLS certificate: what
	// an ACME client must trust to talk to Pebble (acme_ca_root_pem).
	DirectoryCAPEM string
	// ManagementURL is Pebble's management API, which serves the roots it
	// issues under (they change with every start).
	ManagementURL string
	// DNS is the responder Pebble resolves names with.
	DNS *DNS

	proc   *hostProcess
	client *http.Client // trusts DirectoryCAPEM
}

// StartPebble starts Pebble validating HTTP-01 challenges at httpPort
// (the HTTP port of the proxy under test), resolving names through dns,
// and stops it when the test ends. Pebble sleeps no random time before a
// validation (PEBBLE_VA_NOSLEEP) and refuses no valid nonce
// (PEBBLE_WFE_NONCEREJECT=0), so that an issuance takes a second or two.
func StartPebble(t testing.TB, httpPort int, dns *DNS) *Pebble {
	t.Helper()
	dir := t.TempDir()
	ca := MustTestCA(t, "tinyforge acctest pebble directory CA")
	listen := leafForLoopback(t, ca)
	acmePort, mgmtPort, tlsPort := FreePort(t), FreePort(t), FreePort(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	config := map[string]any{"pebble": map[string]any{
		"listenAddress":                  "127.0.0.1:" + strconv.Itoa(acmePort),
		"managementListenAddress":        "127.0.0.1:" + strconv.Itoa(mgmtPort),
		"certificate":                    certFile,
		"privateKey":                     keyFile,
		"httpPort":                       httpPort,
		"tlsPort":                        tlsPort, // TLS-ALPN-01: nothing answers there
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
	}}
	b, _ := json.Marshal(config)
	for path, content := range map[string][]byte{certFile: []byte(listen.CertPEM), keyFile: []byte(listen.KeyPEM), filepath.Join(dir, "pebble.json"): b} {
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	proc, err := startHostProcess("pebble", filepath.Join(dir, "pebble.log"), "/usr/bin/env",
		"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0",
		PebbleBinary, "-config", filepath.Join(dir, "pebble.json"), "-dnsserver", dns.Addr, "-strict=false")
	if err != nil {
		t.Fatalf("%v (is Debian's pebble package installed? .ci/setup-host installs it)", err)
	}
	p := &Pebble{
		DirectoryURL:   fmt.Sprintf("https://127.0.0.1:%d/dir", acmePort),
		DirectoryCAPEM: ca.CertPEM,
		ManagementURL:  fmt.Sprintf("https://127.0.0.1:%d", mgmtPort),
		DNS:            dns,
		proc:           proc,
		client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			Proxy:           nil,
			TLSClientConfig: &tls.Config{RootCAs: ca.Pool()},
		}},
	}
	t.Cleanup(func() {
		if err := proc.stop(5 * time.Second); err != nil {
			t.Error(err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := proc.waitReady(ctx, func(ctx context.Context) error {
		_, err := p.get(ctx, p.DirectoryURL)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return p
}

// leafForLoopback is a certificate for 127.0.0.1 and localhost.
func leafForLoopback(t testing.TB, ca *TestCA) Leaf {
	t.Helper()
	return ca.MustIssue(t, LeafOptions{DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
}

// Roots is a pool of the roots Pebble issues under now (its management
// API's /roots/0, with the alternates it links): what a client trusts to
// verify a certificate Pebble issued, and nothing else.
func (p *Pebble) Roots(t testing.TB) *x509.CertPool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	body, err := p.get(ctx, p.ManagementURL+"/roots/0")
	if err != nil {
		t.Fatalf("read Pebble's root: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(body) {
		t.Fatalf("Pebble's /roots/0 holds no PEM certificate: %q", body)
	}
	return pool
}

// Log is what Pebble printed so far, for failure messages.
func (p *Pebble) Log() string { return p.proc.logTail() }

// Accounts is how many ACME accounts Pebble has registered so far, from
// its whole log.
func (p *Pebble) Accounts() int { return strings.Count(p.proc.logText(), " accounts in memory") }

// Issued is how many certificates Pebble has issued so far, from its
// whole log.
func (p *Pebble) Issued() int { return strings.Count(p.proc.logText(), "Issued certificate") }

func (p *Pebble) get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d: %s", url, resp.StatusCode, b)
	}
	return b, nil
}
