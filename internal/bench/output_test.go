package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot"
)

func TestOutputsOneAndManyRuns(t *testing.T) {
	r := Result{Trigger: "1s", TriggerMs: 1000, Mode: "max", Events: 10, EventsPS: 5, LatencyP50Ms: 900,
		LatencyP95Ms: 1000, LatencyP99Ms: 1100, Commits: 1, DataFiles: 3, FilesPerCommit: 3, AvgFileBytes: 4096}
	r2 := r
	r2.Trigger, r2.TriggerMs = "5s", 5000
	for _, rs := range [][]Result{{r}, {r, r2}} {
		dir := t.TempDir()
		if err := WriteOutputs(dir, rs); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"results.csv", "results.json", "chart.png"} {
			if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
				t.Errorf("%s: %v", f, err)
			}
		}
		var md bytes.Buffer
		if err := WriteMarkdown(&md, rs); err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(md.String(), "\n"); got != 2+len(rs) {
			t.Errorf("markdown has %d lines:\n%s", got, md.String())
		}
	}
}

func TestPercentiles(t *testing.T) {
	xs := make([]float32, 100)
	for i := range xs {
		xs[i] = float32(100 - i)
	}
	got := percentiles(xs, 50, 99, 100)
	if got[0] != 50 || got[1] != 99 || got[2] != 100 {
		t.Errorf("percentiles = %v", got)
	}
}

// TestTriggerTicks: the chart's x axis has a tick at each run's trigger,
// labelled as given.
func TestTriggerTicks(t *testing.T) {
	rs := []Result{{Trigger: "250ms", TriggerMs: 250}, {Trigger: "1s", TriggerMs: 1000}, {Trigger: "10s", TriggerMs: 10000}}
	ticks := triggerTicks(rs).Ticks(0.1, 20)
	if len(ticks) != 3 {
		t.Fatalf("ticks %+v, want 3", ticks)
	}
	for i, want := range []struct {
		v float64
		l string
	}{{0.25, "250ms"}, {1, "1s"}, {10, "10s"}} {
		if ticks[i].Value != want.v || ticks[i].Label != want.l {
			t.Errorf("tick %d = %+v, want %v %q", i, ticks[i], want.v, want.l)
		}
	}
	if _, ok := triggerTicks(nil).(plot.LogTicks); !ok {
		t.Error("no runs: want the log ticks")
	}
}

// TestLatencyTitle: the chart says what its latency measures.
func TestLatencyTitle(t *testing.T) {
	for _, c := range []struct {
		from []string
		want string
	}{
		{[]string{"produce", "produce"}, "Kafka produce timestamp"},
		{[]string{"poll"}, "record polled by floe"},
		{[]string{"poll", "produce"}, "from produce or poll"},
	} {
		var rs []Result
		for _, f := range c.from {
			rs = append(rs, Result{LatencyFrom: f})
		}
		if got := latencyTitle(rs); !strings.Contains(got, c.want) {
			t.Errorf("latencyTitle(%v) = %q, want it to contain %q", c.from, got, c.want)
		}
	}
}
