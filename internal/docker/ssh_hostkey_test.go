package docker

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

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
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	return algorithms, cb(addr, &net.TCPAddr{IP: net.ParseIP(host), Port: p}, key)
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
