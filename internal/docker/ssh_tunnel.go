package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	// log says at info when a connection opens, drops and opens again,
	// with the host, its key's fingerprint and the attempt: an operator
	// sees why a call failed while the provider reconnected.
	log *slog.Logger

	connecting chan struct{} // a one-slot lock: one connect at a time
	mu         sync.Mutex
	client     *ssh.Client
	conn       sshConn // what the log says of client
	closed     bool
	opened     int       // connections opened so far
	failed     int       // connects failed since the last that worked
	dropped    time.Time // when the last connection dropped
}

// sshConn is one connection as the log describes it.
type sshConn struct {
	number      int // 1 for the first of the process, then 2, 3 ...
	fingerprint string
	since       time.Time
	// ctx carries the log sink of the call that opened it, for what the
	// connection's watcher logs later.
	ctx context.Context
}

// newSSHTunnel checks cfg's SSH settings; it does not connect.
func newSSHTunnel(target sshTarget, cfg Config) (*sshTunnel, error) {
	t := &sshTunnel{target: target, connecting: make(chan struct{}, 1), log: slog.New(slog.DiscardHandler)}
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
	started := time.Now()
	c, fingerprint, err := t.dial(ctx)
	if err != nil {
		t.mu.Lock()
		t.failed++
		attempt := t.failed
		t.mu.Unlock()
		t.log.InfoContext(ctx, "ssh connect failed", "host", t.target.String(), "attempt", attempt, "error", err.Error())
		return nil, err
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		c.Close()
		return nil, fmt.Errorf("ssh %s: the client is closed", t.target)
	}
	t.opened++
	t.client, t.conn = c, sshConn{number: t.opened, fingerprint: fingerprint, since: time.Now(), ctx: context.WithoutCancel(ctx)}
	attempts, dropped := t.failed+1, t.dropped
	t.failed = 0
	info := t.conn
	t.mu.Unlock()
	fields := []any{"host", t.target.String(), "fingerprint", fingerprint, "connection", info.number, "attempt", attempts,
		"elapsed", time.Since(started).Round(time.Millisecond).String()}
	if info.number == 1 {
		t.log.InfoContext(ctx, "ssh connected", fields...)
	} else {
		t.log.InfoContext(ctx, "ssh reconnected", append(fields, "down", time.Since(dropped).Round(time.Millisecond).String())...)
	}
	go t.watch(c, info.ctx)
	return c, nil
}

func (t *sshTunnel) current() *ssh.Client {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.client
}

// dial opens a new connection: TCP, then the SSH handshake with the host
// key checked, then authentication. It returns the connection and the
// fingerprint of the host's key.
func (t *sshTunnel) dial(ctx context.Context) (*ssh.Client, string, error) {
	ctx, cancel := context.WithTimeout(ctx, sshHandshakeTimeout)
	defer cancel()
	d := net.Dialer{KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", t.target.addr)
	if err != nil {
		return nil, "", fmt.Errorf("ssh %s: %w", t.target, err)
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
		return nil, "", err
	}
	var fingerprint string
	checkAndNote := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		fingerprint = ssh.FingerprintSHA256(key)
		return hostKeyCallback(hostname, remote, key)
	}
	methods, release, err := t.auth.methods()
	if err != nil {
		conn.Close()
		return nil, "", fmt.Errorf("ssh %s: %w", t.target, err)
	}
	defer release()
	sc, chans, reqs, err := ssh.NewClientConn(conn, t.target.addr, &ssh.ClientConfig{
		User:              t.target.user,
		Auth:              methods,
		HostKeyCallback:   checkAndNote,
		HostKeyAlgorithms: algorithms,
	})
	if err != nil {
		conn.Close()
		var hk *HostKeyError
		if errors.As(err, &hk) {
			return nil, "", hk
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, "", fmt.Errorf("ssh %s: the host refused %s: authorize it for user %s on the host (~%s/.ssh/authorized_keys)",
				t.target, t.auth.describe(), t.target.user, t.target.user)
		}
		if ctx.Err() != nil && !errors.Is(err, context.Canceled) {
			return nil, "", fmt.Errorf("ssh %s: no SSH handshake within %s: %w", t.target, sshHandshakeTimeout, err)
		}
		return nil, "", fmt.Errorf("ssh %s: %w", t.target, err)
	}
	conn.SetDeadline(time.Time{})
	return ssh.NewClient(sc, chans, reqs), fingerprint, nil
}

// watch forgets c when it ends, and checks it while it lives: a connection
// whose peer stops answering (a host that went away without a word) is
// closed after sshKeepAlive, so that the next call reconnects instead of
// hanging. ctx carries the log sink.
func (t *sshTunnel) watch(c *ssh.Client, ctx context.Context) {
	ended := make(chan struct{})
	var why error
	go func() {
		why = c.Wait()
		close(ended)
	}()
	silent := false
	tick := time.NewTicker(sshKeepAlive)
	defer tick.Stop()
	for {
		select {
		case <-ended:
			reason := "the connection ended"
			switch {
			case silent:
				reason = fmt.Sprintf("the host did not answer a keepalive within %s", sshKeepAlive)
			case why != nil:
				reason = "the connection ended: " + why.Error()
			}
			t.forget(ctx, c, reason)
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
				silent = true
				c.Close()
			}
		}
	}
}

// forget drops c if it is the current connection, and logs why.
func (t *sshTunnel) forget(ctx context.Context, c *ssh.Client, reason string) {
	t.mu.Lock()
	current := t.client == c
	info := t.conn
	if current {
		t.client, t.conn, t.dropped = nil, sshConn{}, time.Now()
	}
	t.mu.Unlock()
	c.Close()
	if !current {
		return
	}
	t.log.InfoContext(ctx, "ssh connection dropped; the next call reconnects", "host", t.target.String(), "fingerprint", info.fingerprint,
		"connection", info.number, "lived", time.Since(info.since).Round(time.Millisecond).String(), "reason", reason)
	if t.onDrop != nil {
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
		t.forget(ctx, c, fmt.Sprintf("a channel to %s could not be opened on it: %v", addr, err))
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
