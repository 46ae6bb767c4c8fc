package docker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// An ssh:// engine is reached through one SSH connection per provider
// process, opened with golang.org/x/crypto/ssh (no ssh binary, no
// ~/.ssh/config). Everything that targets the Docker host travels through
// it, each as a channel of its own:
//
//   - Engine API calls: a direct-streamlocal channel (OpenSSH's
//     direct-streamlocal@openssh.com) to the engine's unix socket on the
//     host, /var/run/docker.sock unless the URL's path names another. The
//     server must allow it (AllowStreamLocalForwarding, on by default) and
//     the user must be allowed to use the socket (the docker group).
//   - TCP connections to addresses as the host sees them (HostDialer): a
//     direct-tcpip channel, which the host's sshd dials. The health gate
//     probes a container's published port this way, and a proxy admin API
//     on the host's loopback is reached this way (LoopbackThrough).
//
// The host key is checked against the known_hosts file, or against the one
// pinned key; an unknown or changed key is refused (HostKeyError). A
// connection that drops is forgotten, and the next call connects again;
// what was in flight on it fails, and the caller's usual cleanup runs.

// DefaultSSHSocket is the engine's socket on an ssh:// host whose URL has
// no path.
const DefaultSSHSocket = "/var/run/docker.sock"

// sshKeepAlive is how often an idle connection is checked; a connection
// that does not answer within it is closed, and the next call reconnects.
var sshKeepAlive = 15 * time.Second

// sshHandshakeTimeout bounds connecting and the SSH handshake.
const sshHandshakeTimeout = 20 * time.Second

// sshTarget is what an ssh:// docker host names.
type sshTarget struct {
	user   string
	addr   string // host:port
	socket string // the engine's socket on the host
}

// String is "user@host:port", for messages.
func (t sshTarget) String() string { return t.user + "@" + t.addr }

// parseSSHHost reads ssh://user@host[:port][/path/to/docker.sock].
func parseSSHHost(host string) (sshTarget, error) {
	u, err := url.Parse(host)
	if err != nil {
		// url's error quotes the input, which may hold a password.
		return sshTarget{}, fmt.Errorf("docker host %q: want ssh://user@host[:port][/path/to/docker.sock]", redactHost(host))
	}
	want := fmt.Errorf("docker host %q: want ssh://user@host[:port][/path/to/docker.sock]", u.Redacted())
	if u.User == nil || u.User.Username() == "" || u.Hostname() == "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return sshTarget{}, want
	}
	if _, ok := u.User.Password(); ok {
		return sshTarget{}, fmt.Errorf("docker host %q: SSH passwords are not supported: authenticate with a key (ssh_private_key, or the SSH agent)", u.Redacted())
	}
	port := u.Port()
	if port == "" {
		port = "22"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return sshTarget{}, fmt.Errorf("docker host %q: the SSH port must be between 1 and 65535 (got %q)", u.Redacted(), port)
	}
	socket := u.Path
	if socket == "" || socket == "/" {
		socket = DefaultSSHSocket
	}
	return sshTarget{user: u.User.Username(), addr: net.JoinHostPort(u.Hostname(), port), socket: socket}, nil
}

// redactHost hides a password in a host that does not parse as a URL.
func redactHost(host string) string {
	scheme, rest, ok := strings.Cut(host, "://")
	if !ok {
		return host
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if user, _, hasPassword := strings.Cut(rest[:at], ":"); hasPassword {
			return scheme + "://" + user + ":xxxxx" + rest[at:]
		}
	}
	return host
}

// HostKeyError is a host key the provider refuses: unknown to the
// known_hosts file, different from what the file or the pinned key says,
// or revoked. Its message names the host and the key's fingerprint, and
// says how to fix it.
type HostKeyError struct {
	// Host is the "host:port" dialled.
	Host string
	// Fingerprint is the SHA256 fingerprint of the key the host presented,
	// "SHA256:..."; KeyType its type ("ssh-ed25519").
	Fingerprint, KeyType string
	// Pinned says the key was checked against ssh_host_key, else against
	// KnownHostsFile.
	Pinned         bool
	KnownHostsFile string
	// Expected are the fingerprints the host should have presented, with
	// where each is recorded; empty for an unknown host.
	Expected []string
	// Revoked says the key is marked @revoked in the known_hosts file.
	Revoked bool
	// NoFile says the known_hosts file does not exist.
	NoFile bool
}

func (e *HostKeyError) Error() string {
	host, port, _ := net.SplitHostPort(e.Host)
	keyscan := fmt.Sprintf("ssh-keyscan -p %s -t %s %s", port, strings.TrimPrefix(e.KeyType, "ssh-"), host)
	presented := fmt.Sprintf("the host presented the %s key %s", e.KeyType, e.Fingerprint)
	switch {
	case e.Revoked:
		return fmt.Sprintf("SSH host key of %s is revoked: %s, which %s marks @revoked. Refusing to connect.",
			e.Host, presented, e.KnownHostsFile)
	case e.Pinned:
		return fmt.Sprintf("SSH host key of %s does not match ssh_host_key: %s, ssh_host_key is %s. "+
			"Someone may be intercepting the connection, or the host's key was replaced: check the fingerprint "+
			"with the host's administrator (ssh-keygen -lf on the host's key), and if the change is expected, set "+
			"ssh_host_key to the new key (%s prints it).",
			e.Host, presented, strings.Join(e.Expected, ", "), keyscan)
	case len(e.Expected) > 0:
		knownName := knownhosts.Normalize(e.Host)
		return fmt.Sprintf("SSH host key of %s has changed: %s, but %s holds %s for it. "+
			"Someone may be intercepting the connection, or the host's key was replaced: check the fingerprint "+
			"with the host's administrator (ssh-keygen -lf on the host's key), and if the change is expected, "+
			"remove the old key (ssh-keygen -R '%s' -f %s) and add the new one (%s >> %s), or set ssh_host_key.",
			e.Host, presented, e.KnownHostsFile, strings.Join(e.Expected, ", "), knownName, e.KnownHostsFile, keyscan, e.KnownHostsFile)
	default:
		where := e.KnownHostsFile + " has no key for it"
		if e.NoFile {
			where = "the known_hosts file " + e.KnownHostsFile + " does not exist"
		}
		return fmt.Sprintf("SSH host key of %s is unknown: %s, and %s. "+
			"Check the fingerprint with the host's administrator (ssh-keygen -lf on the host's key), then add "+
			"the key to the known_hosts file (%s >> %s), point ssh_known_hosts_file at a file that has it, or "+
			"set ssh_host_key to it.",
			e.Host, presented, where, keyscan, e.KnownHostsFile)
	}
}

// ParseHostKey reads a pinned host key: a public key line as ssh-keyscan
// or a .pub file prints it ("ssh-ed25519 AAAA... [comment]"), optionally
// preceded by host names as in a known_hosts line.
func ParseHostKey(line string) (ssh.PublicKey, error) {
	line = strings.TrimSpace(line)
	if key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line)); err == nil {
		return key, nil
	}
	if _, _, key, _, _, err := ssh.ParseKnownHosts([]byte(line)); err == nil {
		return key, nil
	}
	return nil, fmt.Errorf("ssh_host_key must be a public key line such as \"ssh-ed25519 AAAA...\" (as ssh-keyscan or a .pub file prints it); got %q", clipKey(line))
}

// CheckHostKey is ParseHostKey as a rule: the provider validates
// ssh_host_key with it at plan time.
func CheckHostKey(line string) error {
	_, err := ParseHostKey(line)
	return err
}

// CheckSSHPrivateKey checks that key is an unencrypted private key that
// the client can use; the error never quotes the key. The provider
// validates ssh_private_key with it at plan time.
func CheckSSHPrivateKey(key string) error {
	if strings.TrimSpace(key) == "" {
		return errors.New("ssh_private_key must not be empty: leave it unset to use the SSH agent")
	}
	_, err := newClientAuth(key)
	return err
}

// clipKey shortens a key line for a message: the type and the start.
func clipKey(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// hostKeyCheck checks the host's key: against the pinned key when there
// is one, else against the known_hosts file.
type hostKeyCheck struct {
	pinned         ssh.PublicKey
	knownHostsFile string
}

// callback returns the HostKeyCallback of one connection attempt to addr,
// and the host key algorithms to ask for: those of the keys known for the
// host, so that a host with several keys presents one we can check (as
// OpenSSH's client does); none for an unknown host.
func (h hostKeyCheck) callback(addr string) (ssh.HostKeyCallback, []string, error) {
	if h.pinned != nil {
		want := h.pinned
		cb := func(_ string, _ net.Addr, key ssh.PublicKey) error {
			if string(key.Marshal()) == string(want.Marshal()) {
				return nil
			}
			return &HostKeyError{Host: addr, Fingerprint: ssh.FingerprintSHA256(key), KeyType: key.Type(),
				Pinned: true, Expected: []string{ssh.FingerprintSHA256(want)}}
		}
		return cb, algorithmsFor(want.Type()), nil
	}
	check, err := knownhosts.New(h.knownHostsFile)
	noFile := false
	if errors.Is(err, os.ErrNotExist) {
		noFile, err = true, nil
		check = func(string, net.Addr, ssh.PublicKey) error { return &knownhosts.KeyError{} }
	}
	if err != nil {
		return nil, nil, fmt.Errorf("ssh_known_hosts_file %s: %w", h.knownHostsFile, err)
	}
	// What the file knows of the host: ask it about a key it cannot hold.
	var algorithms []string
	var ke *knownhosts.KeyError
	if err := check(addr, tcpAddr(addr), probeKey{}); errors.As(err, &ke) {
		for _, k := range ke.Want {
			for _, a := range algorithmsFor(k.Key.Type()) {
				if !contains(algorithms, a) {
					algorithms = append(algorithms, a)
				}
			}
		}
	}
	cb := func(hostname string, r net.Addr, key ssh.PublicKey) error {
		err := check(hostname, r, key)
		if err == nil {
			return nil
		}
		e := &HostKeyError{Host: addr, Fingerprint: ssh.FingerprintSHA256(key), KeyType: key.Type(),
			KnownHostsFile: h.knownHostsFile, NoFile: noFile}
		var revoked *knownhosts.RevokedError
		var keyErr *knownhosts.KeyError
		switch {
		case errors.As(err, &revoked):
			e.Revoked = true
		case errors.As(err, &keyErr):
			for _, k := range keyErr.Want {
				e.Expected = append(e.Expected, fmt.Sprintf("%s (line %d)", ssh.FingerprintSHA256(k.Key), k.Line))
			}
		default:
			return fmt.Errorf("check the host key of %s against %s: %w", addr, h.knownHostsFile, err)
		}
		return e
	}
	return cb, algorithms, nil
}

// algorithmsFor are the host key algorithms that present a key of
// keyType: an RSA key signs with SHA-2 (OpenSSH refuses SHA-1 now).
func algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// tcpAddr is addr as a net.Addr, for the known_hosts check (which looks at
// the host name given, and falls back to this address).
func tcpAddr(addr string) net.Addr {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	return &net.TCPAddr{IP: net.ParseIP(host), Port: p}
}

// probeKey is a public key no known_hosts file holds: checking it lists
// the keys the file knows for a host.
type probeKey struct{}

func (probeKey) Type() string                        { return "tinyforge-probe" }
func (probeKey) Marshal() []byte                     { return []byte("tinyforge-probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("probe key") }

// clientAuth is how the provider authenticates: a private key, or the
// agent at $SSH_AUTH_SOCK.
type clientAuth struct {
	signer    ssh.Signer // from ssh_private_key
	agentSock string     // else the agent's socket
}

// newClientAuth reads the private key (never quoting it) or takes the
// agent.
func newClientAuth(privateKey string) (clientAuth, error) {
	if strings.TrimSpace(privateKey) != "" {
		signer, err := ssh.ParsePrivateKey([]byte(privateKey))
		var missing *ssh.PassphraseMissingError
		switch {
		case errors.As(err, &missing):
			return clientAuth{}, errors.New("ssh_private_key is encrypted with a passphrase, which the provider cannot ask for: " +
				"load the key into an SSH agent (ssh-add) and leave ssh_private_key unset, or give an unencrypted key")
		case err != nil:
			// x/crypto's parse errors describe the format, never the key.
			return clientAuth{}, fmt.Errorf("ssh_private_key does not parse as an OpenSSH or PEM private key: %w", err)
		}
		return clientAuth{signer: signer}, nil
	}
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return clientAuth{}, errors.New("no SSH client key: set ssh_private_key, or run an SSH agent holding the key ($SSH_AUTH_SOCK is not set)")
	}
	return clientAuth{agentSock: sock}, nil
}

// methods returns the auth methods of one connection attempt, and what to
// close after the handshake (the agent connection).
func (a clientAuth) methods() ([]ssh.AuthMethod, func(), error) {
	if a.signer != nil {
		return []ssh.AuthMethod{ssh.PublicKeys(a.signer)}, func() {}, nil
	}
	conn, err := net.DialTimeout("unix", a.agentSock, 5*time.Second)
	if err != nil {
		return nil, nil, fmt.Errorf("SSH agent at $SSH_AUTH_SOCK (%s): %w", a.agentSock, err)
	}
	return []ssh.AuthMethod{ssh.PublicKeysCallback(agent.NewClient(conn).Signers)}, func() { conn.Close() }, nil
}

// describe says which key was offered, for an authentication error.
func (a clientAuth) describe() string {
	if a.signer != nil {
		return fmt.Sprintf("the key of ssh_private_key (%s %s)", a.signer.PublicKey().Type(), ssh.FingerprintSHA256(a.signer.PublicKey()))
	}
	return "the keys of the SSH agent at $SSH_AUTH_SOCK"
}

// sshTunnel is the one SSH connection to an ssh:// engine's host.
type sshTunnel struct {
	target  sshTarget
	hostKey hostKeyCheck
	auth    clientAuth
	// onDrop runs when a connection is forgotten: the engine client closes
	// its idle HTTP connections, which were channels of it.
	onDrop func()

	connecting chan struct{} // a one-slot lock: one connect at a time
	mu         sync.Mutex
	client     *ssh.Client
	closed     bool
}

// newSSHTunnel checks cfg's SSH settings; it does not connect.
func newSSHTunnel(target sshTarget, cfg Config) (*sshTunnel, error) {
	t := &sshTunnel{target: target, connecting: make(chan struct{}, 1)}
	switch {
	case strings.TrimSpace(cfg.SSHHostKey) != "":
		key, err := ParseHostKey(cfg.SSHHostKey)
		if err != nil {
			return nil, err
		}
		t.hostKey.pinned = key
	default:
		file := cfg.SSHKnownHostsFile
		if file == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return nil, fmt.Errorf("ssh_known_hosts_file: no home directory to find ~/.ssh/known_hosts in (%w): set ssh_known_hosts_file or ssh_host_key", err)
			}
			file = filepath.Join(home, ".ssh", "known_hosts")
		}
		t.hostKey.knownHostsFile = file
	}
	auth, err := newClientAuth(cfg.SSHPrivateKey)
	if err != nil {
		return nil, err
	}
	t.auth = auth
	return t, nil
}

// connect returns the live connection, opening one when there is none.
func (t *sshTunnel) connect(ctx context.Context) (*ssh.Client, error) {
	if c := t.current(); c != nil {
		return c, nil
	}
	select {
	case t.connecting <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-t.connecting }()
	if c := t.current(); c != nil { // another caller connected meanwhile
		return c, nil
	}
	c, err := t.dial(ctx)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		c.Close()
		return nil, fmt.Errorf("ssh %s: the client is closed", t.target)
	}
	t.client = c
	t.mu.Unlock()
	go t.watch(c)
	return c, nil
}

func (t *sshTunnel) current() *ssh.Client {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.client
}

// dial opens a new connection: TCP, then the SSH handshake with the host
// key checked, then authentication.
func (t *sshTunnel) dial(ctx context.Context) (*ssh.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, sshHandshakeTimeout)
	defer cancel()
	d := net.Dialer{KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", t.target.addr)
	if err != nil {
		return nil, fmt.Errorf("ssh %s: %w", t.target, err)
	}
	// The handshake has no context: a deadline bounds it, and ctx ending
	// cuts it short.
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	hostKeyCallback, algorithms, err := t.hostKey.callback(t.target.addr)
	if err != nil {
		conn.Close()
		return nil, err
	}
	methods, release, err := t.auth.methods()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("ssh %s: %w", t.target, err)
	}
	defer release()
	sc, chans, reqs, err := ssh.NewClientConn(conn, t.target.addr, &ssh.ClientConfig{
		User:              t.target.user,
		Auth:              methods,
		HostKeyCallback:   hostKeyCallback,
		HostKeyAlgorithms: algorithms,
	})
	if err != nil {
		conn.Close()
		var hk *HostKeyError
		if errors.As(err, &hk) {
			return nil, hk
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, fmt.Errorf("ssh %s: the host refused %s: authorize it for user %s on the host (~%s/.ssh/authorized_keys)",
				t.target, t.auth.describe(), t.target.user, t.target.user)
		}
		if ctx.Err() != nil && !errors.Is(err, context.Canceled) {
			return nil, fmt.Errorf("ssh %s: no SSH handshake within %s: %w", t.target, sshHandshakeTimeout, err)
		}
		return nil, fmt.Errorf("ssh %s: %w", t.target, err)
	}
	conn.SetDeadline(time.Time{})
	return ssh.NewClient(sc, chans, reqs), nil
}

// watch forgets c when it ends, and checks it while it lives: a connection
// whose peer stops answering (a host that went away without a word) is
// closed after sshKeepAlive, so that the next call reconnects instead of
// hanging.
func (t *sshTunnel) watch(c *ssh.Client) {
	ended := make(chan struct{})
	go func() {
		c.Wait()
		close(ended)
	}()
	tick := time.NewTicker(sshKeepAlive)
	defer tick.Stop()
	for {
		select {
		case <-ended:
			t.forget(c)
			return
		case <-tick.C:
			answered := make(chan struct{})
			go func() {
				c.SendRequest("keepalive@openssh.com", true, nil)
				close(answered)
			}()
			select {
			case <-answered:
			case <-ended:
			case <-time.After(sshKeepAlive):
				c.Close()
			}
		}
	}
}

// forget drops c if it is the current connection.
func (t *sshTunnel) forget(c *ssh.Client) {
	t.mu.Lock()
	current := t.client == c
	if current {
		t.client = nil
	}
	t.mu.Unlock()
	c.Close()
	if current && t.onDrop != nil {
		t.onDrop()
	}
}

// DialContext opens a channel from the host: network "unix" to a socket
// on it, "tcp" to an address as it sees it. A connection that turns out to
// be dead is replaced once; a channel the host refuses (nothing listens
// there) is an error at once.
func (t *sshTunnel) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	for attempt := 1; ; attempt++ {
		c, err := t.connect(ctx)
		if err != nil {
			return nil, err
		}
		conn, err := c.DialContext(ctx, network, addr)
		if err == nil {
			return conn, nil
		}
		var refused *ssh.OpenChannelError
		if errors.As(err, &refused) {
			what := "the address " + addr
			if network == "unix" {
				what = fmt.Sprintf("the socket %s (does it exist, and may %s use it?)", addr, t.target.user)
			}
			return nil, fmt.Errorf("ssh %s: the host could not connect to %s: %s", t.target, what, refused.Message)
		}
		if ctx.Err() != nil || attempt == 2 {
			return nil, fmt.Errorf("ssh %s: open a channel to %s: %w", t.target, addr, err)
		}
		// The connection is gone (sshd restarted, the network dropped it):
		// connect again.
		t.forget(c)
	}
}

// Close closes the connection; later calls fail.
func (t *sshTunnel) Close() error {
	t.mu.Lock()
	c := t.client
	t.client = nil
	t.closed = true
	t.mu.Unlock()
	if c != nil {
		return c.Close()
	}
	return nil
}
