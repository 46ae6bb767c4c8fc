package docker

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
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
