package docker

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

func TestPingNegotiatesTheEngineVersion(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	if err := c.Ping(testContext(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	want := acctest.Docker(t, "version", "--format", "{{.Server.APIVersion}}")
	if got := c.APIVersion(); got != want {
		t.Fatalf("negotiated API version %s, engine speaks %s", got, want)
	}
	want = os.Getenv("DOCKER_HOST")
	if want == "" {
		want = defaultHost
	}
	if c.Host() != want {
		t.Fatalf("Host() = %q, want %q", c.Host(), want)
	}
}

func TestPingDeadSocketNamesTheHost(t *testing.T) {
	t.Parallel()
	host := "unix://" + filepath.Join(t.TempDir(), "dead.sock")
	c, err := New(Config{Host: host})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer c.Close()
	err = c.Ping(testContext(t))
	if err == nil {
		t.Fatal("Ping of a dead socket succeeded")
	}
	msg := err.Error()
	t.Logf("Ping error: %s", msg)
	want := "Docker engine at " + host + " does not answer: "
	if !strings.HasPrefix(msg, want) || !strings.Contains(msg, "no such file or directory") {
		t.Fatalf("error %q: want %q followed by the cause", msg, want)
	}
	if len(msg) > len(want)+60 {
		t.Fatalf("error is not short (%d chars): %q", len(msg), msg)
	}
}

func TestNewHost(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///run/other.sock")
	c, err := New(Config{})
	if err != nil {
		t.Fatalf("New with $DOCKER_HOST: %v", err)
	}
	if c.Host() != "unix:///run/other.sock" {
		t.Fatalf("Host() = %q, want $DOCKER_HOST", c.Host())
	}
	t.Setenv("DOCKER_HOST", "")
	if c, _ := New(Config{}); c.Host() != defaultHost {
		t.Fatalf("Host() = %q, want %q", c.Host(), defaultHost)
	}
	if c, _ := New(Config{Host: "tcp://127.0.0.1:2375"}); c.Host() != "tcp://127.0.0.1:2375" {
		t.Fatalf("Host() = %q, want the configured host", c.Host())
	}

	for _, bad := range []string{"ftp://me@host", "tcp://nohostport", "unix://relative.sock", "127.0.0.1:2375", "http://127.0.0.1:2375"} {
		_, err := New(Config{Host: bad})
		if err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("New(%q) = %v, want an error naming the host", bad, err)
		}
	}
}

func TestTransportWrapperSeesEveryRequest(t *testing.T) {
	t.Parallel()
	var log requestLog
	c := newClient(t, WithTransport(log.wrap))
	ctx := testContext(t)
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if _, err := c.ListContainers(ctx, acctest.LabelTestRun); err != nil {
		t.Fatalf("ListContainers: %v", err)
	}
	_, err := c.InspectImage(ctx, "tinyforge-absent-"+acctest.RunID())
	mustNotFound(t, err, "tinyforge-absent-")

	got := log.requests()
	if len(got) != 3 || log.count.Load() != 3 {
		t.Fatalf("want 3 requests (ping, one list, one inspect), got %d: %q", len(got), got)
	}
	if got[0] != "HEAD /_ping" || !strings.HasSuffix(got[1], "/containers/json") || !strings.HasSuffix(got[2], "/json") {
		t.Fatalf("unexpected requests %q", got)
	}
}

func TestTCPHostReachesTheEngine(t *testing.T) {
	t.Parallel()
	acctest.RequireDocker(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	forwardToEngine(t, ln)

	var log requestLog
	c, err := New(Config{Host: "tcp://" + ln.Addr().String()}, WithTransport(log.wrap))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer c.Close()
	ctx := testContext(t)
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping over tcp: %v", err)
	}
	if _, err := c.ListContainers(ctx, acctest.LabelTestRun); err != nil {
		t.Fatalf("ListContainers over tcp: %v", err)
	}
	if n := log.count.Load(); n != 2 {
		t.Fatalf("transport wrapper saw %d requests over tcp, want 2: %q", n, log.requests())
	}
}

func TestTLSFromPEM(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)

	for name, cfg := range map[string]Config{
		"ca only":           {CAPEM: pki.caPEM},
		"ca and client":     {CAPEM: pki.caPEM, CertPEM: pki.clientCertPEM, KeyPEM: pki.clientKeyPEM},
		"client, no ca":     {CertPEM: pki.clientCertPEM, KeyPEM: pki.clientKeyPEM},
		"ca bundle of many": {CAPEM: pki.caPEM + pki.clientCertPEM},
	} {
		cfg.Host = "tcp://127.0.0.1:2376"
		c, err := New(cfg)
		if err != nil {
			t.Errorf("%s: New rejected valid PEM: %v", name, err)
			continue
		}
		c.Close()
	}

	garbage := "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"
	secretKey := "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n"
	for name, tc := range map[string]struct {
		cfg  Config
		want string
	}{
		"ca garbage":    {Config{CAPEM: "hello"}, "ca_pem"},
		"ca bad der":    {Config{CAPEM: garbage}, "ca_pem"},
		"cert garbage":  {Config{CAPEM: pki.caPEM, CertPEM: "hello", KeyPEM: pki.clientKeyPEM}, "cert_pem"},
		"key garbage":   {Config{CAPEM: pki.caPEM, CertPEM: pki.clientCertPEM, KeyPEM: secretKey}, "key_pem"},
		"key is a cert": {Config{CertPEM: pki.clientCertPEM, KeyPEM: pki.clientCertPEM}, "key_pem"},
		"cert, no key":  {Config{CertPEM: pki.clientCertPEM}, "key_pem"},
		"key, no cert":  {Config{KeyPEM: pki.clientKeyPEM}, "cert_pem"},
		"pair mismatch": {Config{CertPEM: pki.clientCertPEM, KeyPEM: pki.serverKeyPEM}, "do not match"},
		"tls over unix": {Config{Host: "unix:///var/run/docker.sock", CAPEM: pki.caPEM}, "tcp://"},
	} {
		if tc.cfg.Host == "" {
			tc.cfg.Host = "tcp://127.0.0.1:2376"
		}
		_, err := New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New = %v, want an error naming %s", name, err, tc.want)
			continue
		}
		for _, secret := range []string{"c2VjcmV0LWtleS1ieXRlcw", pemBody(pki.clientKeyPEM), pemBody(pki.serverKeyPEM)} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error quotes key material: %v", name, err)
			}
		}
	}
}

// TestTLSHostReachesTheEngine puts a TLS terminator that demands a client
// certificate in front of the real engine: the client must verify the server
// against ca_pem and present cert_pem/key_pem.
func TestTLSHostReachesTheEngine(t *testing.T) {
	t.Parallel()
	acctest.RequireDocker(t)
	pki := newTestPKI(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", pki.serverTLS)
	if err != nil {
		t.Fatal(err)
	}
	forwardToEngine(t, ln)
	host := "tcp://" + ln.Addr().String()

	var log requestLog
	c, err := New(Config{Host: host, CAPEM: pki.caPEM, CertPEM: pki.clientCertPEM, KeyPEM: pki.clientKeyPEM}, WithTransport(log.wrap))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer c.Close()
	ctx := testContext(t)
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping over TLS: %v", err)
	}
	if _, err := c.ListContainers(ctx, acctest.LabelTestRun); err != nil {
		t.Fatalf("ListContainers over TLS: %v", err)
	}
	if n := log.count.Load(); n != 2 {
		t.Fatalf("transport wrapper saw %d requests over TLS, want 2", n)
	}

	// Without a client certificate the terminator refuses the handshake.
	anon, err := New(Config{Host: host, CAPEM: pki.caPEM})
	if err != nil {
		t.Fatalf("New with ca_pem only: %v", err)
	}
	defer anon.Close()
	err = anon.Ping(ctx)
	if err == nil || !strings.Contains(err.Error(), host) {
		t.Fatalf("Ping without a client certificate = %v, want an error naming %s", err, host)
	}
	t.Logf("Ping without a client certificate: %v", err)
}

// forwardToEngine relays every connection accepted on ln to the local
// engine's unix socket, until the test ends.
func forwardToEngine(t *testing.T, ln net.Listener) {
	t.Helper()
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			track(in)
			go func() {
				out, err := net.Dial("unix", strings.TrimPrefix(defaultHost, "unix://"))
				if err != nil {
					in.Close()
					return
				}
				track(out)
				go func() { io.Copy(out, in); out.Close() }()
				io.Copy(in, out)
				in.Close()
			}()
		}
	}()
}

// testPKI is a throwaway CA with a server certificate for 127.0.0.1 and a
// client certificate.
type testPKI struct {
	caPEM                       string
	clientCertPEM, clientKeyPEM string
	serverKeyPEM                string
	serverTLS                   *tls.Config
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tinyforge test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)

	issue := func(serial int64, usage x509.ExtKeyUsage) (certPEM, keyPEM string) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: fmt.Sprintf("tinyforge test %d", serial)},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
			string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	}

	p := testPKI{caPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))}
	p.clientCertPEM, p.clientKeyPEM = issue(2, x509.ExtKeyUsageClientAuth)
	serverCertPEM, serverKeyPEM := issue(3, x509.ExtKeyUsageServerAuth)
	p.serverKeyPEM = serverKeyPEM
	pair, err := tls.X509KeyPair([]byte(serverCertPEM), []byte(serverKeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	p.serverTLS = &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// pemBody is the first base64 line of a PEM block, to look for in errors.
func pemBody(s string) string {
	lines := strings.Split(s, "\n")
	if len(lines) < 2 {
		return s
	}
	return lines[1]
}
