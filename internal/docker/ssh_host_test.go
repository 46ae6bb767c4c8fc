package docker

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// The SSH engine against Debian's sshd on a test host with its own
// dockerd: the engine is the host's, not this machine's; a container's
// port on the host's loopback is reached through the connection; a
// dropped connection is replaced on the next call, and the log says so
// (host, fingerprint, attempt); unknown, changed and wrong keys are
// refused with what to do; the SSH agent's key works.
func TestSSHEngine(t *testing.T) {
	t.Parallel()
	images := acctest.TestImages(t)
	hs := acctest.StartHosts(t, 1, acctest.HostsOptions{SSH: true, Images: []string{images.V1}})
	h := hs.Hosts[0]
	s := h.SSH
	knownHosts := s.KnownHostsFile(t)

	var logMu sync.Mutex
	var logged strings.Builder
	logs := func() string {
		logMu.Lock()
		defer logMu.Unlock()
		return logged.String()
	}
	log := slog.New(slog.NewTextHandler(lockedWriter{mu: &logMu, w: &logged}, nil))
	c := newSSHClient(t, Config{Host: s.DockerHost(), SSHPrivateKey: s.ClientKey, SSHKnownHostsFile: knownHosts}, WithLog(log))
	ctx := testContext(t)
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping over SSH: %v\nsshd log:\n%s", err, s.Log())
	}
	host := s.User + "@" + s.Addr
	if want := fmt.Sprintf(`level=INFO msg="ssh connected" host=%s fingerprint=%s connection=1 attempt=1`, host, s.HostKeyFingerprint); !strings.Contains(logs(), want) {
		t.Fatalf("the log of the first connection does not say %q:\n%s", want, logs())
	}
	// The host's engine: its ID, not the shared engine's.
	info, err := c.api.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := h.Docker(t, "info", "--format", "{{.ID}}"); info.ID != want {
		t.Fatalf("engine ID %s over SSH, the host's is %s", info.ID, want)
	}

	// A container published on the host's loopback, reached through the
	// connection.
	id, err := c.CreateContainer(ctx, ContainerSpec{
		Name: "ssh-web", Image: images.V1, Port: 8080, PublishAddress: "127.0.0.1",
		Labels: map[string]string{acctest.LabelTestRun: acctest.RunID()},
	})
	if err != nil {
		t.Fatalf("CreateContainer over SSH: %v", err)
	}
	if err := c.StartContainer(ctx, id); err != nil {
		t.Fatalf("StartContainer over SSH: %v", err)
	}
	detail, err := c.InspectContainer(ctx, id)
	if err != nil || len(detail.Ports) == 0 {
		t.Fatalf("InspectContainer: %+v, %v", detail.Ports, err)
	}
	published := fmt.Sprintf("127.0.0.1:%d", detail.Ports[0].HostPort)
	viaHost := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: c.HostDialer(), DisableKeepAlives: true}}
	var body string
	acctest.Eventually(t, 20*time.Second, 100*time.Millisecond, "the container's port on the host's loopback does not answer through SSH", func() bool {
		body, err = getBody(viaHost, "http://"+published+"/")
		return err == nil && body == "v1"
	})
	// Nothing answers there on this machine's loopback: it was the host's.
	if b, err := getBody(&http.Client{Timeout: 2 * time.Second}, "http://"+published+"/"); err == nil && b == "v1" {
		t.Fatalf("this machine's %s answers v1 too: the probe did not go through the host", published)
	}
	// A port nothing listens on is refused by the host, at once.
	if _, err := c.HostDialer()(ctx, "tcp", "127.0.0.1:9"); err == nil || !strings.Contains(err.Error(), "could not connect to the address 127.0.0.1:9") {
		t.Fatalf("a closed port on the host: %v", err)
	}

	// The connection drops: the next call connects again.
	accepted := strings.Count(s.Log(), "Accepted publickey")
	if n := s.DropConnections(t); n == 0 {
		t.Fatal("no SSH connection to drop")
	}
	acctest.Eventually(t, 10*time.Second, 50*time.Millisecond, "the client did not notice the dropped connection", func() bool {
		return c.tunnel.current() == nil
	})
	if _, err := c.ListContainers(ctx, acctest.LabelTestRun); err != nil {
		t.Fatalf("ListContainers after the connection dropped: %v", err)
	}
	if now := strings.Count(s.Log(), "Accepted publickey"); now != accepted+1 {
		t.Fatalf("%d logins after the drop, want %d: one new connection", now, accepted+1)
	}
	// The goroutine that noticed the drop logs it after letting the
	// connection go: the reconnect's line may come first.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs(), "ssh connection dropped") && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{
		fmt.Sprintf(`level=INFO msg="ssh connection dropped; the next call reconnects" host=%s fingerprint=%s connection=1 lived=`, host, s.HostKeyFingerprint),
		fmt.Sprintf(`level=INFO msg="ssh reconnected" host=%s fingerprint=%s connection=2 attempt=1`, host, s.HostKeyFingerprint),
	} {
		if !strings.Contains(logs(), want) {
			t.Fatalf("the log after the drop does not say %q:\n%s", want, logs())
		}
	}
	t.Logf("what the log said of the drop:\n%s", logs())
	// A call in flight when the connection drops fails at once, and
	// cleanly; the next call connects again.
	waitCh, errCh := c.api.ContainerWait(ctx, id, "not-running")
	// Nothing tells when the request has reached the engine: a second
	// covers a loaded machine too (a drop before it would be "the next
	// call", and the wait would then hang on a new connection).
	time.Sleep(time.Second)
	dropped := time.Now()
	s.DropConnections(t)
	select {
	case err := <-errCh:
		t.Logf("a wait in flight when the connection dropped failed after %s: %v", time.Since(dropped).Round(time.Millisecond), err)
	case w := <-waitCh:
		t.Fatalf("the wait in flight ended with %+v, the container still runs", w)
	case <-time.After(10 * time.Second):
		t.Fatal("a call in flight hung after its connection dropped")
	}
	acctest.Eventually(t, 10*time.Second, 50*time.Millisecond, "the client did not notice the second drop", func() bool {
		return c.tunnel.current() == nil
	})
	if err := c.RemoveContainer(ctx, id); err != nil {
		t.Fatalf("RemoveContainer after the drop: %v", err)
	}
	if strings.Contains(logs(), "PRIVATE KEY") || strings.Count(logs(), "ssh reconnected") != 2 {
		t.Fatalf("the log after two drops (want two reconnects, no key material):\n%s", logs())
	}
	if out := h.Docker(t, "ps", "-aq"); out != "" {
		t.Fatalf("containers left on the host: %s", out)
	}

	// The socket path is the URL's; a wrong one says so.
	bad := newSSHClient(t, Config{Host: "ssh://" + s.User + "@" + s.Addr + "/no/such/docker.sock", SSHPrivateKey: s.ClientKey, SSHKnownHostsFile: knownHosts})
	if err := bad.Ping(ctx); err == nil || !strings.Contains(err.Error(), "could not connect to the socket /no/such/docker.sock") {
		t.Fatalf("a wrong socket path: %v", err)
	}

	// Host keys: unknown, changed, pinned right and wrong.
	fingerprint := s.HostKeyFingerprint
	pingErr := func(cfg Config) error {
		cfg.Host = s.DockerHost()
		if cfg.SSHPrivateKey == "" {
			cfg.SSHPrivateKey = s.ClientKey
		}
		return newSSHClient(t, cfg).Ping(ctx)
	}
	err = pingErr(Config{SSHKnownHostsFile: writeFile(t, "empty_known_hosts", "")})
	var hke *HostKeyError
	if !errors.As(err, &hke) || !strings.Contains(err.Error(), "SSH host key of "+s.Addr+" is unknown") || !strings.Contains(err.Error(), fingerprint) {
		t.Fatalf("an unknown host key: %v", err)
	}
	stale := strings.Replace(s.KnownHostsLine(), strings.Fields(s.HostKey)[1], strings.Fields(publicKeyLine(t))[1], 1)
	err = pingErr(Config{SSHKnownHostsFile: writeFile(t, "stale_known_hosts", stale+"\n")})
	if !errors.As(err, &hke) || !strings.Contains(err.Error(), "has changed") || !strings.Contains(err.Error(), fingerprint) {
		t.Fatalf("a changed host key: %v", err)
	}
	if err := pingErr(Config{SSHHostKey: s.HostKey}); err != nil {
		t.Fatalf("the pinned host key: %v", err)
	}
	if err := pingErr(Config{SSHHostKey: publicKeyLine(t)}); !errors.As(err, &hke) || !strings.Contains(err.Error(), "does not match ssh_host_key") {
		t.Fatalf("a wrong pinned key: %v", err)
	}
	// A client key the host does not know.
	other := acctest.NewSSHKeyPEM(t)
	otherSigner, _ := ssh.ParsePrivateKey([]byte(other))
	err = pingErr(Config{SSHHostKey: s.HostKey, SSHPrivateKey: other})
	if err == nil || !strings.Contains(err.Error(), "the host refused the key of ssh_private_key") ||
		!strings.Contains(err.Error(), ssh.FingerprintSHA256(otherSigner.PublicKey())) || strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Fatalf("an unknown client key: %v", err)
	}
}

// TestSSHEngineWithTheAgentsKey: without ssh_private_key, the key comes
// from the SSH agent at $SSH_AUTH_SOCK (OpenSSH's ssh-agent). Not
// parallel: it sets the environment.
func TestSSHEngineWithTheAgentsKey(t *testing.T) {
	hs := acctest.StartHosts(t, 1, acctest.HostsOptions{SSH: true})
	s := hs.Hosts[0].SSH
	sock := filepath.Join(t.TempDir(), "agent.sock")
	agentCmd := exec.Command("ssh-agent", "-D", "-a", sock)
	agentCmd.Stdout, agentCmd.Stderr = io.Discard, io.Discard
	agentCmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := agentCmd.Start(); err != nil {
		t.Fatalf("start ssh-agent: %v", err)
	}
	t.Cleanup(func() { agentCmd.Process.Kill(); agentCmd.Wait() })
	acctest.Eventually(t, 10*time.Second, 50*time.Millisecond, "ssh-agent did not make its socket", func() bool {
		_, err := os.Stat(sock)
		return err == nil
	})
	add := exec.Command("ssh-add", s.ClientKeyFile)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v: %s", err, out)
	}
	t.Setenv("SSH_AUTH_SOCK", sock)
	c := newSSHClient(t, Config{Host: s.DockerHost(), SSHHostKey: s.HostKey})
	if err := c.Ping(testContext(t)); err != nil {
		t.Fatalf("Ping with the agent's key: %v\nsshd log:\n%s", err, s.Log())
	}
	// An agent without the key: refused, saying whose keys were offered.
	empty := exec.Command("ssh-add", "-D")
	empty.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := empty.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add -D: %v: %s", err, out)
	}
	err := newSSHClient(t, Config{Host: s.DockerHost(), SSHHostKey: s.HostKey}).Ping(testContext(t))
	if err == nil || !strings.Contains(err.Error(), "the keys of the SSH agent") {
		t.Fatalf("an agent without the key: %v", err)
	}
}

func newSSHClient(t *testing.T, cfg Config, opts ...Option) *Client {
	t.Helper()
	c, err := New(cfg, opts...)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.Host, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// publicKeyLine is a new key's authorized_keys line.
func publicKeyLine(t *testing.T) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(newPublicKey(t))))
}

func getBody(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}
