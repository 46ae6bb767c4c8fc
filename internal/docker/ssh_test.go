package docker

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
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
	if _, err := New(Config{Host: "ssh://deploy:hunter2@example.test", SSHPrivateKey: newKeyPEM(t)}); err == nil || strings.Contains(err.Error(), "hunter2") {
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
		{Host: "unix:///var/run/docker.sock", SSHPrivateKey: newKeyPEM(t)},
	} {
		_, err := New(cfg)
		if err == nil || !strings.Contains(err.Error(), "need an ssh:// host") || strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("New(%s with SSH settings) = %v, want a refusal naming the attributes", cfg.Host, err)
		}
	}
	_, err := New(Config{Host: "ssh://deploy@example.test", SSHPrivateKey: newKeyPEM(t), CAPEM: "x"})
	if err == nil {
		t.Error("New accepted TLS material for an ssh:// host")
	}
}

func TestParseHostKey(t *testing.T) {
	t.Parallel()
	pub := newPublicKey(t)
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	for _, in := range []string{line, line + " root@host", "  " + line + "\n", "10.1.2.3 " + line, "[10.1.2.3]:2222,host.test " + line} {
		key, err := ParseHostKey(in)
		if err != nil {
			t.Errorf("ParseHostKey(%q): %v", in, err)
			continue
		}
		if ssh.FingerprintSHA256(key) != ssh.FingerprintSHA256(pub) {
			t.Errorf("ParseHostKey(%q) read another key", in)
		}
	}
	for _, in := range []string{"", "ssh-ed25519", "ssh-ed25519 AAAAnotbase64!!", strings.Repeat("x", 300)} {
		_, err := ParseHostKey(in)
		if err == nil || !strings.Contains(err.Error(), "ssh_host_key must be a public key line") {
			t.Errorf("ParseHostKey(%q) = %v, want a refusal naming ssh_host_key", in, err)
			continue
		}
		if len(err.Error()) > 200 {
			t.Errorf("ParseHostKey's error quotes the whole value: %v", err)
		}
	}
}

// check runs hk's callback as a handshake would, for a host presenting key.
// It returns the host key algorithms asked for, and the check's verdict.
func check(t *testing.T, hk hostKeyCheck, addr string, key ssh.PublicKey) ([]string, error) {
	t.Helper()
	cb, algorithms, err := hk.callback(addr)
	if err != nil {
		t.Fatalf("callback: %v", err)
	}
	return algorithms, cb(addr, tcpAddr(addr), key)
}

func TestPinnedHostKey(t *testing.T) {
	t.Parallel()
	pinned, other := newPublicKey(t), newPublicKey(t)
	hk := hostKeyCheck{pinned: pinned}
	algorithms, err := check(t, hk, "10.1.2.3:22", pinned)
	if err != nil {
		t.Fatalf("the pinned key was refused: %v", err)
	}
	if len(algorithms) != 1 || algorithms[0] != ssh.KeyAlgoED25519 {
		t.Fatalf("algorithms %v, want the pinned key's", algorithms)
	}
	_, err = check(t, hk, "10.1.2.3:22", other)
	var hke *HostKeyError
	if !errors.As(err, &hke) || !hke.Pinned {
		t.Fatalf("another key: %v, want a HostKeyError about the pinned key", err)
	}
	msg := err.Error()
	for _, want := range []string{"10.1.2.3:22", ssh.FingerprintSHA256(other), ssh.FingerprintSHA256(pinned), "does not match ssh_host_key", "ssh-keyscan -p 22 -t ed25519 10.1.2.3"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error does not say %q: %s", want, msg)
		}
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, _ := ssh.NewPublicKey(&rsaKey.PublicKey)
	if algorithms, _ = check(t, hostKeyCheck{pinned: rsaPub}, "10.1.2.3:22", rsaPub); len(algorithms) != 3 || algorithms[0] != ssh.KeyAlgoRSASHA512 {
		t.Errorf("an RSA pin asks for %v, want the SHA-2 signatures first", algorithms)
	}
}

func TestKnownHostsFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	hostKey, otherKey, portKey, hashedKey := newPublicKey(t), newPublicKey(t), newPublicKey(t), newPublicKey(t)
	revokedKey := newPublicKey(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, _ := ssh.NewPublicKey(&rsaKey.PublicKey)
	file := filepath.Join(dir, "known_hosts")
	lines := []string{
		"# a comment",
		knownhosts.Line([]string{"10.1.2.3"}, hostKey),
		knownhosts.Line([]string{"10.1.2.3"}, rsaPub),
		knownhosts.Line([]string{"[10.1.2.3]:2222"}, portKey),
		knownhosts.Line([]string{knownhosts.HashHostname("hashed.test")}, hashedKey),
		"@revoked * " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(revokedKey))),
	}
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hk := hostKeyCheck{knownHostsFile: file}

	// Known keys pass, by address, port and hashed name.
	for _, c := range []struct {
		addr string
		key  ssh.PublicKey
	}{{"10.1.2.3:22", hostKey}, {"10.1.2.3:22", rsaPub}, {"10.1.2.3:2222", portKey}, {"hashed.test:22", hashedKey}} {
		if _, err := check(t, hk, c.addr, c.key); err != nil {
			t.Errorf("%s with its known key: %v", c.addr, err)
		}
	}
	// The host key algorithms asked for are those the file knows.
	algorithms, _ := check(t, hk, "10.1.2.3:22", hostKey)
	if strings.Join(algorithms, ",") != "ssh-ed25519,rsa-sha2-512,rsa-sha2-256,ssh-rsa" {
		t.Errorf("algorithms for a host with an ed25519 and an RSA key: %v", algorithms)
	}
	if algorithms, _ := check(t, hk, "unknown.test:22", hostKey); algorithms != nil {
		t.Errorf("algorithms for an unknown host: %v, want the client's defaults", algorithms)
	}

	// Changed: the file knows other keys for the host.
	_, err = check(t, hk, "10.1.2.3:2222", otherKey)
	msg := errString(err)
	for _, want := range []string{"SSH host key of 10.1.2.3:2222 has changed", ssh.FingerprintSHA256(otherKey),
		ssh.FingerprintSHA256(portKey) + " (line 4)", file, "ssh-keygen -R '[10.1.2.3]:2222' -f " + file, "ssh-keyscan -p 2222 -t ed25519 10.1.2.3"} {
		if !strings.Contains(msg, want) {
			t.Errorf("changed key: the error does not say %q: %s", want, msg)
		}
	}
	// Unknown host.
	_, err = check(t, hk, "10.9.9.9:22", otherKey)
	msg = errString(err)
	for _, want := range []string{"SSH host key of 10.9.9.9:22 is unknown", ssh.FingerprintSHA256(otherKey), file + " has no key for it", "ssh-keyscan -p 22 -t ed25519 10.9.9.9 >> " + file, "ssh_host_key"} {
		if !strings.Contains(msg, want) {
			t.Errorf("unknown host: the error does not say %q: %s", want, msg)
		}
	}
	// Revoked.
	_, err = check(t, hk, "10.9.9.9:22", revokedKey)
	var hke *HostKeyError
	if !errors.As(err, &hke) || !hke.Revoked || !strings.Contains(err.Error(), "revoked") || !strings.Contains(err.Error(), ssh.FingerprintSHA256(revokedKey)) {
		t.Errorf("revoked key: %v", err)
	}
	// No file at all: every host is unknown, and the error says why.
	_, err = check(t, hostKeyCheck{knownHostsFile: filepath.Join(dir, "absent")}, "10.1.2.3:22", hostKey)
	if msg := errString(err); !strings.Contains(msg, "is unknown") || !strings.Contains(msg, filepath.Join(dir, "absent")+" does not exist") {
		t.Errorf("no known_hosts file: %s", msg)
	}
	// A file that does not parse is an error about the file.
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("10.1.2.3 ssh-ed25519 !!!\n"), 0o600)
	if _, _, err := (hostKeyCheck{knownHostsFile: bad}).callback("10.1.2.3:22"); err == nil || !strings.Contains(err.Error(), "ssh_known_hosts_file "+bad) {
		t.Errorf("a broken known_hosts file: %v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
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
	good, err := newClientAuth(newKeyPEM(t))
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
	key := newKeyPEM(t)
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

// newKeyPEM makes an unencrypted ed25519 private key in OpenSSH's format.
func newKeyPEM(t *testing.T) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(block))
}
