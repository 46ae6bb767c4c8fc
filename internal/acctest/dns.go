package acctest

import (
	"errors"
	"net"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// DNS is a DNS responder on a 127.0.0.1 UDP port, for a CA under test
// (Pebble's -dnsserver) to resolve the names it validates: every A query is
// answered with 127.0.0.1, where the test's proxy listens, except for the
// names the test made refuse, which get NXDOMAIN. Other query types get an
// empty NOERROR answer, so that a resolver asking for AAAA too settles on
// the A record.
type DNS struct {
	// Addr is "127.0.0.1:<port>".
	Addr string

	conn    net.PacketConn
	mu      sync.Mutex
	refused map[string]bool // lower-case names, without the trailing dot
	queries map[string]int
	done    chan struct{}
}

// StartDNS starts a DNS responder and stops it when the test ends.
func StartDNS(t testing.TB) *DNS {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("start the DNS responder: %v", err)
	}
	d := &DNS{Addr: conn.LocalAddr().String(), conn: conn, refused: map[string]bool{}, queries: map[string]int{}, done: make(chan struct{})}
	go d.serve()
	t.Cleanup(func() { conn.Close(); <-d.done })
	return d
}

// Refuse makes the responder answer NXDOMAIN for name (true) or 127.0.0.1
// again (false).
func (d *DNS) Refuse(name string, refuse bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refused[strings.ToLower(name)] = refuse
}

// Queries is how many A queries the responder answered for name.
func (d *DNS) Queries(name string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.queries[strings.ToLower(name)]
}

func (d *DNS) serve() {
	defer close(d.done)
	buf := make([]byte, 1500)
	for {
		n, from, err := d.conn.ReadFrom(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		if answer, ok := d.answer(buf[:n]); ok {
			_, _ = d.conn.WriteTo(answer, from)
		}
	}
}

// answer builds the reply to one query; false for a message that is not a
// query it can read.
func (d *DNS) answer(query []byte) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil || h.Response {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	name := strings.ToLower(strings.TrimSuffix(q.Name.String(), "."))
	d.mu.Lock()
	refused := d.refused[name]
	if q.Type == dnsmessage.TypeA {
		d.queries[name]++
	}
	d.mu.Unlock()

	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}
	if refused {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	if b.StartQuestions() != nil || b.Question(q) != nil || b.StartAnswers() != nil {
		return nil, false
	}
	if !refused && q.Type == dnsmessage.TypeA {
		rr := dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}}
		if b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 0}, rr) != nil {
			return nil, false
		}
	}
	out, err := b.Finish()
	return out, err == nil
}
