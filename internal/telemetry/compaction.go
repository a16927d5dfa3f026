package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/floe-io/floe/compaction"
)

// WatchCompactor exports a background compactor's counters, read at
// scrape time from stats (compaction.Compactor.Stats).
func (m *Metrics) WatchCompactor(stats func() compaction.Stats) {
	counter := func(name, help string, v func(compaction.Stats) float64) {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return v(stats()) }))
	}
	counter("floe_compaction_runs_total", "Compaction and maintenance runs.", func(s compaction.Stats) float64 { return float64(s.Runs) })
	counter("floe_compaction_failures_total", "Compaction runs that failed.", func(s compaction.Stats) float64 { return float64(s.Failures) })
	counter("floe_compaction_conflicts_total", "Compaction commits that lost to a concurrent commit and were retried.", func(s compaction.Stats) float64 { return float64(s.Conflicts) })
	counter("floe_compaction_files_rewritten_total", "Small data files replaced by compaction.", func(s compaction.Stats) float64 { return float64(s.FilesRewritten) })
	counter("floe_compaction_bytes_rewritten_total", "Bytes of the data files replaced by compaction.", func(s compaction.Stats) float64 { return float64(s.BytesRewritten) })
	counter("floe_compaction_files_written_total", "Data files compaction wrote in place of the ones it rewrote.", func(s compaction.Stats) float64 { return float64(s.FilesWritten) })
	counter("floe_compaction_bytes_written_total", "Bytes of the data files compaction wrote.", func(s compaction.Stats) float64 { return float64(s.BytesWritten) })
	counter("floe_compaction_snapshots_expired_total", "Snapshots expired.", func(s compaction.Stats) float64 { return float64(s.SnapshotsExpired) })
	counter("floe_compaction_orphans_removed_total", "Unreferenced files deleted.", func(s compaction.Stats) float64 { return float64(s.OrphansRemoved) })
	counter("floe_compaction_manifests_merged_total", "Manifests merged.", func(s compaction.Stats) float64 { return float64(s.ManifestsMerged) })
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "floe_compaction_last_duration_seconds", Help: "Duration of the last compaction run."},
		func() float64 { return stats().LastDuration.Seconds() }))
}
