package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseMetricsSumsLabels(t *testing.T) {
	m, err := parseMetrics(strings.NewReader(`# HELP x y
floe_rows_committed_total 1234
floe_records_dead_lettered_total{class="bad_magic"} 2
floe_records_dead_lettered_total{class="too_large"} 3
floe_compaction_runs_total 4e+00
`))
	if err != nil {
		t.Fatal(err)
	}
	if m["floe_rows_committed_total"] != 1234 || m["floe_records_dead_lettered_total"] != 5 || m["floe_compaction_runs_total"] != 4 {
		t.Fatalf("parsed %v", m)
	}
}

func TestParseRunLine(t *testing.T) {
	r, ok := parseRunLine([]byte(`{"level":"INFO","msg":"compaction","files_rewritten":40,"files_written":3,"duration_ms":1500}`), 2*time.Second)
	if !ok || r.Rewritten != 40 || r.Written != 3 || r.DurMs != 1500 || r.T != 2 || r.Failed {
		t.Fatalf("got %+v %v", r, ok)
	}
	if r, ok := parseRunLine([]byte(`{"msg":"compaction run failed; the next run tries again","duration_ms":7}`), 0); !ok || !r.Failed {
		t.Fatalf("failed run: %+v %v", r, ok)
	}
	if _, ok := parseRunLine([]byte(`{"msg":"commit","files":3}`), 0); ok {
		t.Fatal("a commit line taken for a compaction run")
	}
}

func TestSoakOutputsAndSummary(t *testing.T) {
	r := SoakResult{Rate: 10, Merchants: 2, Trigger: "1s", CompactEvery: "30s", Samples: []SoakSample{
		{T: 5, RowsVisible: 50, LiveFiles: 10, IngestFiles: 10, CPUSeconds: 1},
		{T: 10, RowsVisible: 100, LiveFiles: 4, IngestFiles: 20, CompWritten: 2, Runs: 1, Rewritten: 18, CPUSeconds: 2},
	}}
	r.summarize(4, 2, time.Now(), time.Now())
	if r.Summary.FilesPerPartition != 2 || r.Summary.PeakLiveFiles != 10 || r.Summary.FilesWrittenPerM != 220_000 || r.Summary.CPUSecondsPerM != 20_000 {
		t.Fatalf("summary %+v", r.Summary)
	}
	dir := t.TempDir()
	if err := WriteSoakOutputs(dir, r); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"soak.json", "soak.csv", "soak.png"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Fatalf("%s: %v", f, err)
		}
	}
}
