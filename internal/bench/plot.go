package main

import (
	"bufio"
	"fmt"
	"image/color"
	"os"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// timeline is one redeploy under load, kept for the picture: every request
// from a second before the apply to a second after it, and the moments of
// the deploy's steps.
type timeline struct {
	Strategy string
	Start    time.Time
	Samples  []acctest.Sample
	// Marks are the steps' moments: start (the apply began), gate (the
	// new container passed its gate), swap (the first answer of the new
	// version), reap (the old container is being removed).
	Marks map[string]time.Time
}

// tfLogTime is the timestamp layout of a terraform log line.
const tfLogTime = "2006-01-02T15:04:05.000Z0700"

// stepMarks finds, in a terraform log, the first line after from that
// carries each of msgs, and returns when it was written.
func stepMarks(path string, from time.Time, msgs map[string]string) map[string]time.Time {
	out := map[string]time.Time{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		ts, _, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		at, err := time.Parse(tfLogTime, ts)
		if err != nil || at.Before(from.Truncate(time.Millisecond)) {
			continue
		}
		for mark, msg := range msgs {
			if _, seen := out[mark]; !seen && strings.Contains(line, msg) {
				out[mark] = at
			}
		}
	}
	return out
}

// renderTimelines draws each timeline as one panel, one above the other:
// the latency of every request over time (failures in red, at the top),
// with the steps marked.
func renderTimelines(path string, tls []timeline) error {
	const width, panelHeight = 9 * vg.Inch, 3.2 * vg.Inch
	img := vgimg.New(width, panelHeight*vg.Length(len(tls)))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(tls), Cols: 1, PadY: vg.Points(6)}
	for i, tl := range tls {
		p, err := timelinePlot(tl)
		if err != nil {
			return err
		}
		p.Draw(tiles.At(dc, 0, i))
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func timelinePlot(tl timeline) (*plot.Plot, error) {
	p := plot.New()
	var ok, failed plotter.XYs
	top := 1.0
	for _, s := range tl.Samples {
		ms := float64(s.Latency) / float64(time.Millisecond)
		if s.OK {
			top = max(top, ms)
		}
	}
	top *= 1.15
	for _, s := range tl.Samples {
		x := s.Start.Sub(tl.Start).Seconds()
		ms := float64(s.Latency) / float64(time.Millisecond)
		if s.OK {
			ok = append(ok, plotter.XY{X: x, Y: ms})
		} else {
			failed = append(failed, plotter.XY{X: x, Y: min(ms, top)})
		}
	}
	p.Title.Text = fmt.Sprintf("%s redeploy under load: %d requests, %d failed", tl.Strategy, len(tl.Samples), len(failed))
	p.X.Label.Text = "seconds since terraform apply started"
	p.Y.Label.Text = "request latency (ms)"
	p.Y.Min, p.Y.Max = 0, top
	if len(ok) > 0 {
		s, err := plotter.NewScatter(ok)
		if err != nil {
			return nil, err
		}
		s.GlyphStyle.Radius = vg.Points(1)
		s.GlyphStyle.Color = color.RGBA{R: 40, G: 90, B: 200, A: 255}
		p.Add(s)
		p.Legend.Add("answered", s)
	}
	if len(failed) > 0 {
		s, err := plotter.NewScatter(failed)
		if err != nil {
			return nil, err
		}
		s.GlyphStyle.Radius = vg.Points(2)
		s.GlyphStyle.Color = color.RGBA{R: 220, G: 30, B: 30, A: 255}
		p.Add(s)
		p.Legend.Add("failed", s)
	}
	var labels plotter.XYLabels
	for i, mark := range []string{"start", "stop", "gate", "swap", "reap"} {
		at, ok := tl.Marks[mark]
		if !ok {
			continue
		}
		x := at.Sub(tl.Start).Seconds()
		line, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: top}})
		if err != nil {
			return nil, err
		}
		line.LineStyle.Color = color.Gray{Y: 90}
		line.LineStyle.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
		p.Add(line)
		// Stepped down, so that the labels of close moments (gate, swap
		// and reap fall within a few hundred ms) do not overprint.
		labels.XYs = append(labels.XYs, plotter.XY{X: x, Y: top * (0.95 - 0.09*float64(i))})
		labels.Labels = append(labels.Labels, " "+mark)
	}
	if len(labels.Labels) > 0 {
		l, err := plotter.NewLabels(labels)
		if err != nil {
			return nil, err
		}
		p.Add(l)
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs = vg.Points(40)
	p.Add(plotter.NewGrid())
	return p, nil
}
