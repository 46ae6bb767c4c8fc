package acctest

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// dialInNetns opens a connection from inside the network namespace at
// nsPath (/run/netns/<name>): what a program on that test host would dial,
// its 127.0.0.1 included. The test reaches a host's loopback this way, with
// no tool of the code under test in between.
//
// A socket belongs to the namespace its creating thread was in, and stays
// there: so the dial runs on a thread of its own, switched into the
// namespace and back. A thread that cannot switch back is never reused: its
// goroutine ends still locked to it, and the runtime discards it.
func dialInNetns(ctx context.Context, nsPath, network, addr string) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		own, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("dial %s in %s: %w", addr, nsPath, err)}
			return
		}
		defer own.Close()
		target, err := os.Open(nsPath)
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("dial %s in %s: %w", addr, nsPath, err)}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("dial %s: enter %s: %w", addr, nsPath, err)}
			return
		}
		var d net.Dialer
		conn, dialErr := d.DialContext(ctx, network, addr)
		if err := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); err != nil {
			// Stay locked: this thread must not run anything else.
			if conn != nil {
				conn.Close()
			}
			done <- result{err: fmt.Errorf("dial %s: leave %s: %w", addr, nsPath, err)}
			return
		}
		runtime.UnlockOSThread()
		if dialErr != nil {
			dialErr = fmt.Errorf("dial %s in %s: %w", addr, nsPath, dialErr)
		}
		done <- result{conn, dialErr}
	}()
	r := <-done
	return r.conn, r.err
}
