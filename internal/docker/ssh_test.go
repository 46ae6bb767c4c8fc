package docker

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// The parts of the SSH engine that need no SSH server. ssh_host_test.go
// runs the rest against Debian's sshd on a test host.

func TestParseSSHHost(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		host               string
		user, addr, socket string
	}{
		{"ssh://deploy@example.test", "deploy", "example.test:22", DefaultSSHSocket},
		{"ssh://deploy@example.test:2222", "deploy", "example.test:2222", DefaultSSHSocket},
		{"ssh://deploy@example.test/", "deploy", "example.test:22", DefaultSSHSocket},
		{"ssh://deploy@10.1.2.3:22/run/user/1000/docker.sock", "deploy", "10.1.2.3:22", "/run/user/1000/docker.sock"},
		{"ssh://deploy@[fd00::5]:2200", "deploy", "[fd00::5]:2200", DefaultSSHSocket},
	} {
		got, err := parseSSHHost(c.host)
		if err != nil {
			t.Errorf("%s: %v", c.host, err)
			continue
		}
		if got.user != c.user || got.addr != c.addr || got.socket != c.socket {
			t.Errorf("%s: user %q addr %q socket %q, want %q %q %q", c.host, got.user, got.addr, got.socket, c.user, c.addr, c.socket)
		}
	}
	for _, c := range []struct{ host, want string }{
		{"ssh://example.test", "want ssh://user@host"},
		{"ssh://@example.test", "want ssh://user@host"},
		{"ssh://deploy@", "want ssh://user@host"},
		{"ssh://deploy@example.test:0", "port must be between 1 and 65535"},
		{"ssh://deploy@example.test:99999", "port must be between 1 and 65535"},
		{"ssh://deploy@example.test?x=1", "want ssh://user@host"},
		{"ssh://deploy:hunter2@example.test", "passwords are not supported"},
		{"ssh://deploy:hunter2@exa mple.test", "want ssh://user@host"},
	} {
		_, err := parseSSHHost(c.host)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.host, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error quotes the password: %v", c.host, err)
		}
		if !strings.Contains(err.Error(), "example.test") && !strings.Contains(err.Error(), "exa mple") && c.host != "ssh://deploy@" {
			t.Errorf("%s: the error does not name the host: %v", c.host, err)
		}
	}
	// New refuses the same hosts, and without quoting a password either.
	if _, err := New(Config{Host: "ssh://deploy:hunter2@example.test", SSHPrivateKey: acctest.NewSSHKeyPEM(t)}); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("New with a password: %v", err)
	}
	if _, err := New(Config{Host: "ftp://deploy:hunter2@example.test"}); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("New with another scheme and a password: %v", err)
	}
}

func TestSSHSettingsNeedAnSSHHost(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{Host: "unix:///var/run/docker.sock", SSHHostKey: "ssh-ed25519 AAAA"},
		{Host: "tcp://127.0.0.1:2375", SSHKnownHostsFile: "/etc/ssh/ssh_known_hosts"},
		{Host: "unix:///var/run/docker.sock", SSHPrivateKey: acctest.NewSSHKeyPEM(t)},
	} {
		_, err := New(cfg)
		if err == nil || !strings.Contains(err.Error(), "need an ssh:// host") || strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("New(%s with SSH settings) = %v, want a refusal naming the attributes", cfg.Host, err)
		}
	}
	_, err := New(Config{Host: "ssh://deploy@example.test", SSHPrivateKey: acctest.NewSSHKeyPEM(t), CAPEM: "x"})
	if err == nil {
		t.Error("New accepted TLS material for an ssh:// host")
	}
}

func TestClientKeyErrorsNeverQuoteTheKey(t *testing.T) {
	t.Parallel()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("secret passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	encrypted := string(pem.EncodeToMemory(block))
	_, err = newClientAuth(encrypted)
	if err == nil || !strings.Contains(err.Error(), "encrypted with a passphrase") || !strings.Contains(err.Error(), "ssh-add") {
		t.Errorf("an encrypted key: %v", err)
	}
	garbage := "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END OPENSSH PRIVATE KEY-----\n"
	_, err2 := newClientAuth(garbage)
	for _, e := range []error{err, err2} {
		if e == nil {
			t.Fatal("a bad key was accepted")
		}
		if strings.Contains(e.Error(), "c2VjcmV0") || strings.Contains(e.Error(), "BEGIN") || strings.Contains(e.Error(), "secret") {
			t.Errorf("the error quotes the key: %v", e)
		}
		if !strings.Contains(e.Error(), "ssh_private_key") {
			t.Errorf("the error does not name ssh_private_key: %v", e)
		}
	}
	good, err := newClientAuth(acctest.NewSSHKeyPEM(t))
	if err != nil || good.signer == nil {
		t.Fatalf("a good key: %v", err)
	}
	if d := good.describe(); !strings.Contains(d, "SHA256:") || strings.Contains(d, "PRIVATE") {
		t.Errorf("describe: %s", d)
	}
}

func TestNoClientKeyWithoutAnAgent(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	_, err := New(Config{Host: "ssh://deploy@example.test", SSHHostKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(newPublicKey(t))))})
	if err == nil || !strings.Contains(err.Error(), "set ssh_private_key, or run an SSH agent") || !strings.Contains(err.Error(), "ssh://deploy@example.test") {
		t.Fatalf("no key and no agent: %v", err)
	}
	t.Setenv("SSH_AUTH_SOCK", filepath.Join(t.TempDir(), "agent.sock"))
	if _, err := New(Config{Host: "ssh://deploy@example.test", SSHKnownHostsFile: "/dev/null"}); err != nil {
		t.Fatalf("with an agent socket: %v", err)
	}
}

func TestLoopbackThrough(t *testing.T) {
	t.Parallel()
	if LoopbackThrough(nil) != nil {
		t.Fatal("LoopbackThrough(nil) is not nil: a non-SSH engine must dial directly")
	}
	var sent []string
	viaHost := func(_ context.Context, network, addr string) (net.Conn, error) {
		sent = append(sent, addr)
		return nil, errors.New("through the host")
	}
	dial := LoopbackThrough(viaHost)
	for _, addr := range []string{"127.0.0.1:2019", "127.1.2.3:80", "[::1]:2019", "localhost:81", "LOCALHOST.:81"} {
		if _, err := dial(context.Background(), "tcp", addr); err == nil || err.Error() != "through the host" {
			t.Errorf("%s was not sent through the host: %v", addr, err)
		}
	}
	// Other addresses are dialled directly (a cancelled context: nothing
	// leaves this machine).
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, addr := range []string{"10.1.2.3:2019", "proxy.example.test:81", "[fd00::1]:80"} {
		if _, err := dial(ctx, "tcp", addr); err == nil || err.Error() == "through the host" {
			t.Errorf("%s went through the host: %v", addr, err)
		}
	}
	if len(sent) != 5 {
		t.Errorf("sent through the host: %v", sent)
	}
}

func TestCheckPublishAddress(t *testing.T) {
	t.Parallel()
	key := acctest.NewSSHKeyPEM(t)
	pin := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(newPublicKey(t))))
	for _, c := range []struct {
		host, publish string
		refused       bool
	}{
		{"unix:///var/run/docker.sock", "127.0.0.1", false},
		{"tcp://127.0.0.1:2375", "127.0.0.1", false},
		{"tcp://localhost:2375", "0.0.0.0", false},
		{"tcp://10.1.2.3:2376", "127.0.0.1", true},
		{"tcp://10.1.2.3:2376", "127.0.0.2", true},
		{"tcp://10.1.2.3:2376", "0.0.0.0", true},
		{"tcp://docker.example.test:2376", "::1", true},
		{"tcp://10.1.2.3:2376", "10.1.2.3", false},
		{"ssh://deploy@10.1.2.3", "127.0.0.1", false},
	} {
		cfg := Config{Host: c.host}
		if strings.HasPrefix(c.host, "ssh://") {
			cfg.SSHPrivateKey, cfg.SSHHostKey = key, pin
		}
		client, err := New(cfg)
		if err != nil {
			t.Fatalf("New(%s): %v", c.host, err)
		}
		err = client.CheckPublishAddress(c.publish)
		client.Close()
		switch {
		case c.refused && err == nil:
			t.Errorf("%s with publish_address %s was accepted", c.host, c.publish)
		case !c.refused && err != nil:
			t.Errorf("%s with publish_address %s: %v", c.host, c.publish, err)
		case c.refused:
			for _, want := range []string{`publish_address "` + c.publish + `"`, c.host, "reachable from here", "ssh://user@host"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%s, %s: the error does not say %q: %v", c.host, c.publish, want, err)
				}
			}
		}
	}
}

// newPublicKey makes an ed25519 public key.
func newPublicKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// TestSSHConnectFailuresAreLogged: a host that cannot be reached is
// logged at info per attempt, with the host, and never a key.
func TestSSHConnectFailuresAreLogged(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var logged strings.Builder
	key := acctest.NewSSHKeyPEM(t)
	c, err := New(Config{Host: "ssh://deploy@127.0.0.1:1", SSHPrivateKey: key, SSHHostKey: publicKeyLine(t)},
		WithLog(slog.New(slog.NewTextHandler(lockedWriter{mu: &mu, w: &logged}, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 2 {
		if err := c.Ping(testContext(t)); err == nil {
			t.Fatal("Ping reached a port nothing listens on")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{
		`level=INFO msg="ssh connect failed" host=deploy@127.0.0.1:1 attempt=1 error=`,
		`level=INFO msg="ssh connect failed" host=deploy@127.0.0.1:1 attempt=2 error=`,
	} {
		if !strings.Contains(logged.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, logged.String())
		}
	}
	if strings.Contains(logged.String(), "PRIVATE") || strings.Contains(logged.String(), strings.Split(key, "\n")[1]) {
		t.Errorf("the log holds key material:\n%s", logged.String())
	}
}
