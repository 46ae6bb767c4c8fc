package acctest

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// Swarm is a Docker Swarm made of test hosts: the first host is the
// manager, the others are workers. This machine has no IPVS, so the
// ingress routing mesh and VIPs do not work; overlay networks, tasks.<name>
// DNS and endpoint_mode dnsrr do (see swarm-here.md).
type Swarm struct {
	Manager *Host
	Workers []*Host
	// AddrPool is the range the swarm's overlay networks are cut from
	// (/24 each), inside the test network's slot.
	AddrPool string
}

// Nodes are the manager and the workers.
func (s *Swarm) Nodes() []*Host { return append([]*Host{s.Manager}, s.Workers...) }

// Swarm makes a swarm of the hosts (at least two: a manager, then workers)
// and waits until every node is ready. The swarm goes with the hosts'
// engines when the test ends.
func (hs *Hosts) Swarm(t testing.TB) *Swarm {
	t.Helper()
	if len(hs.Hosts) < 2 {
		t.Fatalf("a swarm needs a manager and at least one worker (got %d hosts)", len(hs.Hosts))
	}
	s := &Swarm{
		Manager:  hs.Hosts[0],
		Workers:  hs.Hosts[1:],
		AddrPool: fmt.Sprintf("10.%d.192.0/20", 96+hs.slot),
	}
	m := s.Manager
	m.Docker(t, "swarm", "init",
		"--advertise-addr", m.Addr, "--listen-addr", net.JoinHostPort(m.Addr, "2377"),
		"--default-addr-pool", s.AddrPool, "--default-addr-pool-mask-length", "24")
	token := m.Docker(t, "swarm", "join-token", "--quiet", "worker")
	for _, w := range s.Workers {
		w.Docker(t, "swarm", "join", "--token", token,
			"--advertise-addr", w.Addr, "--listen-addr", net.JoinHostPort(w.Addr, "2377"),
			net.JoinHostPort(m.Addr, "2377"))
	}
	var states string
	Eventually(t, 60*time.Second, 250*time.Millisecond, "the swarm's nodes are not all ready", func() bool {
		out, err := m.DockerE("node", "ls", "--format", "{{.Status}}/{{.Availability}}")
		states = out
		return err == nil && strings.Count(out, "Ready/Active") == len(hs.Hosts)
	})
	t.Logf("swarm of %d nodes: %s", len(hs.Hosts), strings.ReplaceAll(states, "\n", " "))
	return s
}

// StartRegistry starts a registry (as StartRegistry does) on the test
// network's gateway address, which every test host reaches; the hosts'
// engines trust it over plain HTTP (--insecure-registry). It lives until
// the test ends. The shared engine cannot push there (for it the address
// is neither loopback nor trusted): push from a host with PushFrom.
func (hs *Hosts) StartRegistry(t testing.TB) *Registry {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(hs.Gateway, "0"))
	if err != nil {
		t.Fatalf("registry on the test network: %v", err)
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(discardLogger())), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return &Registry{Addr: l.Addr().String()}
}

// PushFrom pushes image local of host h's engine to the registry as
// <Addr>/<repo> and returns that reference; h's engine keeps its image
// under local only.
func (r *Registry) PushFrom(t testing.TB, h *Host, local, repo string) string {
	t.Helper()
	ref := r.Addr + "/" + repo
	h.Docker(t, "tag", local, ref)
	h.Docker(t, "push", "--quiet", ref)
	h.Docker(t, "rmi", ref)
	return ref
}
