package acctest

import (
	"context"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
)

// Test hosts are machines a test creates on this one: each is a network
// namespace on a bridge of its own test network, with an address there,
// its own dockerd (reached by the test through a unix socket), and on
// request Debian's sshd on its address and a Caddy whose admin API listens
// on the host's own 127.0.0.1. They stand in for the remote Docker hosts
// and Swarm nodes of users (see ../shared/reference/swarm-here.md for what
// was checked to work here). Test traffic goes to 127.0.0.1 and to the
// addresses of these hosts, nothing else.
//
// Address plan. A StartHosts takes one slot s of hostSlots, with a lock
// that every test process honours (an abstract unix socket, freed by the
// kernel when the process dies), and only when no interface of this machine
// has an address in the slot's 10.(96+s).0.0/16 (a process killed before it
// cleaned up leaves its bridge, and its slot is then skipped). Inside the
// slot:
//
//	10.N.0.0/24            the test network: the bridge (Gateway) .1, host i .11+i
//	10.N.16+i.0/24         host i's docker0 (--bip)
//	10.N.32+16i.0/20       host i's networks (--default-address-pool, /24 each)
//	10.N.192.0/20          a Swarm's overlay networks (Swarm.AddrPool)
//
// Names carry the run ID and the slot: tf<run id><slot> then "b" for the
// bridge, "h<i>" for a host's end of its veth pair, "n<i>" for its
// namespace; files live under /var/lib/tinyforge-hosts/tf<run id><slot>.
// Everything is removed when the test ends, also when it fails, and, as a
// last resort, by RunAndCleanUp when the process ends.
//
// hosts.go makes the network and the hosts; hosts_engine.go runs a host's
// dockerd, hosts_ssh.go its sshd, hosts_caddy.go its Caddy, hosts_tls.go
// its engine's certificates; hosts_process.go starts and stops those
// processes; hosts_cleanup.go removes it all, also what a dead run left.

// HostsOptions says what runs on each test host besides its dockerd.
type HostsOptions struct {
	// SSH starts Debian's sshd on the host's address, port 22: a host key
	// and a client key made for this test, the client key authorized for
	// SSHUser, who may use the host's docker socket.
	SSH bool
	// Caddy starts a Caddy in the host's namespace with its admin API on
	// the host's 127.0.0.1:2019 only and nothing else configured.
	Caddy bool
	// TLS makes the host's dockerd listen on tcp://<address>:2376 too,
	// with TLS and client certificates checked (certificates made for this
	// test).
	TLS bool
	// Images are images of the shared engine loaded into every host's
	// engine (docker save | docker load): nothing can be pulled here.
	Images []string
	// BuildKitOff lists the hosts (by index) whose dockerd has BuildKit
	// switched off ("features": {"buildkit": false}): their builds use
	// the classic builder, as on an engine without BuildKit.
	BuildKitOff []int
}

// SSHUser is the account the test hosts' sshd lets in. .ci/setup-host
// creates it (a system user, no password, not root); the group of the same
// name owns every test host's docker socket.
const SSHUser = "tinyforge-acctest"

// maxHosts bounds the hosts of one StartHosts: names and the address plan
// have room for this many.
const maxHosts = 8

// hostSlots is how many StartHosts may run at once on this machine, all
// test processes together.
const hostSlots = 32

// hostsRoot holds the files of every test host (data roots, sockets, keys,
// logs). Not /tmp: sshd's StrictModes refuses an authorized_keys file under
// a world-writable directory.
const hostsRoot = "/var/lib/tinyforge-hosts"

// Hosts are the test hosts of one StartHosts, on one test network.
type Hosts struct {
	// Subnet is the test network, "10.N.0.0/24".
	Subnet string
	// Gateway is this machine's address on the test network: every host
	// reaches a server the test runs there (a registry, say).
	Gateway string
	// Hosts are the test hosts, in order.
	Hosts []*Host

	t      testing.TB
	slot   int
	prefix string // tf<run id><slot>
	dir    string
	undo   undoStack
	closed sync.Once
}

// Host is one test host.
type Host struct {
	// Name is the host's network namespace (/run/netns/<Name>).
	Name string
	// Addr is the host's address on the test network.
	Addr string
	// DockerHost is the host's engine as the test reaches it,
	// "unix:///var/lib/tinyforge-hosts/.../docker.sock".
	DockerHost string
	// DockerSocket is the path of that socket, the same on the host.
	DockerSocket string
	// SSH is the host's sshd, nil without HostsOptions.SSH.
	SSH *SSHServer
	// Caddy is the Caddy in the host's namespace, nil without
	// HostsOptions.Caddy. Its AdminURL is the host's loopback
	// (http://127.0.0.1:2019): the test reaches it through AdminGet, which
	// dials inside the namespace; HTTPURL is http://<Addr>:80, where the
	// server a provider creates with the default listen [":80"] answers.
	Caddy *Caddy
	// TLS is the engine's TLS listener, nil without HostsOptions.TLS.
	TLS *EngineTLS

	index   int
	hosts   *Hosts
	dir     string
	netns   string // /run/netns/<Name>
	dockerd *hostProcess
	undo    undoStack
}

// StartHosts creates n test hosts on a test network of their own, with what
// opts asks for on each, and removes them when the test ends. The test
// fails (it is not skipped) when the machine lacks what they need: run
// .ci/setup-host.
func StartHosts(t testing.TB, n int, opts HostsOptions) *Hosts {
	t.Helper()
	if n < 1 || n > maxHosts {
		t.Fatalf("StartHosts: n must be between 1 and %d (got %d)", maxHosts, n)
	}
	if err := requireHostTools(opts); err != nil {
		t.Fatalf("test hosts: %v", err)
	}
	if opts.TLS || opts.SSH || len(opts.Images) > 0 {
		RequireDocker(t)
	}
	slot, release, err := allocateHostSlot()
	if err != nil {
		t.Fatalf("test hosts: %v", err)
	}
	hs := &Hosts{
		Subnet:  fmt.Sprintf("10.%d.0.0/24", 96+slot),
		Gateway: fmt.Sprintf("10.%d.0.1", 96+slot),
		t:       t,
		slot:    slot,
		prefix:  fmt.Sprintf("tf%s%02x", RunID(), slot),
	}
	hs.dir = filepath.Join(hostsRoot, hs.prefix)
	hs.undo.push("release the address slot", func() error { release(); return nil })
	registerHosts(hs)
	t.Cleanup(func() {
		if err := hs.Close(); err != nil {
			t.Errorf("remove test hosts %s: %v", hs.prefix, err)
		}
	})

	start := time.Now()
	if err := hs.createNetwork(); err != nil {
		t.Fatalf("test hosts: %v", err)
	}
	for i := range n {
		hs.Hosts = append(hs.Hosts, &Host{
			index: i,
			hosts: hs,
			Name:  fmt.Sprintf("%sn%d", hs.prefix, i),
			Addr:  fmt.Sprintf("10.%d.0.%d", 96+slot, 11+i),
			dir:   filepath.Join(hs.dir, strconv.Itoa(i)),
		})
	}
	var g errgroup.Group
	for _, h := range hs.Hosts {
		g.Go(func() error { return h.start(opts) })
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("test hosts: %v", err)
	}
	t.Logf("test hosts %s: %d on %s, started in %s", hs.prefix, n, hs.Subnet, time.Since(start).Round(100*time.Millisecond))
	return hs
}

// requireHostTools says which tool the options need is missing.
func requireHostTools(opts HostsOptions) error {
	if os.Geteuid() != 0 {
		return errors.New("creating network namespaces and engines needs root")
	}
	tools := []string{"ip", "iptables", "nsenter", "dockerd", "docker"}
	if opts.SSH {
		tools = append(tools, sshdBinary)
	}
	if opts.Caddy {
		tools = append(tools, CaddyBinary)
	}
	var missing []string
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s: run .ci/setup-host", strings.Join(missing, ", "))
	}
	return nil
}

// allocateHostSlot takes a free slot of the address plan and holds it
// until release.
func allocateHostSlot() (slot int, release func(), err error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return 0, nil, fmt.Errorf("list this machine's addresses: %w", err)
	}
	for _, s := range mathrand.Perm(hostSlots) {
		lock, err := net.Listen("unix", "@tinyforge-acctest-hosts-"+strconv.Itoa(s))
		if err != nil {
			continue // another test process holds it
		}
		_, slotNet, _ := net.ParseCIDR(fmt.Sprintf("10.%d.0.0/16", 96+s))
		if slices.ContainsFunc(addrs, func(a net.Addr) bool {
			ipn, ok := a.(*net.IPNet)
			return ok && slotNet.Contains(ipn.IP)
		}) {
			lock.Close() // a leftover of a process that died uncleanly
			continue
		}
		return s, func() { lock.Close() }, nil
	}
	return 0, nil, fmt.Errorf("no free address slot: all %d are held by test processes or leftovers (ip -br addr | grep ' 10\\.')", hostSlots)
}

// createNetwork makes the test network: the bridge with the gateway
// address, and the FORWARD rule that lets the hosts talk to each other (the
// main dockerd sets the chain's policy to DROP).
func (hs *Hosts) createNetwork() error {
	if err := os.MkdirAll(hs.dir, 0o755); err != nil {
		return err
	}
	// hostsRoot may have been made by a stricter umask.
	if err := os.Chmod(hostsRoot, 0o755); err != nil {
		return err
	}
	hs.undo.push("remove "+hs.dir, func() error { return removeHostDir(hs.dir) })
	bridge := hs.prefix + "b"
	if err := run("ip", "link", "add", bridge, "type", "bridge"); err != nil {
		return err
	}
	hs.undo.push("delete bridge "+bridge, func() error { return run("ip", "link", "del", bridge) })
	if err := run("ip", "addr", "add", hs.Gateway+"/24", "dev", bridge); err != nil {
		return err
	}
	if err := run("ip", "link", "set", bridge, "up"); err != nil {
		return err
	}
	rule := []string{"FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT"}
	if err := run("iptables", append([]string{"-w", "-I"}, rule...)...); err != nil {
		return err
	}
	hs.undo.push("delete iptables rule "+strings.Join(rule, " "), func() error {
		return run("iptables", append([]string{"-w", "-D"}, rule...)...)
	})
	return nil
}

// start creates the host: its namespace and link, its dockerd, and what
// opts asks for.
func (h *Host) start(opts HostsOptions) error {
	h.netns = "/run/netns/" + h.Name
	if err := os.MkdirAll(h.dir, 0o755); err != nil {
		return err
	}
	if err := run("ip", "netns", "add", h.Name); err != nil {
		return err
	}
	h.undo.push("delete namespace "+h.Name, func() error { return h.deleteNamespace() })
	veth := fmt.Sprintf("%sh%d", h.hosts.prefix, h.index)
	// Deleting the namespace takes the pair with it only once nothing holds
	// the namespace; a swarm node's overlay sandbox can, for a while.
	h.undo.push("delete link "+veth, func() error {
		if _, err := net.InterfaceByName(veth); err != nil {
			return nil
		}
		return run("ip", "link", "del", veth)
	})
	for _, args := range [][]string{
		{"link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", h.Name},
		{"link", "set", veth, "master", h.hosts.prefix + "b", "up"},
		{"-n", h.Name, "addr", "add", h.Addr + "/24", "dev", "eth0"},
		{"-n", h.Name, "link", "set", "eth0", "up"},
		{"-n", h.Name, "link", "set", "lo", "up"},
		{"-n", h.Name, "route", "add", "default", "via", h.hosts.Gateway},
	} {
		if err := run("ip", args...); err != nil {
			return fmt.Errorf("host %s: %w", h.Name, err)
		}
	}
	if opts.TLS {
		tlsFiles, err := makeEngineTLS(filepath.Join(h.dir, "tls"), h.Addr)
		if err != nil {
			return fmt.Errorf("host %s: %w", h.Name, err)
		}
		h.TLS = tlsFiles
	}
	if err := h.startDockerd(opts); err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	if len(opts.Images) > 0 {
		if err := h.loadImages(opts.Images...); err != nil {
			return fmt.Errorf("host %s: %w", h.Name, err)
		}
	}
	if opts.SSH {
		if err := h.startSSH(); err != nil {
			return fmt.Errorf("host %s: %w", h.Name, err)
		}
	}
	if opts.Caddy {
		if err := h.startCaddy(); err != nil {
			return fmt.Errorf("host %s: %w", h.Name, err)
		}
	}
	return nil
}

// Close removes the hosts and the test network: it stops every process the
// hosts run, deletes the namespaces, the bridge, the FORWARD rule and the
// files, and releases the address slot. StartHosts has the test call it;
// calling it again does nothing.
func (hs *Hosts) Close() error {
	var err error
	hs.closed.Do(func() {
		var g errgroup.Group
		var mu sync.Mutex
		var errs []error
		for _, h := range hs.Hosts {
			g.Go(func() error {
				if e := h.undo.run(); e != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("host %s: %w", h.Name, e))
					mu.Unlock()
				}
				return nil
			})
		}
		g.Wait()
		errs = append(errs, hs.undo.run())
		unregisterHosts(hs)
		err = errors.Join(errs...)
	})
	return err
}

// DialContext opens a connection from inside the host, as a program
// running there would: 127.0.0.1 is the host's own loopback.
func (h *Host) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return dialInNetns(ctx, h.netns, network, addr)
}

// HTTPClient sends requests from inside the host (see DialContext), one
// connection per request, without following redirects.
func (h *Host) HTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{DialContext: h.DialContext, DisableKeepAlives: true},
		Timeout:   5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
