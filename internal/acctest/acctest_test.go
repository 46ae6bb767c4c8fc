package acctest

import (
	"net"
	"strconv"
	"testing"
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

	var lockName string
	t.Run("held", func(t *testing.T) {
		seen := map[int]bool{}
		for range 50 {
			port := FreePort(t)
			if port < lo || port > hi || seen[port] {
				t.Fatalf("FreePort = %d: want a port in %d-%d not handed out before", port, lo, hi)
			}
			seen[port] = true
			if lockName == "" {
				lockName = "@tinyforge-acctest-port-" + strconv.Itoa(port)
				if other, err := net.Listen("unix", lockName); err == nil {
					other.Close()
					t.Fatalf("port %d is reserved, yet its lock %s could be taken again", port, lockName)
				}
			}
		}
	})
	// The subtest ended: its ports are free for others again.
	other, err := net.Listen("unix", lockName)
	if err != nil {
		t.Fatalf("the lock %s is still held after the test that reserved it ended: %v", lockName, err)
	}
	other.Close()
}
