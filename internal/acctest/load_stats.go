package acctest

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"
)

// Stats is what a Run saw. Counts cover every finished request; latencies,
// Window, Sequence and Samples cover the kept samples (all of them unless
// Dropped > 0).
type Stats struct {
	Total  int // requests finished
	Failed int // transport errors and non-2xx answers
	// Connections is how many connections the clients opened: over
	// HTTPS, how many TLS handshakes they began.
	Connections int
	// Retried is how many requests were sent again after a reset
	// (Load.RetryResets).
	Retried int
	// Bodies counts the ok (2xx) answers by trimmed body.
	Bodies map[string]int
	// FirstFailures are the earliest failure messages ("+1.2s: status 502:
	// ..."), at most 5.
	FirstFailures []string
	// Latency is over all kept requests, failed ones included (a timeout
	// is a slow request too).
	Latency Latency
	// Start and End are when the Run started and stopped.
	Start, End time.Time
	// Dropped is how many requests were counted but not kept as samples.
	Dropped int

	samples   []sample // in start order
	bodyNames []string
	failures  []loadFailure // in time order, up to 5 per client
}

// Latency summarises request latencies (nearest-rank percentiles).
type Latency struct {
	P50, P99, Max time.Duration
}

// Sample is one request as Samples reports it.
type Sample struct {
	Start   time.Time
	Latency time.Duration
	OK      bool
	Body    string // trimmed body of an ok answer, "" for a failure
}

// Window is the Stats of the requests that started in [from, to): the swap
// of a deploy against the steady state around it. Its FirstFailures come
// only from the failures the Run kept (up to 5 per client), and Dropped is
// 0.
func (s Stats) Window(from, to time.Time) Stats {
	lo, hi := from.Sub(s.Start), to.Sub(s.Start)
	first, _ := slices.BinarySearchFunc(s.samples, lo, func(smp sample, at time.Duration) int { return cmp.Compare(smp.at, at) })
	last, _ := slices.BinarySearchFunc(s.samples, hi, func(smp sample, at time.Duration) int { return cmp.Compare(smp.at, at) })
	if last < first {
		last = first
	}
	w := Stats{
		Bodies:    map[string]int{},
		Start:     from,
		End:       to,
		samples:   s.samples[first:last],
		bodyNames: s.bodyNames,
	}
	for _, smp := range w.samples {
		w.Total++
		if smp.ok {
			w.Bodies[s.bodyNames[smp.body]]++
		} else {
			w.Failed++
		}
	}
	for _, f := range s.failures {
		if f.at >= lo && f.at < hi {
			w.failures = append(w.failures, loadFailure{f.at - lo, f.msg})
		}
	}
	// Re-base the samples on the window's start, so that Window of a
	// Window and Samples keep meaning what they say.
	rebased := make([]sample, len(w.samples))
	for i, smp := range w.samples {
		smp.at -= lo
		rebased[i] = smp
	}
	w.samples = rebased
	w.FirstFailures = firstFailures(w.failures)
	w.Latency = latencyOf(w.samples)
	return w
}

// Sequence is the order in which the ok bodies changed, by request start:
// consecutive repeats collapse, so a clean blue-green swap reads
// ["v1", "v2"] and a flapping one ["v1", "v2", "v1", "v2"]. With several
// clients, requests that start within microseconds of each other may reach
// the server in the other order: assert on a swap that is not that close,
// or use Window.
func (s Stats) Sequence() []string {
	var seq []string
	for _, smp := range s.samples {
		if !smp.ok {
			continue
		}
		if body := s.bodyNames[smp.body]; len(seq) == 0 || seq[len(seq)-1] != body {
			seq = append(seq, body)
		}
	}
	return seq
}

// Samples returns the kept requests in start order.
func (s Stats) Samples() []Sample {
	out := make([]Sample, len(s.samples))
	for i, smp := range s.samples {
		out[i] = Sample{
			Start:   s.Start.Add(smp.at),
			Latency: time.Duration(smp.latency) * time.Microsecond,
			OK:      smp.ok,
		}
		if smp.ok {
			out[i].Body = s.bodyNames[smp.body]
		}
	}
	return out
}

func firstFailures(failures []loadFailure) []string {
	var out []string
	for _, f := range failures[:min(len(failures), keptFailures)] {
		out = append(out, fmt.Sprintf("+%s: %s", f.at.Round(time.Millisecond), f.msg))
	}
	return out
}

func latencyOf(samples []sample) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	lat := make([]uint32, len(samples))
	for i, smp := range samples {
		lat[i] = smp.latency
	}
	slices.Sort(lat)
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(lat)))) - 1
		return time.Duration(lat[max(i, 0)]) * time.Microsecond
	}
	return Latency{P50: rank(0.50), P99: rank(0.99), Max: time.Duration(lat[len(lat)-1]) * time.Microsecond}
}
