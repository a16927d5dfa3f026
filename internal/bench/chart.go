package bench

import (
	"fmt"
	"math"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// triggerTicks labels the x axis at each run's trigger, as given ("250ms").
func triggerTicks(rs []Result) plot.Ticker {
	var ticks plot.ConstantTicks
	for _, r := range rs {
		if r.TriggerMs > 0 {
			ticks = append(ticks, plot.Tick{Value: float64(r.TriggerMs) / 1000, Label: r.Trigger})
		}
	}
	if len(ticks) == 0 {
		return plot.LogTicks{Prec: -1}
	}
	return ticks
}

// latencyTitle says what the runs' latency measures: from the Kafka produce
// timestamp (fixed-rate runs) or from the moment the pipeline polled the
// record (max-rate runs, where everything was produced first), in both cases
// to the commit that made the row visible.
func latencyTitle(rs []Result) string {
	from := map[string]bool{}
	for _, r := range rs {
		from[r.LatencyFrom] = true
	}
	switch {
	case len(from) == 1 && from["produce"]:
		return "event-to-visible latency: Kafka produce timestamp -> commit that made the row visible"
	case len(from) == 1 && from["poll"]:
		return "poll-to-visible latency: record polled by floe -> commit that made the row visible"
	default:
		return "latency to the commit that made the row visible (from produce or poll, see results)"
	}
}

// WriteChart draws, against the trigger interval (log scale), throughput,
// latency (p50, p95, p99, titled with what it measures) and data files per
// commit with the average file size, as a PNG.
func WriteChart(path string, rs []Result) error {
	thr := plot.New()
	thr.Title.Text = "throughput: events committed per second of the run"
	thr.X.Label.Text = "trigger (log scale)"
	thr.Y.Label.Text = "events/s"
	thr.X.Scale = plot.LogScale{}
	thr.X.Tick.Marker = triggerTicks(rs)
	thr.Legend.Top = true
	thr.Legend.Left = true

	lat := plot.New()
	lat.Title.Text = latencyTitle(rs)
	lat.X.Label.Text = "trigger (log scale)"
	lat.Y.Label.Text = "latency (s)"
	lat.X.Scale = plot.LogScale{}
	lat.X.Tick.Marker = triggerTicks(rs)
	lat.Legend.Top = true
	lat.Legend.Left = true

	files := plot.New()
	files.Title.Text = "data files per commit and average file size vs trigger"
	files.X.Label.Text = "trigger (log scale)"
	files.Y.Label.Text = "files per commit / avg file KiB"
	files.X.Scale = plot.LogScale{}
	files.X.Tick.Marker = triggerTicks(rs)
	files.Y.Scale = plot.LogScale{}
	files.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	files.Legend.Top = true
	files.Legend.Left = true

	series := func(f func(Result) float64) plotter.XYs {
		var xy plotter.XYs
		for _, r := range rs {
			y := f(r)
			if r.TriggerMs <= 0 || y <= 0 || math.IsNaN(y) {
				continue
			}
			xy = append(xy, plotter.XY{X: float64(r.TriggerMs) / 1000, Y: y})
		}
		return xy
	}
	if err := plotutil.AddLinePoints(thr,
		"events/s", series(func(r Result) float64 { return r.EventsPS }),
	); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	if err := plotutil.AddLinePoints(lat,
		"p50", series(func(r Result) float64 { return r.LatencyP50Ms / 1000 }),
		"p95", series(func(r Result) float64 { return r.LatencyP95Ms / 1000 }),
		"p99", series(func(r Result) float64 { return r.LatencyP99Ms / 1000 }),
		"trigger", series(func(r Result) float64 { return float64(r.TriggerMs) / 1000 }),
	); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	if err := plotutil.AddLinePoints(files,
		"files/commit", series(func(r Result) float64 { return r.FilesPerCommit }),
		"avg file KiB", series(func(r Result) float64 { return r.AvgFileBytes / 1024 }),
	); err != nil {
		return fmt.Errorf("chart: %w", err)
	}

	// The throughput axis is linear from zero, so runs compare by height.
	thr.Y.Min = 0
	if thr.Y.Max <= 0 {
		thr.Y.Max = 1
	}
	// A log axis needs a positive, non-empty range: widen a single point.
	for _, ax := range []*plot.Axis{&thr.X, &lat.X, &lat.Y, &files.X, &files.Y} {
		if !(ax.Min > 0) {
			ax.Min = 0.001
		}
		if ax.Max <= ax.Min*1.5 {
			ax.Min, ax.Max = ax.Min/2, ax.Max*2
		}
	}

	const w, h = 20 * vg.Centimeter, 34 * vg.Centimeter
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 3, Cols: 1, PadTop: vg.Millimeter * 4, PadBottom: vg.Millimeter * 4, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 8}
	plots := [][]*plot.Plot{{thr}, {lat}, {files}}
	canvases := plot.Align(plots, tiles, dc)
	thr.Draw(canvases[0][0])
	lat.Draw(canvases[1][0])
	files.Draw(canvases[2][0])

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
