package main

import (
	"context"
	"math"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func ms(n ...int) []time.Duration {
	out := make([]time.Duration, len(n))
	for i, v := range n {
		out[i] = time.Duration(v) * time.Millisecond
	}
	return out
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{ms(7), 7 * time.Millisecond},
		{ms(9, 1, 5), 5 * time.Millisecond},
		{ms(4, 1, 3, 2), 2500 * time.Microsecond},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	in := ms(3, 1, 2)
	median(in)
	if in[0] != 3*time.Millisecond {
		t.Errorf("median sorted its argument in place: %v", in)
	}
}

// The percentiles are nearest-rank, as acctest.Load computes them.
func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(100-i) * time.Millisecond // 100..1, unsorted
	}
	for _, tc := range []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 0.5, 0},
		{hundred, 0.50, 50 * time.Millisecond},
		{hundred, 0.99, 99 * time.Millisecond},
		{hundred, 1, 100 * time.Millisecond},
		{hundred, 0, 1 * time.Millisecond},
		{ms(10, 20), 0.5, 10 * time.Millisecond},
		{ms(10, 20), 0.99, 20 * time.Millisecond},
	} {
		if got := percentile(tc.in, tc.p); got != tc.want {
			t.Errorf("percentile(%d values, %v) = %v, want %v", len(tc.in), tc.p, got, tc.want)
		}
	}
}

func TestRatio(t *testing.T) {
	if got := ratio(3, 2); got != 1.5 {
		t.Errorf("ratio(3, 2) = %v", got)
	}
	if got := ratio(1, 0); !math.IsNaN(got) {
		t.Errorf("ratio(1, 0) = %v, want NaN (no floor)", got)
	}
}

func TestProcStatusKB(t *testing.T) {
	status := "Name:\tterraform-provi\nVmPeak:\t  812344 kB\nVmHWM:\t   40960 kB\nVmRSS:\t   38000 kB\n"
	if got, err := procStatusKB(status, "VmHWM"); err != nil || got != 40960 {
		t.Fatalf("VmHWM = %d, %v; want 40960", got, err)
	}
	if got, err := procStatusKB(status, "VmRSS"); err != nil || got != 38000 {
		t.Fatalf("VmRSS = %d, %v; want 38000", got, err)
	}
	if _, err := procStatusKB(status, "VmSwap"); err == nil {
		t.Fatal("a missing field must be an error, not 0")
	}
	if _, err := procStatusKB("VmHWM:\t12 MB\n", "VmHWM"); err == nil {
		t.Fatal("a unit other than kB must be an error")
	}
}

func TestParseProcStat(t *testing.T) {
	// The command name may hold spaces and parentheses; utime 250 and
	// stime 31 are the 12th and 13th fields after it.
	stat := "4242 (terraform-pr) (x)) S 4200 4100 4100 0 -1 4194560 1 0 0 0 250 31 0 0 20 0 9 0 1 1 1"
	st, err := parseProcStat(stat)
	if err != nil || st.pgrp != 4100 || st.cpu != 281 {
		t.Fatalf("parseProcStat = %+v, %v; want pgrp 4100, cpu 281", st, err)
	}
	for _, bad := range []string{"4242 no parens", "4242 (x) S 1 2", "4242 (x) S 1 notanumber 3 4 5 6 7 8 9 10 11 12"} {
		if _, err := parseProcStat(bad); err == nil {
			t.Errorf("parseProcStat(%q): want an error", bad)
		}
	}
}

// TestRSSSamplerFindsTheBinaryInTheGroup runs a real process in a group of
// its own, as acctest runs terraform, and checks that the sampler finds it
// by group and executable and reads its peak; a process of another binary
// in the same group is not counted.
func TestRSSSamplerFindsTheBinaryInTheGroup(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", sleep+" 3 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})

	s := newRSSSampler(cmd.Process.Pid, sleep)
	// sh starts the sleep when a loaded machine lets it: sample 400 ms at
	// a time until it shows, for up to 10 s.
	for deadline := time.Now().Add(10 * time.Second); s.result().Processes == 0 && time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
		s.run(ctx)
		cancel()
	}
	if got := s.result(); got.Processes != 1 || got.PeakRSS <= 0 || got.CPU < 0 {
		t.Fatalf("sampler saw %+v; want the one sleep and a peak > 0", got)
	}

	other := newRSSSampler(cmd.Process.Pid+1_000_000, sleep) // no such group
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	other.run(ctx2)
	if got := other.result(); got.Processes != 0 {
		t.Fatalf("sampler of another group saw %+v", got)
	}
}

// TestRSSSamplerMeasuresCPU checks the CPU time against a process that
// spins for a known wall time on one core.
func TestRSSSamplerMeasuresCPU(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sh, "-c", "i=0; while [ $i -lt 100000000 ]; do i=$((i+1)); done")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	s := newRSSSampler(cmd.Process.Pid, sh)
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	s.run(ctx)
	// It spins until killed; on a shared machine it gets at most the
	// 800 ms of one core: loose bounds.
	if got := s.result(); got.Processes != 1 || got.CPU < 50*time.Millisecond || got.CPU > time.Second {
		t.Fatalf("sampler saw %+v; want one process with 50 ms .. 1 s of CPU", got)
	}
}

// TestChildrenCPUCountsAWaitedChild runs a child that spins, and one that
// sleeps: the first shows in the difference, the second hardly.
func TestChildrenCPUCountsAWaitedChild(t *testing.T) {
	before := childrenCPU()
	spin := exec.Command("sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done")
	start := time.Now()
	if err := spin.Run(); err != nil {
		t.Fatal(err)
	}
	wall := time.Since(start)
	spun := childrenCPU() - before
	if spun < 20*time.Millisecond || spun > wall+20*time.Millisecond {
		t.Fatalf("a child spinning for %v of wall time used %v of CPU, as counted", wall, spun)
	}
	before = childrenCPU()
	if err := exec.Command("sleep", "0.3").Run(); err != nil {
		t.Fatal(err)
	}
	if slept := childrenCPU() - before; slept > 50*time.Millisecond {
		t.Fatalf("a sleeping child counted %v of CPU", slept)
	}
}

func TestTimingsMedians(t *testing.T) {
	ts := timings{{Wall: 3 * time.Second, CPU: 1 * time.Second}, {Wall: time.Second, CPU: 5 * time.Second}, {Wall: 2 * time.Second, CPU: 2 * time.Second}}
	if ts.wall() != 2*time.Second || ts.cpu() != 2*time.Second {
		t.Fatalf("medians = %v, %v; want 2s, 2s", ts.wall(), ts.cpu())
	}
	b, err := ts.MarshalJSON()
	if err != nil || !strings.Contains(string(b), `{"wall_seconds":3,"cpu_seconds":1}`) {
		t.Fatalf("JSON = %s, %v", b, err)
	}
}
