package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// Units of a Row.
const (
	unitMillis   = "ms"
	unitSeconds  = "s"
	unitCount    = "count"
	unitMebibyte = "MiB"
)

// Target is what a figure should meet: a ratio at most MaxRatio, or a value
// at most MaxValue (a target of 0 failed requests).
type Target struct {
	MaxRatio float64  `json:"max_ratio,omitempty"`
	MaxValue *float64 `json:"max_value,omitempty"`
}

func maxRatio(r float64) Target { return Target{MaxRatio: r} }
func maxValue(v float64) Target { return Target{MaxValue: &v} }

func (t Target) String() string {
	switch {
	case t.MaxRatio > 0:
		return fmt.Sprintf("ratio <= %g", t.MaxRatio)
	case t.MaxValue != nil:
		return fmt.Sprintf("<= %g", *t.MaxValue)
	}
	return ""
}

// Row is one line of the table: a figure of tinyforge beside its floor,
// measured in the same run.
type Row struct {
	Scenario  string  `json:"scenario"`
	Unit      string  `json:"unit"`
	Tinyforge float64 `json:"tinyforge"`
	Floor     float64 `json:"floor"`
	// FloorIs says what the floor is ("no-op provider", "steady state").
	FloorIs string `json:"floor_is"`
	// Ratio is Tinyforge / Floor; null when the floor is 0.
	Ratio  *float64 `json:"ratio"`
	Target *Target  `json:"target,omitempty"`
	// Met is whether Target holds; null without a target.
	Met *bool `json:"met,omitempty"`
}

func newRow(scenario, unit string, tinyforge, floor float64, floorIs string, target *Target) Row {
	r := Row{Scenario: scenario, Unit: unit, Tinyforge: tinyforge, Floor: floor, FloorIs: floorIs, Target: target}
	if q := ratio(tinyforge, floor); !math.IsNaN(q) {
		r.Ratio = &q
	}
	if target != nil {
		met := true
		if target.MaxRatio > 0 {
			met = r.Ratio != nil && *r.Ratio <= target.MaxRatio
		}
		if target.MaxValue != nil {
			met = met && tinyforge <= *target.MaxValue
		}
		r.Met = &met
	}
	return r
}

func durationRow(scenario string, tinyforge, floor time.Duration, floorIs string, target *Target) Row {
	unit, div := unitMillis, float64(time.Millisecond)
	if max(tinyforge, floor) >= 10*time.Second {
		unit, div = unitSeconds, float64(time.Second)
	}
	return newRow(scenario, unit, float64(tinyforge)/div, float64(floor)/div, floorIs, target)
}

func countRow(scenario string, tinyforge, floor int, floorIs string, target *Target) Row {
	return newRow(scenario, unitCount, float64(tinyforge), float64(floor), floorIs, target)
}

func formatValue(v float64, unit string) string {
	switch unit {
	case unitCount:
		return fmt.Sprintf("%.0f", v)
	case unitMillis:
		if v < 10 {
			return fmt.Sprintf("%.1f ms", v)
		}
		return fmt.Sprintf("%.0f ms", v)
	case unitSeconds:
		return fmt.Sprintf("%.2f s", v)
	case unitMebibyte:
		return fmt.Sprintf("%.1f MiB", v)
	}
	return fmt.Sprintf("%g %s", v, unit)
}

// verdict is the target column: the target and whether it is met.
func (r Row) verdict() string {
	if r.Target == nil {
		return ""
	}
	mark := "MISSED"
	if *r.Met {
		mark = "ok"
	}
	return r.Target.String() + "  " + mark
}

// WriteTable prints the rows as an aligned text table, then the legend of
// the floors.
func WriteTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\ttinyforge\tfloor\tratio\ttarget")
	for _, r := range rows {
		q := "-"
		if r.Ratio != nil {
			q = fmt.Sprintf("%.2f", *r.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s (%s)\t%s\t%s\n", r.Scenario, formatValue(r.Tinyforge, r.Unit),
			formatValue(r.Floor, r.Unit), r.FloorIs, q, r.verdict())
	}
	return tw.Flush()
}

// WriteMarkdown prints the rows as a Markdown table, for docs/BENCHMARKS.md.
func WriteMarkdown(w io.Writer, rows []Row) error {
	var b strings.Builder
	b.WriteString("| scenario | tinyforge | floor | ratio | target | met |\n|---|---:|---:|---:|---|---|\n")
	for _, r := range rows {
		q := "-"
		if r.Ratio != nil {
			q = fmt.Sprintf("%.2f", *r.Ratio)
		}
		target, met := "", ""
		if r.Target != nil {
			target, met = r.Target.String(), "missed"
			if *r.Met {
				met = "met"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s (%s) | %s | %s | %s |\n", r.Scenario, formatValue(r.Tinyforge, r.Unit),
			formatValue(r.Floor, r.Unit), r.FloorIs, q, target, met)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Report is the JSON the benchmark writes: the same rows as the table, the
// machine and settings they were measured with, the details behind them
// (call breakdowns, every repetition) and the findings.
type Report struct {
	Started  time.Time      `json:"started"`
	Elapsed  string         `json:"elapsed"`
	Complete bool           `json:"complete"`
	Machine  Machine        `json:"machine"`
	Options  options        `json:"options"`
	Rows     []Row          `json:"rows"`
	Details  map[string]any `json:"details"`
	// Breakdowns say where the time of some rows went.
	Breakdowns []Breakdown `json:"breakdowns,omitempty"`
	Findings   []string    `json:"findings"`
	Errors     []string    `json:"errors,omitempty"`
}

// Machine is what the figures were measured on.
type Machine struct {
	CPUModel  string  `json:"cpu_model"`
	CPUs      int     `json:"cpus"`
	MemoryGiB float64 `json:"memory_gib"`
	Go        string  `json:"go"`
	Docker    string  `json:"docker"`
	Terraform string  `json:"terraform"`
	Caddy     string  `json:"caddy"`
}

func writeJSON(path string, r *Report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// String names the machine in one line, for the table's heading.
func (m Machine) String() string {
	return fmt.Sprintf("%s, %d cores, %.1f GiB memory, Docker %s, %s, %s, %s",
		cmp.Or(m.CPUModel, "unknown CPU"), m.CPUs, m.MemoryGiB, m.Docker, m.Terraform, m.Caddy, m.Go)
}

// Breakdown is where a row's time went: tinyforge's phases and the
// floor's, in seconds (means over the repetitions).
type Breakdown struct {
	Row       string             `json:"row"`
	Tinyforge map[string]float64 `json:"tinyforge"`
	Floor     map[string]float64 `json:"floor,omitempty"`
}

// WriteBreakdowns prints each breakdown as a Markdown list.
func WriteBreakdowns(w io.Writer, bs []Breakdown) error {
	var b strings.Builder
	for _, bd := range bs {
		fmt.Fprintf(&b, "- **%s**\n  - tinyforge: %s\n", bd.Row, phaseList(bd.Tinyforge))
		if len(bd.Floor) > 0 {
			fmt.Fprintf(&b, "  - floor: %s\n", phaseList(bd.Floor))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func phaseList(m map[string]float64) string {
	var parts []string
	for _, k := range orderedPhases(m) {
		parts = append(parts, fmt.Sprintf("%s %s", k, formatValue(m[k]*1000, unitMillis)))
	}
	return strings.Join(parts, ", ")
}

// The markers between which UpdateDoc writes the run's table.
const (
	docStart = "<!-- bench:table:start (written by make bench; do not edit) -->"
	docEnd   = "<!-- bench:table:end -->"
)

// UpdateDoc replaces what lies between the bench markers of the Markdown
// file at path with the run's machine, table and breakdowns.
func UpdateDoc(path string, r *Report) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	before, rest, ok := strings.Cut(string(old), docStart)
	_, after, ok2 := strings.Cut(rest, docEnd)
	if !ok || !ok2 {
		return fmt.Errorf("%s has no %q ... %q markers", path, docStart, docEnd)
	}
	var b strings.Builder
	b.WriteString(docStart + "\n\n")
	status := "a complete run"
	if !r.Complete {
		status = "an INCOMPLETE run (see its errors in the JSON report)"
	}
	fmt.Fprintf(&b, "From %s of %s on %s, started %s, %s elapsed.\n\n", status, r.Options.Scenarios, r.Machine,
		r.Started.UTC().Format("2006-01-02 15:04 UTC"), r.Elapsed)
	if err := WriteMarkdown(&b, r.Rows); err != nil {
		return err
	}
	if len(r.Breakdowns) > 0 {
		b.WriteString("\nWhere the time goes (means per deploy, from the provider's step timings; the floor's from its script):\n\n")
		if err := WriteBreakdowns(&b, r.Breakdowns); err != nil {
			return err
		}
	}
	b.WriteString("\n" + docEnd)
	return os.WriteFile(path, []byte(before+b.String()+after), 0o644)
}
