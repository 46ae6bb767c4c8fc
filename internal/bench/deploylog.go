package main

import (
	"bufio"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// deployLog is what the provider's INFO log says of one deploy: when it
// started, how long its steps took ("deploy done" steps=...), and for a
// Git source the clone, the build and the layers the build rebuilt.
type deployLog struct {
	Start           time.Time
	Steps           []stepTime
	Clone, Build    time.Duration
	Rebuilt, Cached int
}

type stepTime struct {
	Step    string
	Elapsed time.Duration
}

var (
	stepsField   = regexp.MustCompile(`steps="([^"]*)"`)
	elapsedField = regexp.MustCompile(`elapsed=(\S+)`)
	rebuiltField = regexp.MustCompile(`layers_rebuilt=(\d+)`)
	cachedField  = regexp.MustCompile(`layers_cached=(\d+)`)
)

// deployLogs reads the deploys logged at or after from, in order.
func deployLogs(path string, from time.Time) []deployLog {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []deployLog
	cur := deployLog{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		ts, _, _ := strings.Cut(line, " ")
		at, err := time.Parse(tfLogTime, ts)
		if err != nil || at.Before(from.Truncate(time.Millisecond)) {
			continue
		}
		switch {
		case strings.Contains(line, ": deploy starting"):
			cur = deployLog{Start: at}
		case strings.Contains(line, ": cloned"):
			cur.Clone = durationField(elapsedField, line)
		case strings.Contains(line, ": image built"):
			cur.Build = durationField(elapsedField, line)
			cur.Rebuilt, cur.Cached = intField(rebuiltField, line), intField(cachedField, line)
		case strings.Contains(line, ": deploy done"):
			if m := stepsField.FindStringSubmatch(line); m != nil {
				cur.Steps = parseSteps(m[1])
			}
			out = append(out, cur)
			cur = deployLog{}
		}
	}
	return out
}

// lastDeploy is the last deploy logged at or after from.
func lastDeploy(path string, from time.Time) deployLog {
	all := deployLogs(path, from)
	if len(all) == 0 {
		return deployLog{}
	}
	return all[len(all)-1]
}

// parseSteps reads "produce=1.2s start=80ms ...".
func parseSteps(s string) []stepTime {
	var out []stepTime
	for _, f := range strings.Fields(s) {
		k, v, ok := strings.Cut(f, "=")
		if d, err := time.ParseDuration(v); ok && err == nil {
			out = append(out, stepTime{k, d})
		}
	}
	return out
}

func durationField(re *regexp.Regexp, line string) time.Duration {
	if m := re.FindStringSubmatch(line); m != nil {
		d, _ := time.ParseDuration(strings.Trim(m[1], `"`))
		return d
	}
	return 0
}

func intField(re *regexp.Regexp, line string) int {
	if m := re.FindStringSubmatch(line); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

// phases splits the time from `from` (the apply starting) to `live` (the
// first answer through Caddy) into: terraform before the deploy (plan,
// refresh, the branch head), the clone, the build, the rest of produce,
// the deploy's steps up to the swap, and the route reaching Caddy's
// answers. Drain, reap and what follows come after the answer.
func (dl deployLog) phases(from, live time.Time) map[string]float64 {
	p := map[string]float64{}
	if dl.Start.IsZero() {
		return p
	}
	p["terraform before the deploy"] = dl.Start.Sub(from).Seconds()
	p["clone"], p["build"] = dl.Clone.Seconds(), dl.Build.Seconds()
	upToSwap := time.Duration(0)
steps:
	for _, s := range dl.Steps {
		switch s.Step {
		case "produce":
			p["produce, other"] = (s.Elapsed - dl.Clone - dl.Build).Seconds()
		case "start", "gate", "swap":
			p[s.Step] = s.Elapsed.Seconds()
		default:
			continue
		}
		upToSwap += s.Elapsed
		if s.Step == "swap" {
			break steps
		}
	}
	p["swap to answer"] = (live.Sub(dl.Start) - upToSwap).Seconds()
	return p
}

// meanSteps is the mean time of each step over deploys, in seconds, and
// the steps in the order they ran.
func meanSteps(dls []deployLog) map[string]float64 {
	sum, n := map[string]float64{}, map[string]int{}
	for _, dl := range dls {
		for _, s := range dl.Steps {
			sum[s.Step] += s.Elapsed.Seconds()
			n[s.Step]++
		}
	}
	for k := range sum {
		sum[k] /= float64(n[k])
	}
	return sum
}

// meanPhases averages phase maps.
func meanPhases(ps []map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for _, p := range ps {
		for k, v := range p {
			out[k] += v / float64(len(ps))
		}
	}
	return out
}

// phaseOrder lists the phases of a breakdown in the order they happen.
var phaseOrder = []string{
	phaseProcessStarts, phaseTerraformOther, "terraform before the deploy", "clone", "build", "produce, other", "produce", "stop", "start", "gate", "swap",
	"swap to answer", "drain", "reap", "after", "run", "probe",
}

func orderedPhases(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortStableFunc(keys, func(a, b string) int {
		ia, ib := slices.Index(phaseOrder, a), slices.Index(phaseOrder, b)
		if ia < 0 {
			ia = len(phaseOrder)
		}
		if ib < 0 {
			ib = len(phaseOrder)
		}
		if ia != ib {
			return ia - ib
		}
		return strings.Compare(a, b)
	})
	return keys
}
