package health

import (
	"testing"
	"time"
)

// The probe's waits: short at first, where most apps start listening, then
// growing by half up to a second, and never past it.
func TestProbeIntervalsStartShortAndGrowToASecond(t *testing.T) {
	d := firstProbeInterval
	var waits []time.Duration
	for range 12 {
		waits = append(waits, d)
		d = nextProbeInterval(d)
	}
	want := []float64{20, 30, 45, 67.5, 101.25, 151.875, 227.8125, 341.71875, 512.578125, 768.8671875, 1000, 1000}
	for i, w := range want {
		if diff := waits[i] - time.Duration(w*float64(time.Millisecond)); diff < -time.Millisecond || diff > time.Millisecond {
			t.Fatalf("wait %d is %s, want %.1f ms (all: %v)", i+1, waits[i], w, waits)
		}
	}
	var firstSecond time.Duration
	n := 0
	for _, w := range waits {
		if firstSecond+w > time.Second {
			break
		}
		firstSecond += w
		n++
	}
	if n < 6 {
		t.Fatalf("only %d probes in the first second (waits %v)", n+1, waits)
	}
}
