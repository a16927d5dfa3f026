package bench

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
)

// WriteMarkdown writes the results as a Markdown table.
func WriteMarkdown(w io.Writer, rs []Result) error {
	var b strings.Builder
	b.WriteString("| trigger | mode | merchants | events | events/s | MB/s | latency from | p50 ms | p95 ms | p99 ms | commits | commits/min | data files | files/commit | avg file | metadata growth | CPU s/M events | peak RSS |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rs {
		mode := r.Mode
		if r.Mode == "rate" {
			mode = fmt.Sprintf("rate %d/s", r.RateTarget)
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %.0f | %.1f | %s | %.0f | %.0f | %.0f | %d | %.1f | %d | %.1f | %s | %s | %.2f | %s |\n",
			r.Trigger, mode, r.Merchants, r.Events, r.EventsPS, r.MBPS, r.LatencyFrom,
			r.LatencyP50Ms, r.LatencyP95Ms, r.LatencyP99Ms, r.Commits, r.CommitsPerMin,
			r.DataFiles, r.FilesPerCommit, human(int64(r.AvgFileBytes)), human(r.MetadataBytes),
			r.CPUSPerMillion, human(r.PeakRSSBytes))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteOutputs writes results.csv, results.json and chart.png into dir.
func WriteOutputs(dir string, rs []Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(rs, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	if err := writeCSV(filepath.Join(dir, "results.csv"), rs, -1); err != nil {
		return err
	}
	return WriteChart(filepath.Join(dir, "chart.png"), rs)
}

// writeCSV writes one row per element of rows (a slice of structs), the
// columns named like the JSON fields; floats get prec decimals (-1: as
// many as needed).
func writeCSV[T any](path string, rows []T, prec int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	t := reflect.TypeFor[T]()
	head := make([]string, t.NumField())
	for i := range head {
		head[i], _, _ = strings.Cut(t.Field(i).Tag.Get("json"), ",")
	}
	_ = w.Write(head)
	for _, r := range rows {
		v := reflect.ValueOf(r)
		row := make([]string, t.NumField())
		for i := range row {
			switch x := v.Field(i).Interface().(type) {
			case float64:
				row[i] = strconv.FormatFloat(x, 'f', prec, 64)
			default:
				row[i] = fmt.Sprint(x)
			}
		}
		_ = w.Write(row)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func human(n int64) string {
	switch {
	case n < 0:
		return "n/a"
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
