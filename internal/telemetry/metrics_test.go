package telemetry

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/floe-io/floe/compaction"
	"github.com/floe-io/floe/iceberg"
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
	m.Committed(ingest.CommitInfo{Committed: time.Unix(990, 0),
		CommitResult: iceberg.CommitResult{Duration: time.Second, WriteDuration: 300 * time.Millisecond}, Waited: 2 * time.Second})
	if v := testutil.ToFloat64(m.consumed); v != 5 {
		t.Errorf("consumed = %v", v)
	}
	if v := testutil.ToFloat64(m.waited); v != 2 {
		t.Errorf("floe_consumer_waited_seconds_total = %v, want 2", v)
	}
	if n := testutil.CollectAndCount(m.commitWrite); n != 1 {
		t.Errorf("floe_commit_write_seconds: %d series", n)
	}
	if !strings.Contains(histText(t, m, "floe_commit_write_seconds"), "sample_sum:0.3") {
		t.Errorf("floe_commit_write_seconds did not observe 0.3 s:\n%s", histText(t, m, "floe_commit_write_seconds"))
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
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range families {
		if f.GetName() != "floe_seconds_since_last_commit" {
			continue
		}
		found = true
		if ms := f.GetMetric(); len(ms) != 1 || ms[0].GetGauge().GetValue() != 10 {
			t.Errorf("floe_seconds_since_last_commit = %v, want one gauge at 10", ms)
		}
	}
	if !found {
		t.Error("floe_seconds_since_last_commit not exported")
	}
}

// histText renders the named metric family as the Prometheus client's
// text (protobuf debug form).
func histText(t *testing.T, m *Metrics, name string) string {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return strings.ReplaceAll(f.String(), " ", "")
		}
	}
	return ""
}
