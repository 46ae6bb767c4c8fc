package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// median of ds; 0 for none. With an even count it is the mean of the two
// middle values.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// medianCount is the median of counts, the lower middle one of an even
// number of them.
func medianCount(xs []int) int {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// percentile is the nearest-rank percentile (p in [0, 1]) of ds, the
// definition acctest.Load uses, so that windows and whole runs compare.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// ratio is a/b, or NaN when b is 0 (no floor to compare with).
func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// procStatusKB reads a "kB" field of /proc/<pid>/status (VmHWM, VmRSS).
func procStatusKB(status, field string) (int64, error) {
	s := bufio.NewScanner(strings.NewReader(status))
	for s.Scan() {
		name, rest, ok := strings.Cut(s.Text(), ":")
		if !ok || name != field {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%s: unexpected value %q", field, rest)
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, fmt.Errorf("no %s in the process status", field)
}

// procStat is what the sampler reads from /proc/<pid>/stat.
type procStat struct {
	pgrp int
	// cpu is user + system time in clock ticks (USER_HZ, 100 per second
	// on Linux whatever the kernel's HZ).
	cpu int64
}

// userHZ is the unit of the CPU times in /proc/<pid>/stat.
const userHZ = 100

// parseProcStat reads /proc/<pid>/stat. Fields are counted after the
// command name, which is in parentheses and may itself hold spaces and
// parentheses: state, ppid, pgrp, ... utime (12th), stime (13th).
func parseProcStat(stat string) (procStat, error) {
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return procStat{}, fmt.Errorf("malformed stat %q", stat)
	}
	f := strings.Fields(stat[end+1:])
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("malformed stat %q", stat)
	}
	pgrp, err := strconv.Atoi(f[2])
	if err != nil {
		return procStat{}, fmt.Errorf("stat pgrp %q: %w", f[2], err)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return procStat{}, fmt.Errorf("stat cpu times %q %q: malformed", f[11], f[12])
	}
	return procStat{pgrp: pgrp, cpu: utime + stime}, nil
}

// rssSampler watches the processes of one process group (a terraform run:
// acctest starts each in a group of its own) whose executable is binary,
// and keeps the highest VmHWM (peak resident set) it reads from any of
// them, and the CPU time each used. Terraform may start a provider more
// than once in one run (schema, validate, plan, apply); the peak is over
// all of them, the CPU time their sum (as last read, at most 5 ms before
// each exited).
type rssSampler struct {
	pgid   int
	binary string
	proc   string // "/proc", a parameter for tests

	mu      sync.Mutex
	peakKB  int64
	pids    map[int]bool  // provider processes seen
	cpu     map[int]int64 // last CPU ticks read, by pid
	samples int
}

func newRSSSampler(pgid int, binary string) *rssSampler {
	if resolved, err := filepath.EvalSymlinks(binary); err == nil {
		binary = resolved
	}
	return &rssSampler{pgid: pgid, binary: binary, proc: "/proc", pids: map[int]bool{}, cpu: map[int]int64{}}
}

// run samples until ctx ends: the known provider processes every 5 ms (a
// provider lives for the whole plan, so its VmHWM read shortly before it
// exits is its peak), and the whole /proc every 50 ms for new ones.
func (s *rssSampler) run(ctx context.Context) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		if i%10 == 0 {
			s.scan()
		}
		s.sampleKnown()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// scan finds new processes of the group running binary.
func (s *rssSampler) scan() {
	entries, err := os.ReadDir(s.proc)
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		s.mu.Lock()
		known := s.pids[pid]
		s.mu.Unlock()
		if known {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(s.proc, e.Name(), "stat"))
		if err != nil {
			continue
		}
		if st, err := parseProcStat(string(stat)); err != nil || st.pgrp != s.pgid {
			continue
		}
		exe, err := os.Readlink(filepath.Join(s.proc, e.Name(), "exe"))
		if err != nil || strings.TrimSuffix(exe, " (deleted)") != s.binary {
			continue
		}
		s.mu.Lock()
		s.pids[pid] = true
		s.mu.Unlock()
	}
}

func (s *rssSampler) sampleKnown() {
	s.mu.Lock()
	pids := make([]int, 0, len(s.pids))
	for pid := range s.pids {
		pids = append(pids, pid)
	}
	s.mu.Unlock()
	for _, pid := range pids {
		dir := filepath.Join(s.proc, strconv.Itoa(pid))
		if b, err := os.ReadFile(filepath.Join(dir, "stat")); err == nil {
			if st, err := parseProcStat(string(b)); err == nil {
				s.mu.Lock()
				s.cpu[pid] = max(s.cpu[pid], st.cpu)
				s.mu.Unlock()
			}
		}
		b, err := os.ReadFile(filepath.Join(dir, "status"))
		if err != nil {
			continue // exited
		}
		kb, err := procStatusKB(string(b), "VmHWM")
		if err != nil {
			continue
		}
		s.mu.Lock()
		s.samples++
		s.peakKB = max(s.peakKB, kb)
		s.mu.Unlock()
	}
}

// sampled is what an rssSampler saw.
type sampled struct {
	PeakRSS   int64         // bytes, the highest VmHWM of any process
	Processes int           // provider processes seen
	CPU       time.Duration // their CPU time, user + system, summed
}

func (s *rssSampler) result() sampled {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ticks int64
	for _, t := range s.cpu {
		ticks += t
	}
	return sampled{PeakRSS: s.peakKB * 1024, Processes: len(s.pids), CPU: time.Duration(ticks) * time.Second / userHZ}
}

// childrenCPU is the CPU time (user + system) of this process's children
// that have exited and been waited for. Linux counts into a child's usage
// that of the descendants it waited for, so terraform's includes the
// provider processes it ran: the difference around one terraform run is
// that run's CPU, as long as no other child of ours exits meanwhile.
func childrenCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// timing is one run's wall time and CPU time.
type timing struct {
	Wall time.Duration
	CPU  time.Duration
}

// timings are the repetitions of one measurement.
type timings []timing

func (ts timings) wall() time.Duration {
	return median(ts.pick(func(t timing) time.Duration { return t.Wall }))
}
func (ts timings) cpu() time.Duration {
	return median(ts.pick(func(t timing) time.Duration { return t.CPU }))
}

func (ts timings) pick(f func(timing) time.Duration) []time.Duration {
	out := make([]time.Duration, len(ts))
	for i, t := range ts {
		out[i] = f(t)
	}
	return out
}

// MarshalJSON lists the repetitions in seconds.
func (ts timings) MarshalJSON() ([]byte, error) {
	type rep struct {
		Wall float64 `json:"wall_seconds"`
		CPU  float64 `json:"cpu_seconds"`
	}
	out := make([]rep, len(ts))
	for i, t := range ts {
		out[i] = rep{t.Wall.Seconds(), t.CPU.Seconds()}
	}
	return json.Marshal(out)
}
