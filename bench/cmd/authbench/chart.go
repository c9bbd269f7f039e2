package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"auth/bench/loadgen"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

func cmdChart(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("chart", flag.ContinueOnError)
	in := fs.String("in", "", "compare's -json output")
	out := fs.String("out", "results.png", "PNG or SVG file to write")
	if err := parse(fs, args); err != nil {
		return err
	}
	b, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	var rep CompareReport
	if err := json.Unmarshal(b, &rep); err != nil {
		return err
	}
	return drawChart(&rep, *out)
}

var palette = []color.Color{
	color.RGBA{0x4c, 0x72, 0xb0, 0xff},
	color.RGBA{0xdd, 0x84, 0x52, 0xff},
	color.RGBA{0x55, 0xa8, 0x68, 0xff},
	color.RGBA{0xc4, 0x4e, 0x52, 0xff},
}

// drawChart draws two bar charts side by side: check throughput and p99
// latency per target, one bar per closed-loop concurrency and the
// open-loop run.
func drawChart(rep *CompareReport, path string) error {
	if hasPeers(rep) {
		return drawPeersChart(rep, path)
	}
	type series struct {
		name string
		pick func(t *TargetResult) (rps, p99 float64, ok bool)
	}
	var names []string
	var avail []*TargetResult
	for _, t := range rep.Targets {
		if t.Available && len(t.Runs) > 0 {
			avail = append(avail, t)
			names = append(names, shortName(t))
		}
	}
	if len(avail) == 0 {
		return errors.New("chart: no target with results")
	}
	// The series are the check runs of the first target (the ceiling):
	// each closed-loop concurrency, then the open-loop rate.
	var ss []series
	for _, r := range avail[0].Runs {
		if r.Label != "check" || r.Round > 1 {
			continue
		}
		mode, c := r.Mode, r.Concurrency
		name := fmt.Sprintf("closed loop, c=%d", c)
		if mode == "open" {
			name = fmt.Sprintf("open loop, %.0f req/s, c=%d", r.TargetRate, c)
		}
		if rep.Rounds > 1 && mode == "closed" {
			name += fmt.Sprintf(" (median of %d)", rep.Rounds)
		}
		ss = append(ss, series{name, func(t *TargetResult) (float64, float64, bool) {
			runs := t.runsOf("check", mode, c)
			if len(runs) == 0 {
				return 0, 0, false
			}
			var rs, p99 []float64
			for _, x := range runs {
				rs, p99 = append(rs, x.RPS), append(p99, x.Latency.P99)
			}
			return median(rs), median(p99), true
		}})
	}
	legends := make([]string, len(ss))
	for i, s := range ss {
		legends[i] = s.name
	}
	mk := func(title, ylabel string, val func(rps, p99 float64) float64, log bool) (*plot.Plot, error) {
		p, err := groupedBars(title, ylabel, names, legends, func(i, j int) float64 {
			if rps, p99, ok := ss[i].pick(avail[j]); ok {
				return val(rps, p99)
			}
			return 0
		})
		if err != nil {
			return nil, err
		}
		if log {
			p.Y.Max = math.Ceil(p.Y.Max + 0.7) // room for the legend
			p.Y.Tick.Marker = log10Ticks{}
		} else {
			p.Y.Max *= 1.35 // room for the legend above the bars
			p.Y.Tick.Marker = intTicks{}
		}
		return p, nil
	}
	tp, err := mk("has_permission throughput", "requests/s", func(rps, _ float64) float64 { return rps }, false)
	if err != nil {
		return err
	}
	// p99 spans microseconds to seconds: bars of log10(µs), labelled in µs.
	lp, err := mk("has_permission p99 latency", "p99 (µs, log scale)", func(_, p99 float64) float64 { return math.Log10(max(p99, 1)) }, true)
	if err != nil {
		return err
	}
	return writePlots(path, 11*vg.Inch, 4.5*vg.Inch, []*plot.Plot{tp, lp})
}

// shortName is a target's label under its bars.
func shortName(t *TargetResult) string {
	switch t.ID {
	case "ceiling":
		return "ceiling"
	case "embedded":
		return "embedded"
	case "mongo":
		return "mongo+nats ×3"
	case "spicedb-postgres":
		return "SpiceDB/PostgreSQL"
	case "spicedb-memory":
		return "SpiceDB/memory"
	case "openfga-sqlite":
		return "OpenFGA/SQLite"
	case "openfga-postgres":
		return "OpenFGA/PostgreSQL"
	}
	return t.Name
}

// log10Ticks labels a log10 axis in the original unit.
type log10Ticks struct{}

func (log10Ticks) Ticks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	for e := math.Floor(min); e <= max; e++ {
		ts = append(ts, plot.Tick{Value: e, Label: fmt.Sprintf("%.0f", math.Pow(10, e))})
		for k := 2.0; k < 10; k++ {
			if v := e + math.Log10(k); v <= max {
				ts = append(ts, plot.Tick{Value: v})
			}
		}
	}
	return ts
}

// intTicks labels the default ticks as integers.
type intTicks struct{}

func (intTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = fmt.Sprintf("%.0f", ts[i].Value)
		}
	}
	return ts
}

// drawPeersChart draws, for auth-server and the peers, check throughput,
// p99 latency and server CPU per check (databases included), each on a
// log scale (they differ by orders of magnitude): one bar per closed-loop
// concurrency, the median over rounds.
func drawPeersChart(rep *CompareReport, path string) error {
	var avail []*TargetResult
	var names []string
	var concs []int
	for _, t := range rep.Targets {
		if !t.Available || len(t.Runs) == 0 || t.ID == "mongo" {
			continue
		}
		avail = append(avail, t)
		names = append(names, shortName(t))
		for _, r := range t.Runs {
			if r.Label == "check" && r.Mode == "closed" && !slices.Contains(concs, r.Concurrency) {
				concs = append(concs, r.Concurrency)
			}
		}
	}
	slices.Sort(concs)
	legends := make([]string, len(concs))
	for i, c := range concs {
		legends[i] = fmt.Sprintf("closed loop, c=%d", c)
		if rep.Rounds > 1 {
			legends[i] += fmt.Sprintf(" (median of %d)", rep.Rounds)
		}
	}
	mk := func(title, ylabel string, val func(*loadgen.Result) float64) (*plot.Plot, error) {
		p, err := groupedBars(title, ylabel, names, legends, func(i, j int) float64 {
			var xs []float64
			for _, r := range avail[j].runsOf("check", "closed", concs[i]) {
				xs = append(xs, val(r))
			}
			if m := median(xs); m > 0 {
				return math.Log10(max(m, 1))
			}
			return 0
		})
		if err != nil {
			return nil, err
		}
		p.Y.Max = math.Ceil(p.Y.Max + 0.7)
		p.Y.Tick.Marker = log10Ticks{}
		return p, nil
	}
	tp, err := mk("checks/s (log scale)", "checks/s", rps)
	if err != nil {
		return err
	}
	lp, err := mk("p99 latency (log scale)", "p99 (µs)", func(r *loadgen.Result) float64 { return r.Latency.P99 })
	if err != nil {
		return err
	}
	cp, err := mk("server CPU per check, database included (log scale)", "µs per check", cpuReq)
	if err != nil {
		return err
	}
	return writePlots(path, 15*vg.Inch, 5*vg.Inch, []*plot.Plot{tp, lp, cp})
}

// groupedBars is a bar chart of groups, one per name along X, each with a
// bar per legend (a series) in turn: val(i, j) is series i's bar in group
// j. Y starts at 0; its top and ticks are the caller's.
func groupedBars(title, ylabel string, names, legends []string, val func(i, j int) float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.Legend.Top = true
	w := vg.Points(48 / float64(len(legends)))
	for i, legend := range legends {
		vals := make(plotter.Values, len(names))
		for j := range names {
			vals[j] = val(i, j)
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return nil, err
		}
		bars.Color = palette[i%len(palette)]
		bars.LineStyle.Width = 0
		bars.Offset = w * vg.Length(2*i-len(legends)+1) / 2
		p.Add(bars)
		p.Legend.Add(legend, bars)
	}
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.7, float64(len(names))-0.3
	p.Y.Min = 0
	return p, nil
}

// writePlots draws plots side by side into a PNG or SVG file.
func writePlots(path string, width, height vg.Length, ps []*plot.Plot) error {
	var c draw.Canvas
	var writeTo func(*os.File) error
	switch strings.ToLower(filepath.Ext(path)) {
	case ".svg":
		sc := vgsvg.New(width, height)
		c = draw.New(sc)
		writeTo = func(f *os.File) error { _, err := sc.WriteTo(f); return err }
	case ".png":
		ic := vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(110))}
		c = draw.New(ic)
		writeTo = func(f *os.File) error { _, err := ic.WriteTo(f); return err }
	default:
		return fmt.Errorf("chart: %s: want .png or .svg", path)
	}
	tiles := draw.Tiles{Rows: 1, Cols: len(ps), PadX: vg.Points(12), PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(6)}
	canvases := plot.Align([][]*plot.Plot{ps}, tiles, c)
	for i, p := range ps {
		p.Draw(canvases[0][i])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := writeTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
