package telemetry

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/floe-io/floe/compaction"
	"github.com/floe-io/floe/ingest"
)

// TestAlertRulesNameRealMetrics keeps docs/alerts.yml honest: every floe_*
// metric an alert uses is one this package exports.
func TestAlertRulesNameRealMetrics(t *testing.T) {
	m := NewMetrics(nil)
	m.WatchCompactor(func() compaction.Stats { return compaction.Stats{} })
	m.Lag(ingest.TopicPartition{Topic: "t", Partition: 0}, 3)
	m.SchemaSeen(2)
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range families {
		have[f.GetName()] = true
	}
	rules, err := os.ReadFile("../../docs/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	used := regexp.MustCompile(`floe_[a-z_]+`).FindAllString(string(rules), -1)
	if len(used) == 0 {
		t.Fatal("no floe metric in the alert rules")
	}
	for _, name := range used {
		if !have[name] {
			t.Errorf("docs/alerts.yml uses %s, which floe does not export", name)
		}
	}
}

func TestMetricsMove(t *testing.T) {
	now := time.Unix(1000, 0)
	m := NewMetrics(func() time.Time { return now })
	m.Consumed(5)
	m.DeadLettered(ingest.ClassBadMagic)
	m.Committed(ingest.CommitInfo{Committed: time.Unix(990, 0)})
	if v := testutil.ToFloat64(m.consumed); v != 5 {
		t.Errorf("consumed = %v", v)
	}
	out, err := testutil.CollectAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range out {
		if !strings.Contains(p.Text, "counter metrics should have") { // histograms named *_rows/*_bytes are deliberate
			t.Logf("lint: %s: %s", p.Metric, p.Text)
		}
	}
	families, _ := m.Registry().Gather()
	for _, f := range families {
		if f.GetName() == "floe_seconds_since_last_commit" && f.GetMetric()[0].GetGauge().GetValue() != 10 {
			t.Errorf("seconds since last commit = %v, want 10", f.GetMetric()[0].GetGauge().GetValue())
		}
	}
}
