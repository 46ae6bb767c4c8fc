// Package docker is the only importer of github.com/docker/docker: the
// engine's narrow view of a Docker host (containers, images, networks) over
// the Engine API, with API-version negotiation so one build talks to old and
// new engines alike.
//
// It sits below the rollout engine (internal/workload/rollout), which defines
// the small interfaces it needs and is handed a *Client; nothing here knows
// about workloads, sources or Terraform. Every method is one or a few Engine
// API calls, and every error names the object and the operation.
package docker

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"
)

// defaultHost is the engine address when neither Config.Host nor
// $DOCKER_HOST says otherwise.
const defaultHost = "unix:///var/run/docker.sock"

// Client talks to one Docker engine.
type Client struct {
	host string
	api  *client.Client
	// transport is the innermost transport, kept to close its idle
	// connections: the docker client cannot see it once a caller wrapped it.
	transport *http.Transport
	// lastDialErr is the most recent failure to reach the engine. The docker
	// client replaces dial errors with a long generic message; Ping reports
	// this one instead.
	lastDialErr atomic.Pointer[error]
	// registries are the logins pulls use; nil: none.
	registries *Registries
	// networkMu serialises EnsureNetwork within this process, so parallel
	// applies do not race each other into the engine's duplicate check.
	networkMu sync.Mutex
	// tunnel is the SSH connection of an ssh:// host; nil otherwise.
	tunnel *sshTunnel
	// dialRaw opens a connection to the engine for a protocol upgrade (a
	// BuildKit session): the API's own dialer, with TLS when the API has it.
	dialRaw func(ctx context.Context) (net.Conn, error)
}

// Option adjusts how New builds the client.
type Option func(*options)

type options struct {
	wrapTransport []func(http.RoundTripper) http.RoundTripper
	registries    *Registries
	log           *slog.Logger
}

// WithRegistries gives the logins pulls use (see Registries).
func WithRegistries(r *Registries) Option {
	return func(o *options) { o.registries = r }
}

// WithLog gives the logger of what the client says at info: for an ssh://
// host, each connection it opens, loses and opens again.
func WithLog(log *slog.Logger) Option {
	return func(o *options) { o.log = log }
}

// WithTransport wraps the HTTP transport every Engine API request goes
// through, for unix:// and tcp:// hosts alike: instrumentation (counting API
// calls per plan) and tests use it. Several wrappers apply in order, the last
// outermost.
func WithTransport(wrap func(http.RoundTripper) http.RoundTripper) Option {
	return func(o *options) { o.wrapTransport = append(o.wrapTransport, wrap) }
}

// New returns a client for cfg. It does not contact the engine; Ping does.
func New(cfg Config, opts ...Option) (*Client, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}

	host := cfg.Host
	if host == "" {
		host = os.Getenv("DOCKER_HOST")
	}
	if host == "" {
		host = defaultHost
	}
	network, address, err := parseHost(host)
	if err != nil {
		return nil, err
	}

	tlsConfig, err := tlsConfigFromPEM(cfg)
	if err != nil {
		return nil, err
	}
	if tlsConfig != nil && network != "tcp" {
		return nil, fmt.Errorf("docker host %q: ca_pem, cert_pem and key_pem need a tcp:// host", host)
	}
	sshSet := cfg.SSHPrivateKey != "" || cfg.SSHHostKey != "" || cfg.SSHKnownHostsFile != ""
	if sshSet && network != "ssh" {
		return nil, fmt.Errorf("docker host %q: ssh_private_key, ssh_host_key and ssh_known_hosts_file need an ssh:// host", host)
	}

	c := &Client{host: host, registries: o.registries}
	// apiHost is the engine address as the docker client library sees
	// it: for an ssh:// host, the socket on the host, which the tunnel
	// reaches.
	apiHost := host
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	dial := func(ctx context.Context) (net.Conn, error) { return dialer.DialContext(ctx, network, address) }
	if network == "ssh" {
		target, err := parseSSHHost(host)
		if err != nil {
			return nil, err
		}
		if c.tunnel, err = newSSHTunnel(target, cfg); err != nil {
			return nil, fmt.Errorf("docker host %q: %w", host, err)
		}
		c.tunnel.onDrop = func() { c.transport.CloseIdleConnections() }
		if o.log != nil {
			c.tunnel.log = o.log
		}
		apiHost = "unix://" + target.socket
		dial = func(ctx context.Context) (net.Conn, error) { return c.tunnel.DialContext(ctx, "unix", target.socket) }
	}
	c.transport = &http.Transport{
		// The engine address is fixed: whatever host the request URL names,
		// connect to the engine.
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			conn, err := dial(ctx)
			if err != nil {
				c.lastDialErr.Store(&err)
				return nil, err
			}
			c.lastDialErr.Store(nil)
			return conn, nil
		},
		TLSClientConfig: tlsConfig,
		// Same limits as the docker client's own transport: a long-lived
		// provider process must not pile up idle connections.
		MaxIdleConns:    6,
		IdleConnTimeout: 30 * time.Second,
	}
	switch network {
	case "unix":
		// Compression over a local socket only costs CPU.
		c.transport.DisableCompression = true
	case "tcp":
		c.transport.Proxy = http.ProxyFromEnvironment
	}

	c.dialRaw = func(ctx context.Context) (net.Conn, error) {
		conn, err := c.transport.DialContext(ctx, "tcp", address)
		if err != nil || tlsConfig == nil {
			return conn, err
		}
		cfg := tlsConfig.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(address)
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		return tc, nil
	}

	var rt http.RoundTripper = c.transport
	for _, wrap := range o.wrapTransport {
		rt = wrap(rt)
	}

	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	api, err := client.NewClientWithOpts(
		// WithHost must see the docker client's own *http.Transport, so it
		// comes before our HTTP client replaces it.
		client.WithHost(apiHost),
		client.WithHTTPClient(&http.Client{Transport: rt, CheckRedirect: client.CheckRedirect}),
		client.WithScheme(scheme),
		client.WithAPIVersionNegotiation(),
	)
	if err != nil {
		return nil, fmt.Errorf("docker host %q: %w", host, err)
	}
	c.api = api
	return c, nil
}

// parseHost splits a docker host address into the network and address to
// dial.
func parseHost(host string) (network, address string, err error) {
	scheme, rest, ok := strings.Cut(host, "://")
	if !ok {
		return "", "", fmt.Errorf("docker host %q: want unix:///path/to/socket, tcp://host:port or ssh://user@host", redactHost(host))
	}
	switch scheme {
	case "unix":
		if !strings.HasPrefix(rest, "/") {
			return "", "", fmt.Errorf("docker host %q: the socket path must be absolute", host)
		}
		return "unix", rest, nil
	case "tcp":
		u, err := url.Parse(host)
		if err != nil {
			return "", "", fmt.Errorf("docker host %q: %w", host, err)
		}
		if _, _, err := net.SplitHostPort(u.Host); err != nil {
			return "", "", fmt.Errorf("docker host %q: want tcp://host:port: %w", host, err)
		}
		return "tcp", u.Host, nil
	case "ssh":
		// parseSSHHost reads the rest.
		return "ssh", "", nil
	default:
		return "", "", fmt.Errorf("docker host %q: scheme %q is not supported (want unix://, tcp:// or ssh://)", redactHost(host), scheme)
	}
}

// tlsConfigFromPEM builds the client TLS configuration from cfg's PEM
// strings, or returns nil when none is set. With only a CA the server is
// verified and no client certificate is presented. Errors name the bad field
// and never quote its content.
func tlsConfigFromPEM(cfg Config) (*tls.Config, error) {
	if cfg.CAPEM == "" && cfg.CertPEM == "" && cfg.KeyPEM == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAPEM != "" {
		pool := x509.NewCertPool()
		if err := appendCertificates(pool, cfg.CAPEM); err != nil {
			return nil, fmt.Errorf("docker tls: ca_pem: %w", err)
		}
		tc.RootCAs = pool
	}
	switch {
	case cfg.CertPEM == "" && cfg.KeyPEM == "":
		return tc, nil
	case cfg.CertPEM == "":
		return nil, errors.New("docker tls: key_pem is set but cert_pem is empty")
	case cfg.KeyPEM == "":
		return nil, errors.New("docker tls: cert_pem is set but key_pem is empty")
	}
	if err := appendCertificates(x509.NewCertPool(), cfg.CertPEM); err != nil {
		return nil, fmt.Errorf("docker tls: cert_pem: %w", err)
	}
	if err := checkPrivateKey(cfg.KeyPEM); err != nil {
		return nil, fmt.Errorf("docker tls: key_pem: %w", err)
	}
	pair, err := tls.X509KeyPair([]byte(cfg.CertPEM), []byte(cfg.KeyPEM))
	if err != nil {
		// Both parse on their own, so the pair does not belong together.
		// tls errors describe the mismatch, not the key bytes.
		return nil, fmt.Errorf("docker tls: cert_pem and key_pem do not match: %w", err)
	}
	tc.Certificates = []tls.Certificate{pair}
	return tc, nil
}

// appendCertificates adds every CERTIFICATE block of pemText to pool and
// fails when there is none or one does not parse.
func appendCertificates(pool *x509.CertPool, pemText string) error {
	rest := []byte(pemText)
	found := 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return fmt.Errorf("certificate %d does not parse: %w", found+1, err)
		}
		pool.AddCert(cert)
		found++
	}
	if found == 0 {
		return errors.New("no PEM CERTIFICATE block found")
	}
	return nil
}

// checkPrivateKey reports whether pemText holds a private key in one of the
// encodings crypto/tls accepts. The error never includes the key.
func checkPrivateKey(pemText string) error {
	rest := []byte(pemText)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return errors.New("no PEM PRIVATE KEY block found")
		}
		if block.Type != "PRIVATE KEY" && !strings.HasSuffix(block.Type, " PRIVATE KEY") {
			continue
		}
		if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
			return nil
		}
		if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
			return nil
		}
		if _, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
			return nil
		}
		return fmt.Errorf("%s block does not parse as PKCS#8, PKCS#1 or EC", block.Type)
	}
}

// Host is the engine address in use, for messages.
func (c *Client) Host() string { return c.host }

// Local reports whether the engine runs on this machine (IsLocal).
func (c *Client) Local() bool { return IsLocal(c.host) }

// IsLocal reports whether the engine at host ("": $DOCKER_HOST, else the
// default socket) runs on this machine: a unix socket, or TCP to a
// loopback address. Its disk is then this machine's.
func IsLocal(host string) bool {
	host = cmp.Or(host, os.Getenv("DOCKER_HOST"), defaultHost)
	network, address, err := parseHost(host)
	if err != nil {
		return false
	}
	if network == "unix" {
		return true
	}
	h, _, _ := net.SplitHostPort(address)
	ip := net.ParseIP(h)
	return network == "tcp" && (h == "localhost" || (ip != nil && ip.IsLoopback()))
}

// Ping checks that the engine answers and negotiates the API version. Its
// error names the host.
func (c *Client) Ping(ctx context.Context) error {
	if c.tunnel != nil {
		// The SSH connection first: its errors (a refused host key, a
		// refused client key) are the user's to fix, and are said whole.
		if _, err := c.tunnel.connect(ctx); err != nil {
			return fmt.Errorf("Docker engine at %s: %w", c.host, err)
		}
	}
	ping, err := c.api.Ping(ctx)
	if err != nil {
		return fmt.Errorf("Docker engine at %s does not answer: %s", c.host, c.unreachableCause(err))
	}
	// Negotiate from this answer, so the first real call does not ping again.
	c.api.NegotiateAPIVersionPing(ping)
	return nil
}

// unreachableCause is the short reason behind a failed request: the dial
// error, or the transport error without the request URL (which for a unix
// socket is an unreadable escaped path).
func (c *Client) unreachableCause(err error) string {
	if client.IsErrConnectionFailed(err) {
		if dialErr := c.lastDialErr.Load(); dialErr != nil {
			var opErr *net.OpError
			if errors.As(*dialErr, &opErr) && opErr.Err != nil {
				return opErr.Err.Error()
			}
			return (*dialErr).Error()
		}
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return urlErr.Err.Error()
	}
	return err.Error()
}

// APIVersion is the Engine API version in use (negotiated after Ping).
func (c *Client) APIVersion() string { return c.api.ClientVersion() }

// EngineAPI is the Engine API client underneath, configured with the
// engine's address, TLS and transport, for the one other package that must
// speak to the engine through it: internal/compose, whose library takes a
// client of its own kind. Nobody else uses it.
func (c *Client) EngineAPI() client.APIClient { return c.api }

// Close releases the client's connections.
func (c *Client) Close() error {
	err := c.api.Close()
	c.transport.CloseIdleConnections()
	if c.tunnel != nil {
		err = errors.Join(err, c.tunnel.Close())
	}
	return err
}

// ErrNotFound is returned (wrapped) when an object does not exist.
var ErrNotFound = errors.New("not found")

// notFoundError keeps the engine's message ("No such image: x") while
// matching errors.Is(err, ErrNotFound).
type notFoundError struct{ err error }

func (e notFoundError) Error() string        { return e.err.Error() }
func (e notFoundError) Unwrap() error        { return e.err }
func (e notFoundError) Is(target error) bool { return target == ErrNotFound }

// classify marks engine not-found errors so that callers can test them with
// errors.Is(err, ErrNotFound); other errors pass through unchanged.
func classify(err error) error {
	if err != nil && cerrdefs.IsNotFound(err) {
		return notFoundError{err}
	}
	return err
}
