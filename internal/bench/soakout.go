package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// WriteSoakOutputs writes soak.json (everything), soak.csv (the samples)
// and soak.png (the time series) into dir.
func WriteSoakOutputs(dir string, r SoakResult) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "soak.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	if err := writeCSV(filepath.Join(dir, "soak.csv"), r.Samples, 2); err != nil {
		return err
	}
	return WriteSoakChart(filepath.Join(dir, "soak.png"), r)
}

// WriteSoakSummary prints the summary as Markdown.
func WriteSoakSummary(w io.Writer, r SoakResult) error {
	s := r.Summary
	var b strings.Builder
	fmt.Fprintf(&b, "soak: %d events/s for %.0f s, %d merchants, trigger %s, compaction every %s\n",
		r.Rate, r.DurationS, r.Merchants, r.Trigger, r.CompactEvery)
	fmt.Fprintf(&b, "| figure | value |\n|---|---:|\n")
	fmt.Fprintf(&b, "| events produced | %d |\n", r.Produced)
	fmt.Fprintf(&b, "| ingest events/s during the load | %.0f |\n", s.IngestEventsPS)
	fmt.Fprintf(&b, "| peak live data files | %d |\n", s.PeakLiveFiles)
	fmt.Fprintf(&b, "| live data files at the end | %d |\n", s.FinalLiveFiles)
	fmt.Fprintf(&b, "| partitions at the end | %d |\n", s.FinalPartitions)
	fmt.Fprintf(&b, "| files per partition at the end | %.2f |\n", s.FilesPerPartition)
	fmt.Fprintf(&b, "| live files outside the default spec at the end | %d |\n", s.FinalOtherSpecFiles)
	fmt.Fprintf(&b, "| compaction runs completed | %d |\n", s.RunsCompleted)
	fmt.Fprintf(&b, "| longest compaction run | %.0f ms |\n", s.MaxCompactionRunMs)
	fmt.Fprintf(&b, "| files rewritten | %d |\n", s.FilesRewritten)
	fmt.Fprintf(&b, "| files written per million events (ingest + compaction) | %.0f |\n", s.FilesWrittenPerM)
	fmt.Fprintf(&b, "| bytes written per million events (ingest + compaction) | %s |\n", human(int64(s.BytesWrittenPerM)))
	fmt.Fprintf(&b, "| CPU-s per million events (whole floe run process) | %.1f |\n", s.CPUSecondsPerM)
	fmt.Fprintf(&b, "| peak RSS | %s |\n", human(r.PeakRSSBytes))
	fmt.Fprintf(&b, "| settle after the load | %.0f s |\n", s.SettleSeconds)
	if c := r.Check; c != nil && c.Error != "" {
		fmt.Fprintf(&b, "| rows check | incomplete: %s |\n", c.Error)
	} else if c != nil {
		fmt.Fprintf(&b, "| rows check | %d rows for %d valid events: %d missing, %d duplicated, %d unexpected, %d different (ok=%v) |\n",
			c.Rows, c.Valid, c.Missing, c.Duplicated, c.Unexpected, c.Different, c.OK)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteSoakChart draws live files, lag, RSS, CPU and compaction progress
// over time, one panel each.
func WriteSoakChart(path string, r SoakResult) error {
	series := func(f func(SoakSample) float64) plotter.XYs {
		xy := make(plotter.XYs, 0, len(r.Samples))
		for _, s := range r.Samples {
			xy = append(xy, plotter.XY{X: s.T, Y: f(s)})
		}
		return xy
	}
	title := fmt.Sprintf("%d ev/s, %d merchants, trigger %s, compaction every %s", r.Rate, r.Merchants, r.Trigger, r.CompactEvery)
	mk := func(name, ylabel string) *plot.Plot {
		p := plot.New()
		p.Title.Text = name
		p.X.Label.Text = "seconds"
		p.Y.Label.Text = ylabel
		p.Legend.Top = true
		p.Legend.Left = true
		return p
	}
	files := mk("live data files ("+title+")", "files")
	lag := mk("consumer lag", "records")
	mem := mk("RSS and CPU", "MiB / % of one core")
	comp := mk("compaction", "count")
	if err := plotutil.AddLines(files, "live data files", series(func(s SoakSample) float64 { return float64(s.LiveFiles) })); err != nil {
		return err
	}
	if err := plotutil.AddLines(lag, "lag", series(func(s SoakSample) float64 { return float64(s.Lag) })); err != nil {
		return err
	}
	if err := plotutil.AddLines(mem,
		"RSS MiB", series(func(s SoakSample) float64 { return float64(s.RSSBytes) / (1 << 20) }),
		"CPU %", series(func(s SoakSample) float64 { return s.CPUPercent })); err != nil {
		return err
	}
	if err := plotutil.AddLines(comp,
		"runs x100", series(func(s SoakSample) float64 { return float64(s.Runs) * 100 }),
		"files rewritten /100", series(func(s SoakSample) float64 { return float64(s.Rewritten) / 100 })); err != nil {
		return err
	}
	const w, h = 20 * vg.Centimeter, 36 * vg.Centimeter
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 4, Cols: 1, PadTop: vg.Millimeter * 4, PadBottom: vg.Millimeter * 4, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 8}
	plots := [][]*plot.Plot{{files}, {lag}, {mem}, {comp}}
	canvases := plot.Align(plots, tiles, dc)
	for i, row := range plots {
		row[0].Draw(canvases[i][0])
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
