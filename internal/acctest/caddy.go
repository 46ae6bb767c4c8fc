package acctest

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// CaddyBinary is the real Caddy the tests run (Debian's package).
const CaddyBinary = "/usr/bin/caddy"

// Caddy is a real Caddy process started for a test, with its admin API on a
// free 127.0.0.1 port and nothing else configured unless the test asked.
// Its HOME and XDG directories are a temp dir, so it never writes to the
// real home, and config persistence (autosave) is off.
type Caddy struct {
	// AdminURL is the admin API, "http://127.0.0.1:<port>".
	AdminURL string
	// HTTPPort is a free 127.0.0.1 port reserved for the provider's
	// server: pass Listen = []string{"127.0.0.1:<HTTPPort>"}.
	HTTPPort int
	// HTTPURL is "http://127.0.0.1:<HTTPPort>".
	HTTPURL string
	// HTTPSPort is a second free 127.0.0.1 port, for a server that serves
	// HTTPS: a config names it "{{https_port}}".
	HTTPSPort int

	cmd        *exec.Cmd
	dir        string
	ownsDir    bool
	configPath string
	logPath    string
	exited     chan struct{}
	release    []func()     // of the reserved admin, HTTP and HTTPS ports
	admin      *http.Client // reaches AdminURL; nil is caddyClient
	netns      string       // /run/netns/<host>; "" for this machine
}

// caddyPlacement says where a Caddy runs: on this machine (the zero value,
// on reserved 127.0.0.1 ports) or inside a test host's namespace.
type caddyPlacement struct {
	netns     string       // /run/netns/<host>; "" for this machine
	adminAddr string       // "" reserves a 127.0.0.1 port
	httpHost  string       // the address of HTTPURL; "" is 127.0.0.1
	httpPort  int          // 0 reserves a 127.0.0.1 port
	admin     *http.Client // reaches adminAddr; nil is caddyClient
	// persist keeps Caddy's autosave.json of every change, which `caddy
	// run --resume` loads (Restart).
	persist bool
}

// StartCaddy starts a Caddy with an empty config (admin API only) and
// stops it when the test ends.
func StartCaddy(t testing.TB) *Caddy {
	t.Helper()
	return StartCaddyWithConfig(t, "")
}

// StartCaddyWithConfig starts a Caddy with a user's pre-existing config
// (JSON; "" for none), so a test can prove the provider leaves it alone.
// The fixture sets the config's "admin" key and replaces every
// "{{http_port}}" with HTTPPort; everything else is kept as given. Caddy is stopped when the test ends, also when it fails.
func StartCaddyWithConfig(t testing.TB, config string) *Caddy {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := startCaddy(ctx, t.TempDir(), false, config, caddyPlacement{})
	if err != nil {
		t.Fatalf("start caddy: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

// StartPersistentCaddy is StartCaddyWithConfig with Caddy's autosave on, as
// Debian's caddy-api.service runs it: every change the admin API makes is
// saved, and Restart can resume it.
func StartPersistentCaddy(t testing.TB, config string) *Caddy {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := startCaddy(ctx, t.TempDir(), false, config, caddyPlacement{persist: true})
	if err != nil {
		t.Fatalf("start caddy: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

// Restart kills Caddy and starts it again on the same ports and data
// directory (so the certificates it holds in storage stay): with resume,
// as `caddy run --resume` (the last autosaved config); without, with the
// config it first started with, as a Caddy that forgot every change.
func (c *Caddy) Restart(t testing.TB, resume bool) {
	t.Helper()
	c.kill()
	args := []string{"run", "--config", c.configPath}
	if resume {
		args = append(args, "--resume")
	}
	if err := c.start(args); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.waitReady(ctx); err != nil {
		t.Fatalf("%v\ncaddy log:\n%s", err, c.Log())
	}
}

// StartCaddyProcess starts a Caddy with an empty config outside a test (a
// benchmark driver, a manual run); the caller must call Stop.
func StartCaddyProcess(ctx context.Context) (*Caddy, error) {
	return StartCaddyProcessWithConfig(ctx, "")
}

// StartCaddyProcessWithConfig is StartCaddyProcess with a config, as
// StartCaddyWithConfig takes it (HTTPSConfig, say).
func StartCaddyProcessWithConfig(ctx context.Context, config string) (*Caddy, error) {
	dir, err := os.MkdirTemp("", "tinyforge-caddy-")
	if err != nil {
		return nil, fmt.Errorf("start caddy: %w", err)
	}
	c, err := startCaddy(ctx, dir, true, config, caddyPlacement{})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

func startCaddy(ctx context.Context, dir string, ownsDir bool, userConfig string, at caddyPlacement) (c *Caddy, err error) {
	var release []func()
	defer func() {
		if err != nil {
			for _, r := range release {
				r()
			}
		}
	}()
	adminAddr := at.adminAddr
	if adminAddr == "" {
		adminPort, releaseAdmin, err := reservePort()
		if err != nil {
			return nil, err
		}
		release = append(release, releaseAdmin)
		adminAddr = "127.0.0.1:" + strconv.Itoa(adminPort)
	}
	httpPort := at.httpPort
	if httpPort == 0 {
		port, releaseHTTP, err := reservePort()
		if err != nil {
			return nil, err
		}
		release = append(release, releaseHTTP)
		httpPort = port
	}
	httpHost := cmp.Or(at.httpHost, "127.0.0.1")
	httpsPort, releaseHTTPS, err := reservePort()
	if err != nil {
		return nil, err
	}
	release = append(release, releaseHTTPS)

	cfg := map[string]any{}
	if strings.TrimSpace(userConfig) != "" {
		userConfig = strings.ReplaceAll(userConfig, "{{http_port}}", strconv.Itoa(httpPort))
		userConfig = strings.ReplaceAll(userConfig, "{{https_port}}", strconv.Itoa(httpsPort))
		if err := json.Unmarshal([]byte(userConfig), &cfg); err != nil {
			return nil, fmt.Errorf("caddy config is not a JSON object: %w", err)
		}
	}
	cfg["admin"] = map[string]any{
		"listen": adminAddr,
		// Without this Caddy autosaves every change to
		// $XDG_CONFIG_HOME/caddy/autosave.json.
		"config": map[string]any{"persist": at.persist},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode caddy config: %w", err)
	}
	configPath := filepath.Join(dir, "caddy.json")
	if err := os.WriteFile(configPath, b, 0o600); err != nil {
		return nil, fmt.Errorf("write caddy config: %w", err)
	}
	c = &Caddy{
		release:    release,
		AdminURL:   "http://" + adminAddr,
		HTTPPort:   httpPort,
		HTTPURL:    "http://" + net.JoinHostPort(httpHost, strconv.Itoa(httpPort)),
		HTTPSPort:  httpsPort,
		admin:      at.admin,
		dir:        dir,
		ownsDir:    ownsDir,
		configPath: configPath,
		logPath:    filepath.Join(dir, "caddy.log"),
		netns:      at.netns,
	}
	if err := c.start([]string{"run", "--config", configPath}); err != nil {
		return nil, err
	}

	if err := c.waitReady(ctx); err != nil {
		c.Stop()
		return nil, fmt.Errorf("%w\ncaddy log:\n%s", err, c.Log())
	}
	return c, nil
}

// start starts the Caddy binary with args, in c's namespace and
// directory, appending to its log.
func (c *Caddy) start(args []string) error {
	logFile, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open caddy log: %w", err)
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd := exec.Command(CaddyBinary, args...)
	if c.netns != "" {
		cmd = exec.Command("nsenter", append([]string{"--net=" + c.netns, CaddyBinary}, args...)...)
	}
	cmd.Dir = c.dir
	cmd.Env = []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + c.dir,
		"XDG_CONFIG_HOME=" + filepath.Join(c.dir, "config"),
		"XDG_DATA_HOME=" + filepath.Join(c.dir, "data"),
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", CaddyBinary, err)
	}
	c.cmd = cmd
	c.exited = make(chan struct{})
	exited := c.exited
	go func() { _ = cmd.Wait(); close(exited) }()
	return nil
}

// kill kills the running Caddy by its PID and waits for it to exit.
func (c *Caddy) kill() {
	select {
	case <-c.exited:
	default:
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// waitReady polls the admin API until it answers GET /config/.
func (c *Caddy) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second}
	if c.admin != nil {
		client = c.admin
	}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.AdminURL+"/config/", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-c.exited:
			return fmt.Errorf("caddy exited before its admin API answered (%s)", c.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("caddy admin API %s did not answer: %w", c.AdminURL, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop kills Caddy by its PID, waits for it to exit and, for a process
// started outside a test, removes its temp dir. Calling it twice is fine.
func (c *Caddy) Stop() {
	c.kill()
	if c.ownsDir {
		os.RemoveAll(c.dir)
	}
	for _, r := range c.release {
		r()
	}
	c.release = nil
}

// Log returns what Caddy wrote to stdout and stderr so far, for failure
// messages.
func (c *Caddy) Log() string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return fmt.Sprintf("(read caddy log: %v)", err)
	}
	return string(b)
}

// Dir is Caddy's HOME, holding its XDG config and data directories.
func (c *Caddy) Dir() string { return c.dir }

// caddyClient sends test traffic through Caddy; it does not follow
// redirects, so an unwanted HTTPS redirect shows as a 3xx. Every request
// opens a new connection: after a config change Caddy stops its old servers
// in the background, and a kept-alive connection may still be answered by
// the old config for a moment.
var caddyClient = &http.Client{
	Transport: &http.Transport{DisableKeepAlives: true},
	Timeout:   5 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// Get sends GET <path> through Caddy's HTTPPort with the given Host header
// and returns the status and body; the test fails when no answer comes.
func (c *Caddy) Get(t testing.TB, host, path string) (status int, body string) {
	t.Helper()
	status, body, err := c.GetE(host, path)
	if err != nil {
		t.Fatalf("%v\ncaddy log:\n%s", err, c.Log())
	}
	return status, body
}

// GetE is Get returning the transport error instead of failing the test,
// for polling.
func (c *Caddy) GetE(host, path string) (status int, body string, err error) {
	req, err := http.NewRequest(http.MethodGet, c.HTTPURL+path, nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	resp, err := caddyClient.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("GET %s (Host %s) through caddy: %w", path, host, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", fmt.Errorf("GET %s (Host %s) through caddy: read body: %w", path, host, err)
	}
	return resp.StatusCode, string(b), nil
}

// adminClient reaches the admin API: from inside the test host for a
// Caddy there.
func (c *Caddy) adminClient() *http.Client {
	if c.admin != nil {
		return c.admin
	}
	return caddyClient
}

// AdminGet reads a path of the admin API (e.g. "/config/apps/http") and
// returns its body; the test fails on anything but 200.
func (c *Caddy) AdminGet(t testing.TB, path string) string {
	t.Helper()
	// Caddy restarts its admin server after every config change and drops
	// the connections it holds: a read right after a change may meet that,
	// and is simply sent again.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 50 * time.Millisecond)
		}
		resp, err := c.adminClient().Get(c.AdminURL + path)
		if err != nil {
			lastErr = err
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			lastErr = err
			continue
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("caddy admin GET %s: HTTP %d: %s", path, resp.StatusCode, b)
		}
		return strings.TrimSpace(string(b))
	}
	t.Fatalf("caddy admin GET %s: %v", path, lastErr)
	return ""
}

// HTTPSConfig is the config of a Caddy whose provider's server serves
// HTTPS on HTTPSPort: Caddy serves TLS on every port but its http_port,
// so that is HTTPPort; and its local CA (issuer "internal") never tries to
// install its root into this machine's trust store.
const HTTPSConfig = `{"apps": {
	"http": {"http_port": {{http_port}}, "https_port": {{https_port}}},
	"pki": {"certificate_authorities": {"local": {"install_trust": false}}}
}}`

// HTTPSListen is the listen attribute of a provider's server on c with
// HTTPS: the HTTP address, then the HTTPS one.
func (c *Caddy) HTTPSListen() []string {
	return []string{"127.0.0.1:" + strconv.Itoa(c.HTTPPort), "127.0.0.1:" + strconv.Itoa(c.HTTPSPort)}
}

// HTTPSClient sends requests for any https://<domain>/ URL to Caddy's
// HTTPSPort, with <domain> as the TLS server name and Host, trusting only
// roots (a test CA's, Pebble's, Caddy's local CA's): never skipping
// verification. Like caddyClient it opens a connection per request and
// does not follow redirects.
func (c *Caddy) HTTPSClient(roots *x509.CertPool) *http.Client {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.HTTPSPort))
	return &http.Client{
		Transport: &http.Transport{
			Proxy:             nil,
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
			TLSClientConfig: &tls.Config{RootCAs: roots},
		},
		Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// ServedCertificate does one TLS handshake with Caddy's HTTPSPort for
// serverName, verified against roots, and returns the leaf Caddy served.
func (c *Caddy) ServedCertificate(serverName string, roots *x509.CertPool) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.HTTPSPort)),
		&tls.Config{ServerName: serverName, RootCAs: roots})
	if err != nil {
		return nil, fmt.Errorf("TLS handshake with caddy for %s: %w", serverName, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// LocalCARoots is a pool of Caddy's local CA root (issuer "internal"),
// from its admin API.
func (c *Caddy) LocalCARoots(t testing.TB) *x509.CertPool {
	t.Helper()
	pool, err := c.LocalCARootsE()
	if err != nil {
		t.Fatal(err)
	}
	return pool
}

// LocalCARootsE is LocalCARoots returning the error, outside a test.
func (c *Caddy) LocalCARootsE() (*x509.CertPool, error) {
	resp, err := c.adminClient().Get(c.AdminURL + "/pki/ca/local")
	if err != nil {
		return nil, fmt.Errorf("read Caddy's local CA: %w", err)
	}
	defer resp.Body.Close()
	var ca struct {
		Root string `json:"root_certificate"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ca); err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read Caddy's local CA: HTTP %d, %v", resp.StatusCode, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(ca.Root)) {
		return nil, fmt.Errorf("Caddy's /pki/ca/local has no root certificate")
	}
	return pool, nil
}
