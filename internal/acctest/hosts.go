package acctest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
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

// startDockerd starts the host's own engine inside its namespace and waits
// until it answers. nsenter --net only, not ip netns exec: the latter
// remounts /sys, which hides the cgroup mounts from dockerd.
func (h *Host) startDockerd(opts HostsOptions) error {
	n := 96 + h.hosts.slot
	h.DockerSocket = filepath.Join(h.dir, "docker.sock")
	h.DockerHost = "unix://" + h.DockerSocket
	configFile := filepath.Join(h.dir, "daemon.json")
	// Its own configuration, never the machine's /etc/docker/daemon.json,
	// and its own identity key (the engine ID), not /etc/docker/key.json.
	config := fmt.Sprintf("{\"deprecated-key-path\": %q}\n", filepath.Join(h.dir, "key.json"))
	if err := os.WriteFile(configFile, []byte(config), 0o644); err != nil {
		return err
	}
	args := []string{
		"--net=" + h.netns, "dockerd",
		"--config-file", configFile,
		"--data-root", filepath.Join(h.dir, "data"),
		"--exec-root", filepath.Join(h.dir, "exec"),
		"--pidfile", filepath.Join(h.dir, "docker.pid"),
		"-H", h.DockerHost,
		"--bip", fmt.Sprintf("10.%d.%d.1/24", n, 16+h.index),
		"--default-address-pool", fmt.Sprintf("base=10.%d.%d.0/20,size=24", n, 32+16*h.index),
		"--insecure-registry", h.hosts.Subnet,
		"--shutdown-timeout", "1",
	}
	if opts.SSH {
		args = append(args, "--group", SSHUser)
	}
	if h.TLS != nil {
		args = append(args, "-H", h.TLS.Host,
			"--tlsverify", "--tlscacert", h.TLS.caFile, "--tlscert", h.TLS.certFile, "--tlskey", h.TLS.keyFile)
	}
	p, err := startHostProcess("dockerd", filepath.Join(h.dir, "dockerd.log"), "nsenter", args...)
	if err != nil {
		return err
	}
	h.dockerd = p
	h.undo.push("stop dockerd", func() error { return h.stopDockerd() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return p.waitReady(ctx, func(ctx context.Context) error { return pingEngine(ctx, h.DockerSocket) })
}

// pingEngine asks the engine at socket for /_ping.
func pingEngine(ctx context.Context, socket string) error {
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		DisableKeepAlives: true,
	}, Timeout: 2 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/_ping", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /_ping: HTTP %d", resp.StatusCode)
	}
	return nil
}

// stopDockerd stops the engine, which stops its containers (within its
// --shutdown-timeout); what is still in the namespace after it is gone
// (a container whose engine had to be killed) is killed by PID, and mounts
// it left under the host's directory are detached.
func (h *Host) stopDockerd() error {
	var errs []error
	if err := h.dockerd.stop(20 * time.Second); err != nil {
		errs = append(errs, err)
	}
	if err := killNamespaceProcesses(h.Name); err != nil {
		errs = append(errs, err)
	}
	if err := unmountUnder(h.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// deleteNamespace deletes the host's namespace; its end of the veth pair
// goes with it.
func (h *Host) deleteNamespace() error {
	if err := killNamespaceProcesses(h.Name); err != nil {
		return err
	}
	return run("ip", "netns", "del", h.Name)
}

// killNamespaceProcesses kills, by PID, what still runs in a test host's
// namespace: only processes the test started (through its dockerd, sshd
// or Caddy) ever run there.
func killNamespaceProcesses(name string) error {
	out, err := output("ip", "netns", "pids", name)
	if err != nil {
		if _, statErr := os.Stat("/run/netns/" + name); os.IsNotExist(statErr) {
			return nil
		}
		return err
	}
	pids := strings.Fields(out)
	for _, p := range pids {
		if pid, err := strconv.Atoi(p); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if len(pids) == 0 {
		return nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if out, _ := output("ip", "netns", "pids", name); strings.TrimSpace(out) == "" {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("processes %v in namespace %s did not end", pids, name)
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

// Docker runs the docker CLI against the host's engine and returns its
// trimmed stdout; the test fails when the command fails.
func (h *Host) Docker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := h.DockerE(args...)
	if err != nil {
		t.Fatalf("host %s: %v", h.Name, err)
	}
	return out
}

// DockerE runs the docker CLI against the host's engine.
func (h *Host) DockerE(args ...string) (string, error) {
	return DockerE(append([]string{"--host", h.DockerHost}, args...)...)
}

// LoadImages copies images of the shared engine into the host's engine
// (docker save | docker load); the test fails when one cannot be copied.
func (h *Host) LoadImages(t testing.TB, refs ...string) {
	t.Helper()
	if err := h.loadImages(refs...); err != nil {
		t.Fatalf("host %s: %v", h.Name, err)
	}
}

func (h *Host) loadImages(refs ...string) error {
	save := exec.Command("docker", append([]string{"save"}, refs...)...)
	load := exec.Command("docker", "--host", h.DockerHost, "load", "--quiet")
	var saveErr, loadErr bytes.Buffer
	save.Stderr, load.Stderr = &saveErr, &loadErr
	pipe, err := save.StdoutPipe()
	if err != nil {
		return err
	}
	load.Stdin = pipe
	load.Stdout = io.Discard
	if err := save.Start(); err != nil {
		return fmt.Errorf("docker save: %w", err)
	}
	if err := load.Start(); err != nil {
		save.Process.Kill()
		save.Wait()
		return fmt.Errorf("docker load: %w", err)
	}
	loadWait := load.Wait()
	saveWait := save.Wait()
	if saveWait != nil {
		return fmt.Errorf("docker save %s: %v: %s", strings.Join(refs, " "), saveWait, strings.TrimSpace(saveErr.String()))
	}
	if loadWait != nil {
		return fmt.Errorf("docker load into %s: %v: %s", h.DockerHost, loadWait, strings.TrimSpace(loadErr.String()))
	}
	return nil
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

// hostProcess is a long-running process of a test host (dockerd, sshd,
// Caddy), started by this test process and stopped by its PID.
type hostProcess struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
}

// startHostProcess starts name (for messages) as path args..., its output
// to logPath, in a process group of its own so that a Ctrl-C of the test
// reaches the test's cleanup, not the process directly.
func startHostProcess(name, logPath, path string, args ...string) (*hostProcess, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &hostProcess{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	return p, nil
}

// waitReady polls ready until it succeeds, the process exits or ctx ends.
func (p *hostProcess) waitReady(ctx context.Context, ready func(context.Context) error) error {
	var last error
	for {
		if last = ready(ctx); last == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited (%s) before it was ready; its log:\n%s", p.name, p.cmd.ProcessState, p.logTail())
		case <-ctx.Done():
			return fmt.Errorf("%s was not ready: %v; its log:\n%s", p.name, last, p.logTail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM, waits up to grace, then kills. It does nothing for a
// process that has exited.
func (p *hostProcess) stop(grace time.Duration) error {
	if p == nil {
		return nil
	}
	select {
	case <-p.exited:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.exited:
		return fmt.Errorf("%s (pid %d) did not stop within %s of SIGTERM and was killed", p.name, p.cmd.Process.Pid, grace)
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) survived SIGKILL", p.name, p.cmd.Process.Pid)
	}
}

// logTail is the end of the process's log, for failure messages.
func (p *hostProcess) logTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(read %s: %v)", p.logPath, err)
	}
	return lastLines(string(b), 30)
}

// undoStack is what a fixture has created, as the steps that remove it,
// run last first.
type undoStack struct {
	mu    sync.Mutex
	steps []undoStep
}

type undoStep struct {
	what string
	fn   func() error
}

func (u *undoStack) push(what string, fn func() error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.steps = append(u.steps, undoStep{what, fn})
}

// run runs every step, last first, and empties the stack; a step that
// fails does not stop the others.
func (u *undoStack) run() error {
	u.mu.Lock()
	steps := u.steps
	u.steps = nil
	u.mu.Unlock()
	var errs []error
	for i := len(steps) - 1; i >= 0; i-- {
		if err := steps[i].fn(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", steps[i].what, err))
		}
	}
	return errors.Join(errs...)
}

// removeHostDir detaches whatever is still mounted under dir and removes
// it.
func removeHostDir(dir string) error {
	if err := unmountUnder(dir); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// unmountUnder detaches every mount below dir, deepest first: what an
// engine that was killed leaves (overlay layers, namespace files).
func unmountUnder(dir string) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		if p := unescapeMountPath(f[4]); p == dir || strings.HasPrefix(p, dir+"/") {
			points = append(points, p)
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// run runs a command and returns an error carrying its stderr.
func run(name string, args ...string) error {
	_, err := output(name, args...)
	return err
}

// output runs a command and returns its trimmed stdout, or an error
// carrying its stderr.
func output(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// liveHosts are the Hosts of this process not closed yet, for the
// last-resort cleanup.
var (
	liveHostsMu sync.Mutex
	liveHosts   = map[*Hosts]struct{}{}
)

func registerHosts(hs *Hosts) {
	liveHostsMu.Lock()
	defer liveHostsMu.Unlock()
	liveHosts[hs] = struct{}{}
}

func unregisterHosts(hs *Hosts) {
	liveHostsMu.Lock()
	defer liveHostsMu.Unlock()
	delete(liveHosts, hs)
}

// RemoveHostLeftovers is the last resort of RunAndCleanUp: it closes the
// Hosts of runID that this process still has open, then removes whatever
// else carries runID in its name: namespaces (and what runs in them), links,
// FORWARD rules and directories under /var/lib/tinyforge-hosts. It returns
// what it had to remove: anything there is a test that leaks. Hosts of any
// other run ID are left alone, also this process's own (a test that calls
// it with a run ID of its own runs beside tests whose hosts are in use).
func RemoveHostLeftovers(runID string) (leaked []string, err error) {
	prefix := "tf" + runID
	liveHostsMu.Lock()
	open := make([]*Hosts, 0, len(liveHosts))
	for hs := range liveHosts {
		if strings.HasPrefix(hs.prefix, prefix) {
			open = append(open, hs)
		}
	}
	liveHostsMu.Unlock()
	var errs []error
	for _, hs := range open {
		leaked = append(leaked, "test hosts "+hs.prefix)
		errs = append(errs, hs.Close())
	}

	// Namespaces: what runs there first, so that the engines' mounts go.
	if out, err := output("ip", "netns", "list"); err == nil {
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], prefix) {
				leaked = append(leaked, "namespace "+f[0])
				errs = append(errs, killNamespaceProcesses(f[0]), run("ip", "netns", "del", f[0]))
			}
		}
	} else {
		errs = append(errs, err)
	}
	if rules, err := output("iptables", "-w", "-S", "FORWARD"); err == nil {
		for _, rule := range strings.Split(rules, "\n") {
			if strings.HasPrefix(rule, "-A FORWARD ") && strings.Contains(rule, " "+prefix) {
				leaked = append(leaked, "iptables rule "+rule)
				errs = append(errs, run("iptables", append([]string{"-w", "-D"}, strings.Fields(rule)[1:]...)...))
			}
		}
	} else {
		errs = append(errs, err)
	}
	if links, err := net.Interfaces(); err == nil {
		for _, l := range links {
			if strings.HasPrefix(l.Name, prefix) {
				leaked = append(leaked, "link "+l.Name)
				errs = append(errs, run("ip", "link", "del", l.Name))
			}
		}
	} else {
		errs = append(errs, err)
	}
	dirs, _ := filepath.Glob(filepath.Join(hostsRoot, prefix+"*"))
	for _, dir := range dirs {
		leaked = append(leaked, "directory "+dir)
		errs = append(errs, removeHostDir(dir))
	}
	return leaked, errors.Join(errs...)
}

// startCaddy starts a Caddy inside the host's namespace: admin API on the
// host's 127.0.0.1:2019 only, HTTPURL on the host's address, port 80.
func (h *Host) startCaddy() error {
	dir := filepath.Join(h.dir, "caddy")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := startCaddy(ctx, dir, false, "", caddyPlacement{
		netns:     h.netns,
		adminAddr: "127.0.0.1:2019",
		httpHost:  h.Addr,
		httpPort:  80,
		admin:     h.HTTPClient(),
	})
	if err != nil {
		return err
	}
	h.undo.push("stop caddy", func() error { c.Stop(); return nil })
	h.Caddy = c
	return nil
}
