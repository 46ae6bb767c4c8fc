package docker

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"
)

// Reaching what the engine runs from here: the dialers that carry a
// connection to the Docker host's loopback, and the publish addresses the
// provider can reach.

// DialFunc opens a connection, as net.Dialer.DialContext does.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// HostDialer opens TCP connections as the Docker host would: for an
// ssh:// host, each is a channel of the SSH connection, dialled by the
// host's sshd, so "127.0.0.1:32768" is a port on the host's loopback (where
// containers publish by default). It is nil for other hosts: dial
// directly. The health gate probes a new container's published port
// through it.
func (c *Client) HostDialer() DialFunc {
	if c.tunnel == nil {
		return nil
	}
	return c.tunnel.DialContext
}

// LoopbackThrough returns a dialer that sends connections to loopback
// addresses (127.0.0.0/8, ::1, localhost) through host and dials every
// other address directly; with host nil, it returns nil. It is the rule for
// a proxy's admin API when the engine is an ssh:// host: an admin URL on
// 127.0.0.1 is the Docker host's loopback, any other address is reached
// from here.
func LoopbackThrough(host DialFunc) DialFunc {
	if host == nil {
		return nil
	}
	direct := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if isLoopback(addr) {
			return host(ctx, network, addr)
		}
		return direct.DialContext(ctx, network, addr)
	}
}

// isLoopback reports whether addr ("host:port") names this machine's
// loopback: a loopback IP or the name localhost.
func isLoopback(addr string) bool {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		h = addr
	}
	if strings.EqualFold(strings.TrimSuffix(h, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// CheckPublishAddress refuses a publish address that the provider cannot
// reach on this engine: a tcp:// engine on another machine publishes
// ports on its own interfaces, so a loopback address (or the wildcard,
// which is dialled as loopback) there would make the health gate, and a
// proxy on this machine, reach this machine's loopback instead. Over
// ssh://, the gate's probe travels through the SSH connection, and any
// address of the host is fine; on a unix:// socket the engine is here.
func (c *Client) CheckPublishAddress(publishAddress string) error {
	network, address, err := parseHost(c.host)
	if err != nil || network != "tcp" {
		return nil
	}
	if isLoopback(address) {
		return nil
	}
	ip := net.ParseIP(publishAddress)
	if ip == nil || !(ip.IsLoopback() || ip.IsUnspecified()) {
		return nil
	}
	return fmt.Errorf("publish_address %q with the remote engine %s: containers would publish their ports on that "+
		"host's %s, which the provider cannot reach from here, so the health gate would probe this machine's loopback "+
		"instead and fail after the whole health timeout. Set publish_address to an address of the Docker host that is "+
		"reachable from here (its LAN address, say), or reach the engine over SSH (docker_host = \"ssh://user@host\"), "+
		"which carries the probe through the SSH connection",
		publishAddress, c.host, loopbackOrAll(ip))
}

func loopbackOrAll(ip net.IP) string {
	if ip.IsUnspecified() {
		return "every interface (dialled here as loopback)"
	}
	return "loopback"
}
