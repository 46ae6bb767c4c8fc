package acctest

import (
	"net"
	"strconv"
	"testing"
	"time"
)

// TestFreePortIsOutsideTheEphemeralRangeAndHeld: the ports FreePort hands
// out are ones the kernel never picks for a connection or for a listener
// on :0, no two are the same while held, and another process can neither
// reserve one (its lock is taken) until the test that holds it ends.
func TestFreePortIsOutsideTheEphemeralRangeAndHeld(t *testing.T) {
	t.Parallel()
	lo, hi := reservablePorts()
	// What the kernel picks: a listener on :0 and a connection's source port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, kernel := range []int{l.Addr().(*net.TCPAddr).Port, conn.LocalAddr().(*net.TCPAddr).Port} {
		if kernel >= lo && kernel <= hi {
			t.Fatalf("the kernel picked port %d, inside the reservable range %d-%d", kernel, lo, hi)
		}
	}

	var lockNames []string
	t.Run("held", func(t *testing.T) {
		seen := map[int]bool{}
		for range 50 {
			port := FreePort(t)
			if port < lo || port > hi || seen[port] {
				t.Fatalf("FreePort = %d: want a port in %d-%d not handed out before", port, lo, hi)
			}
			seen[port] = true
			lockName := "@tinyforge-acctest-port-" + strconv.Itoa(port)
			if other, err := net.Listen("unix", lockName); err == nil {
				other.Close()
				t.Fatalf("port %d is reserved, yet its lock %s could be taken again", port, lockName)
			}
			lockNames = append(lockNames, lockName)
		}
	})
	// The subtest ended: its ports are free for others again. Other test
	// processes reserve ports meanwhile and may take one of these at once,
	// so a few may be held again; and a process this one is starting
	// holds copies of all its sockets between fork and exec, so all of
	// them may look held for a moment. All of them would stay held if the
	// release did not happen: ask again for up to 10 s (a fork on a loaded
	// machine may take long to reach its exec).
	var held []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		held = held[:0]
		for _, lockName := range lockNames {
			other, err := net.Listen("unix", lockName)
			if err != nil {
				held = append(held, lockName)
				continue
			}
			other.Close()
		}
		if len(held) <= 5 || time.Now().After(deadline) {
			break
		}
	}
	if len(held) > 5 {
		t.Fatalf("%d of %d locks are still held after the test that reserved them ended: %v", len(held), len(lockNames), held)
	}
}
