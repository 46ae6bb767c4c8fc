package acctest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// TestHostsAreSeparateMachines: two test hosts, each with its own engine,
// loopback, sshd and Caddy. The test reaches each engine through its
// socket, each address over the test network, each loopback only from
// inside the host; the hosts reach each other; the SSH user reaches the
// engine's socket and the host's loopback ports with the client key, and
// no other key or user gets in; the engine's TLS listener wants the client
// certificate; Close leaves nothing behind: no namespace, link, rule,
// directory or process.
func TestHostsAreSeparateMachines(t *testing.T) {
	t.Parallel()
	imgs := TestImages(t)
	httpget := HTTPGetImage(t)
	hs := StartHosts(t, 2, HostsOptions{SSH: true, Caddy: true, TLS: true, Images: []string{imgs.V1}})
	h0, h1 := hs.Hosts[0], hs.Hosts[1]
	h1.LoadImages(t, httpget)

	if id0, id1 := h0.Docker(t, "info", "--format", "{{.ID}}"), h1.Docker(t, "info", "--format", "{{.ID}}"); id0 == id1 {
		t.Fatalf("both hosts' engines have ID %s: one engine, not two", id0)
	}
	if out, err := DockerE("image", "inspect", "--format", "{{.Id}}", imgs.V1); err != nil || h0.Docker(t, "image", "inspect", "--format", "{{.Id}}", imgs.V1) != out {
		t.Fatalf("the host's copy of %s is not the shared engine's (%v)", imgs.V1, err)
	}

	// A container published on the host's loopback and one on its address.
	port := FreePort(t) // free on this machine's loopback, and held
	h0.Docker(t, "run", "--detach", "--name", "loop", "--publish", fmt.Sprintf("127.0.0.1:%d:8080", port), imgs.V1)
	h0.Docker(t, "run", "--detach", "--name", "lan", "--publish", h0.Addr+":18080:8080", imgs.V1)
	get := func(client *http.Client, url string) (string, error) {
		resp, err := client.Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return strings.TrimSpace(string(b)), err
	}
	loopURL := fmt.Sprintf("http://127.0.0.1:%d/", port)
	Eventually(t, 20*time.Second, 100*time.Millisecond, "the container on h0's loopback does not answer from inside h0", func() bool {
		body, err := get(h0.HTTPClient(), loopURL)
		return err == nil && body == "v1"
	})
	if body, err := get(&http.Client{Timeout: 2 * time.Second}, loopURL); err == nil {
		t.Fatalf("this machine's %s answered %q: h0's loopback is not its own", loopURL, body)
	}
	if body, err := get(h1.HTTPClient(), loopURL); err == nil {
		t.Fatalf("h1's %s answered %q: h0's loopback is not its own", loopURL, body)
	}
	lanURL := "http://" + h0.Addr + ":18080/"
	Eventually(t, 20*time.Second, 100*time.Millisecond, "the container on h0's address does not answer the test", func() bool {
		body, err := get(&http.Client{Timeout: 2 * time.Second}, lanURL)
		return err == nil && body == "v1"
	})
	// Host to host, across the bridge (the FORWARD rule).
	if out := h1.Docker(t, "run", "--rm", httpget, lanURL); out != "200 v1" {
		t.Fatalf("h1 fetched %s: %q, want v1", lanURL, out)
	}

	// SSH: the client key reaches the engine's socket and the loopback.
	s := h0.SSH
	hostKey, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s.HostKey))
	if err != nil {
		t.Fatal(err)
	}
	if got := ssh.FingerprintSHA256(hostKey); got != s.HostKeyFingerprint {
		t.Fatalf("HostKeyFingerprint %s, the key's is %s", s.HostKeyFingerprint, got)
	}
	signer, err := ssh.ParsePrivateKey([]byte(s.ClientKey))
	if err != nil {
		t.Fatal(err)
	}
	config := func(user string, signer ssh.Signer) *ssh.ClientConfig {
		return &ssh.ClientConfig{
			User:            user,
			Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
			HostKeyCallback: ssh.FixedHostKey(hostKey),
			Timeout:         10 * time.Second,
		}
	}
	client, err := ssh.Dial("tcp", s.Addr, config(s.User, signer))
	if err != nil {
		t.Fatalf("ssh %s@%s: %v\nsshd log:\n%s", s.User, s.Addr, err, s.Log())
	}
	defer client.Close()
	viaSSH := func(network, addr string) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return client.DialContext(ctx, network, addr)
			},
		}}
	}
	if body, err := get(viaSSH("unix", s.DockerSocket), "http://docker/_ping"); err != nil || body != "OK" {
		t.Fatalf("GET /_ping over SSH to %s: %q, %v\nsshd log:\n%s", s.DockerSocket, body, err, s.Log())
	}
	if body, err := get(viaSSH("tcp", fmt.Sprintf("127.0.0.1:%d", port)), "http://loop/"); err != nil || body != "v1" {
		t.Fatalf("GET the host's loopback port over SSH: %q, %v", body, err)
	}
	if !strings.Contains(s.DockerHost(), "ssh://"+SSHUser+"@"+h0.Addr+":22/") {
		t.Fatalf("DockerHost %s", s.DockerHost())
	}
	// Another key, or root with the right key, is refused.
	_, otherPEM, err := newEd25519Key("")
	if err != nil {
		t.Fatal(err)
	}
	other, err := ssh.ParsePrivateKey(otherPEM)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := ssh.Dial("tcp", s.Addr, config(s.User, other)); err == nil {
		c.Close()
		t.Fatal("sshd let in a key it was never given")
	}
	if c, err := ssh.Dial("tcp", s.Addr, config("root", signer)); err == nil {
		c.Close()
		t.Fatal("sshd let root in")
	}
	// Each host has its own host key.
	if h1.SSH.HostKey == s.HostKey {
		t.Fatal("both hosts have one host key")
	}

	// Caddy: the admin API answers on the host's loopback only.
	if cfg := h0.Caddy.AdminGet(t, "/config/admin/listen"); cfg != `"127.0.0.1:2019"` {
		t.Fatalf("caddy's admin listens on %s", cfg)
	}
	if _, err := get(&http.Client{Timeout: 2 * time.Second}, "http://"+h0.Addr+":2019/config/"); err == nil {
		t.Fatal("caddy's admin API answers on the host's address")
	}

	// TLS: the engine answers with the client certificate, refuses without.
	dir := t.TempDir()
	files := map[string]string{"ca.pem": h0.TLS.CAPEM, "cert.pem": h0.TLS.CertPEM, "key.pem": h0.TLS.KeyPEM}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tlsArgs := []string{"--host", h0.TLS.Host, "--tlsverify", "--tlscacert", filepath.Join(dir, "ca.pem")}
	if out, err := DockerE(append(tlsArgs, "--tlscert", filepath.Join(dir, "cert.pem"), "--tlskey", filepath.Join(dir, "key.pem"),
		"info", "--format", "{{.ID}}")...); err != nil || out != h0.Docker(t, "info", "--format", "{{.ID}}") {
		t.Fatalf("docker over TLS: %q, %v", out, err)
	}
	if _, err := DockerE(append(tlsArgs, "info")...); err == nil {
		t.Fatal("the TLS engine answered a client without a certificate")
	}

	// Close removes everything, the containers' engine included.
	if err := hs.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	assertNoHostsLeft(t, hs.prefix)
	// (No request to the host's address now: it is no test host's any
	// more, and the machine would route it elsewhere.)
	if _, err := os.Stat(h0.DockerSocket); err == nil {
		t.Fatalf("the engine's socket %s outlived Close", h0.DockerSocket)
	}
}

// assertNoHostsLeft fails the test when anything named with prefix
// remains: a namespace, a link, a FORWARD rule, a directory, a process
// running from the hosts' directory.
func assertNoHostsLeft(t *testing.T, prefix string) {
	t.Helper()
	if out, _ := output("ip", "netns", "list"); strings.Contains(out, prefix) {
		t.Errorf("namespaces left: %s", out)
	}
	if out, _ := output("ip", "-br", "link"); strings.Contains(out, prefix) {
		t.Errorf("links left: %s", out)
	}
	if out, _ := output("iptables", "-w", "-S", "FORWARD"); strings.Contains(out, prefix) {
		t.Errorf("FORWARD rules left: %s", out)
	}
	if matches, _ := filepath.Glob(filepath.Join(hostsRoot, prefix+"*")); len(matches) > 0 {
		t.Errorf("directories left: %v", matches)
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if bytes.Contains(cmdline, []byte(filepath.Join(hostsRoot, prefix))) {
			t.Errorf("process %s left: %s", e.Name(), bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
		}
	}
}

// TestHostsSwarmRunsAcrossNodesFromTheRegistry: three hosts make a swarm;
// an image pushed from the manager to the registry on the test network
// runs as three tasks, one per node, though only the manager had it; a
// container on the manager reaches each task over the overlay network, by
// the tasks.<service> DNS name.
func TestHostsSwarmRunsAcrossNodesFromTheRegistry(t *testing.T) {
	t.Parallel()
	imgs := TestImages(t)
	httpget := HTTPGetImage(t)
	hs := StartHosts(t, 3, HostsOptions{})
	sw := hs.Swarm(t)
	m := sw.Manager
	m.LoadImages(t, imgs.V2, httpget)
	reg := hs.StartRegistry(t)
	ref := reg.PushFrom(t, m, imgs.V2, "testapp:v2")
	for _, w := range sw.Workers {
		if _, err := w.DockerE("image", "inspect", ref); err == nil {
			t.Fatalf("worker %s has %s before the service runs", w.Name, ref)
		}
	}

	m.Docker(t, "network", "create", "--driver", "overlay", "--attachable", "ov")
	m.Docker(t, "service", "create", "--detach", "--name", "web", "--network", "ov",
		"--replicas", "3", "--replicas-max-per-node", "1", "--endpoint-mode", "dnsrr", ref)
	nodes := map[string]bool{}
	Eventually(t, 90*time.Second, 500*time.Millisecond, "the service's 3 tasks are not running on 3 nodes", func() bool {
		ids, err := m.DockerE("service", "ps", "--quiet", "--filter", "desired-state=running", "web")
		if err != nil || ids == "" {
			return false
		}
		out, err := m.DockerE(append([]string{"inspect", "--format", "{{.NodeID}} {{.Status.State}}"}, strings.Fields(ids)...)...)
		if err != nil {
			return false
		}
		clear(nodes)
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[1] == "running" {
				nodes[f[0]] = true
			}
		}
		return len(nodes) == 3
	})
	out := m.Docker(t, "run", "--rm", "--network", "ov", httpget, "-all", "http://tasks.web:8080/")
	if lines := strings.Split(out, "\n"); len(lines) != 3 || strings.Count(out, " 200 v2") != 3 {
		t.Fatalf("the tasks, asked over the overlay network by tasks.web, answered:\n%s\nwant 3 addresses answering 200 v2", out)
	}
}

// TestHostSlotsAreExclusive: a slot held by one StartHosts is never handed
// to another, in this process or another (the lock is an abstract socket).
func TestHostSlotsAreExclusive(t *testing.T) {
	t.Parallel()
	seen := map[int]bool{}
	for range 4 {
		slot, release, err := allocateHostSlot()
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		if seen[slot] {
			t.Fatalf("slot %d handed out twice", slot)
		}
		seen[slot] = true
		if _, err := net.Listen("unix", "@tinyforge-acctest-hosts-"+strconv.Itoa(slot)); err == nil {
			t.Fatalf("slot %d's lock is not held", slot)
		}
	}
}

// TestRemoveHostLeftoversFindsThemByRunID: what a run that never closed
// its hosts leaves (a namespace with a process in it, a bridge, a FORWARD
// rule, a directory with a mount) is found by the run ID and removed, and
// reported; another run's objects are left alone.
func TestRemoveHostLeftoversFindsThemByRunID(t *testing.T) {
	t.Parallel()
	if err := requireHostTools(HostsOptions{}); err != nil {
		t.Fatal(err)
	}
	newRunID := func() string {
		b := make([]byte, 4)
		rand.Read(b)
		return hex.EncodeToString(b)
	}
	leak := func(runID string) string {
		prefix := "tf" + runID + "00"
		t.Cleanup(func() { RemoveHostLeftovers(runID) })
		for _, args := range [][]string{
			{"ip", "netns", "add", prefix + "n0"},
			{"ip", "link", "add", prefix + "b", "type", "bridge"},
			{"iptables", "-w", "-I", "FORWARD", "-i", prefix + "b", "-o", prefix + "b", "-j", "ACCEPT"},
		} {
			if err := run(args[0], args[1:]...); err != nil {
				t.Fatal(err)
			}
		}
		dir := filepath.Join(hostsRoot, prefix, "0", "data")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
			t.Fatal(err)
		}
		// A process in the namespace, as a dockerd of a test that died.
		p, err := startHostProcess("sleep", filepath.Join(hostsRoot, prefix, "sleep.log"), "nsenter", "--net=/run/netns/"+prefix+"n0", "sleep", "300")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.stop(time.Second) })
		return prefix
	}
	mine, others := newRunID(), newRunID()
	prefix := leak(mine)
	otherPrefix := leak(others)
	// Open Hosts of another run, as those of the tests running beside this
	// one (which share this process's run ID): never closed.
	inUse := &Hosts{prefix: otherPrefix}
	registerHosts(inUse)
	t.Cleanup(func() { unregisterHosts(inUse) })

	leaked, err := RemoveHostLeftovers(mine)
	if err != nil {
		t.Fatalf("remove leftovers: %v", err)
	}
	report := strings.Join(leaked, "\n")
	for _, want := range []string{"namespace " + prefix + "n0", "link " + prefix + "b", "iptables rule", "directory " + filepath.Join(hostsRoot, prefix)} {
		if !strings.Contains(report, want) {
			t.Errorf("the report does not name %q:\n%s", want, report)
		}
	}
	assertNoHostsLeft(t, prefix)
	if out, _ := output("ip", "netns", "list"); !strings.Contains(out, otherPrefix+"n0") {
		t.Errorf("another run's namespace was removed too")
	}
	if _, err := os.Stat(filepath.Join(hostsRoot, otherPrefix)); err != nil {
		t.Errorf("another run's directory was removed too: %v", err)
	}
	liveHostsMu.Lock()
	_, stillOpen := liveHosts[inUse]
	liveHostsMu.Unlock()
	if !stillOpen || strings.Contains(report, "test hosts "+otherPrefix) {
		t.Errorf("another run's open hosts were closed:\n%s", report)
	}
	unregisterHosts(inUse)
	if _, err := RemoveHostLeftovers(others); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Errorf("remove the other leftovers: %v", err)
	}
	assertNoHostsLeft(t, otherPrefix)
}
