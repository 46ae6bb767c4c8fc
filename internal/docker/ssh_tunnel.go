package docker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// sshKeepAlive is how often an idle connection is checked; a connection
// that does not answer within it is closed, and the next call reconnects.
var sshKeepAlive = 15 * time.Second

// sshHandshakeTimeout bounds connecting and the SSH handshake.
const sshHandshakeTimeout = 20 * time.Second

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
