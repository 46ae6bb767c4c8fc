package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

func TestNewRowRatioAndTarget(t *testing.T) {
	r := newRow("plan", unitMillis, 300, 200, "no-op provider", &Target{MaxRatio: 1.5})
	if r.Ratio == nil || *r.Ratio != 1.5 || r.Met == nil || !*r.Met {
		t.Fatalf("row = %+v, want ratio 1.5, met (the bound is inclusive)", r)
	}
	r = newRow("plan", unitMillis, 301, 200, "no-op provider", &Target{MaxRatio: 1.5})
	if *r.Met {
		t.Fatalf("ratio %v met a target of 1.5", *r.Ratio)
	}
	zero := maxValue(0)
	r = countRow("failed", 0, 0, "physical limit", &zero)
	if r.Ratio != nil || !*r.Met {
		t.Fatalf("0 of floor 0: %+v, want no ratio and met", r)
	}
	r = countRow("failed", 3, 0, "physical limit", &zero)
	if *r.Met {
		t.Fatal("3 failed requests met a target of 0")
	}
	if r = countRow("lists", 2, 2, "one of each", nil); r.Met != nil || r.Ratio == nil || *r.Ratio != 1 {
		t.Fatalf("untargeted row = %+v", r)
	}
}

func TestDurationRowPicksItsUnit(t *testing.T) {
	r := durationRow("x", 1500*time.Millisecond, 500*time.Millisecond, "f", nil)
	if r.Unit != unitMillis || r.Tinyforge != 1500 || r.Floor != 500 || *r.Ratio != 3 {
		t.Fatalf("row = %+v", r)
	}
	r = durationRow("x", 12*time.Second, 3*time.Second, "f", nil)
	if r.Unit != unitSeconds || r.Tinyforge != 12 || r.Floor != 3 {
		t.Fatalf("row = %+v", r)
	}
}

func TestWriteTableAndMarkdown(t *testing.T) {
	limit := maxRatio(1.3)
	rows := []Row{
		durationRow("2 deploy latency", 780*time.Millisecond, 400*time.Millisecond, "script", &limit),
		countRow("1 failed requests", 0, 0, "physical limit", nil),
		newRow("5 peak RSS", unitMebibyte, 64.5, 46, "no-op provider", nil),
	}
	var txt, md bytes.Buffer
	if err := WriteTable(&txt, rows); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"scenario", "780 ms", "400 ms (script)", "1.95", "ratio <= 1.3  MISSED", "64.5 MiB", "46.0 MiB (no-op provider)"} {
		if !strings.Contains(txt.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, txt.String())
		}
	}
	if err := WriteMarkdown(&md, rows); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(md.String()), "\n")
	if len(lines) != 2+len(rows) || !strings.HasPrefix(lines[2], "| 2 deploy latency | 780 ms | 400 ms (script) | 1.95 |") {
		t.Fatalf("markdown:\n%s", md.String())
	}
	// A row with no floor shows "-", not NaN or Inf.
	if !strings.Contains(lines[3], "| - |") {
		t.Fatalf("row with a zero floor: %s", lines[3])
	}
}

func TestReportJSONHasNoNaN(t *testing.T) {
	r := &Report{Rows: []Row{countRow("failed", 0, 0, "physical limit", nil)}, Details: map[string]any{}}
	path := filepath.Join(t.TempDir(), "r.json")
	if err := writeJSON(path, r); err != nil {
		t.Fatalf("writeJSON: %v (a NaN ratio would fail to encode)", err)
	}
	var back Report
	b, _ := json.Marshal(r)
	if err := json.Unmarshal(b, &back); err != nil || back.Rows[0].Ratio != nil {
		t.Fatalf("round trip: %+v, %v", back.Rows, err)
	}
	if !math.IsNaN(ratio(1, 0)) {
		t.Fatal("ratio with no floor must be NaN, and rows must not carry it")
	}
}

func sample(at time.Time, ms int, ok bool, body string) acctest.Sample {
	return acctest.Sample{Start: at, Latency: time.Duration(ms) * time.Millisecond, OK: ok, Body: body}
}

func TestFailureWindowAndFirstAnswer(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ss := []acctest.Sample{
		sample(at(0), 2, true, "v1"),
		sample(at(100), 1, false, ""),
		sample(at(150), 300, false, ""), // a slow failure ends at 450
		sample(at(400), 5, false, ""),   // ends at 405, before the slow one
		sample(at(500), 2, true, "v2"),
		sample(at(600), 2, true, "v2"),
	}
	if got := failureWindow(ss); got != 350*time.Millisecond {
		t.Fatalf("failureWindow = %v, want 350ms (100 -> 450)", got)
	}
	if got := failureWindow(ss[:1]); got != 0 {
		t.Fatalf("failureWindow with no failure = %v", got)
	}
	if got, ok := firstAnswer(ss, "v2"); !ok || !got.Equal(at(500)) {
		t.Fatalf("firstAnswer(v2) = %v, %v; want +500ms", got, ok)
	}
	if _, ok := firstAnswer(ss, "v3"); ok {
		t.Fatal("firstAnswer found a body nobody answered")
	}
	l := latencyOver(ss)
	if l.Requests != 6 || l.P50 != 2 || l.Max != 300 {
		t.Fatalf("latencyOver = %+v, want 6 requests, p50 2 ms, max 300 ms", l)
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-n", "200, 10,50", "-plan-reps", "2"})
	if err != nil || len(o.Ns) != 3 || o.Ns[0] != 10 || o.Ns[2] != 200 || o.PlanReps != 2 {
		t.Fatalf("parseFlags = %+v, %v; want N sorted 10,50,200", o, err)
	}
	o, err = parseFlags([]string{"-quick"})
	if err != nil || o.Redeploys != 1 || o.DeployReps != 1 || o.PlanReps != 1 || len(o.Ns) != 2 {
		t.Fatalf("quick = %+v, %v", o, err)
	}
	for _, bad := range [][]string{{"-n", "0"}, {"-n", "ten"}, {"-plan-reps", "0"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
	if !o.runs("2") || !o.runs("9") || !o.runs("10") || o.runs("4") || o.runs("1,2") {
		t.Fatalf("runs: default scenarios are 1,2,3,6,7,8,9,10 (3 runs 4 and 5 itself)")
	}
}

func TestUpdateDocRewritesOnlyBetweenTheMarkers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "B.md")
	if err := os.WriteFile(path, []byte("# B\n\n"+docStart+"\nold table\n"+docEnd+"\n\nkept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	target := maxRatio(1.2)
	r := &Report{Complete: true, Elapsed: "1m0s", Machine: Machine{CPUModel: "Test CPU", CPUs: 2, MemoryGiB: 4, Docker: "20.10.24"},
		Options:    options{Scenarios: "7"},
		Rows:       []Row{durationRow("7 push to live", 1300*time.Millisecond, 1000*time.Millisecond, "script", &target)},
		Breakdowns: []Breakdown{{Row: "7 push to live", Tinyforge: map[string]float64{"build": 0.5, "clone": 0.1}}}}
	if err := UpdateDoc(path, r); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	got := string(b)
	for _, want := range []string{"# B\n\n" + docStart, "Test CPU, 2 cores, 4.0 GiB memory, Docker 20.10.24",
		"| 7 push to live | 1300 ms | 1000 ms (script) | 1.30 | ratio <= 1.2 | missed |", "tinyforge: clone 100 ms, build 500 ms",
		docEnd + "\n\nkept\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("doc lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "old table") {
		t.Errorf("the old table is still there:\n%s", got)
	}
}

// TestFetchedLineIsTheStepsOutput: the dependency step's output line
// counts, in the provider's log and the CLI's plain output; the step's
// command, which holds the word too, does not.
func TestFetchedLineIsTheStepsOutput(t *testing.T) {
	for line, want := range map[string]bool{
		`2026-12-07T05:00:00.000Z [INFO]  provider.terraform-provider-tinyforge: build: #9 dependency-fetched: @module=tinyforge workload=w`: true,
		"#9 0.512 dependency-fetched": true,
		"#9 dependency-cached":        false,
		`#9 [9/9] RUN --mount=type=cache,target=/var/cache/deps sh -c 'if [ -f /var/cache/deps/dep.bin ]; then echo dependency-cached; else echo dependency-fetched; sleep 2; fi'`: false,
	} {
		if got := fetchedLine.MatchString(line); got != want {
			t.Errorf("fetchedLine matches %q: %v, want %v", line, got, want)
		}
	}
}
