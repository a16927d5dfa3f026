package telemetry

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/floe-io/floe/ingest"
)

// Metrics is the pipeline's Prometheus instrumentation. It implements
// ingest.Observer. Create it with NewMetrics; each instance has its own
// registry (no process-global state).
type Metrics struct {
	reg *prometheus.Registry
	now func() time.Time

	consumed       prometheus.Counter
	committed      prometheus.Counter
	deadLettered   *prometheus.CounterVec
	commits        prometheus.Counter
	fenced         prometheus.Counter
	commitDuration prometheus.Histogram
	commitWrite    prometheus.Histogram
	waited         prometheus.Counter
	commitRows     prometheus.Histogram
	commitBytes    prometheus.Histogram
	filesWritten   prometheus.Counter
	bytesWritten   prometheus.Counter
	lag            *prometheus.GaugeVec
	assigned       prometheus.Gauge
	schemas        *prometheus.GaugeVec
	lastCommit     atomic.Int64 // unix nanos; 0 = none yet
	started        time.Time

	mu        sync.Mutex
	lagParts  map[ingest.TopicPartition]bool
	nAssigned atomic.Int64
	st        stateMetrics
}

// NewMetrics registers floe's metrics in a new registry.
func NewMetrics(now func() time.Time) *Metrics {
	if now == nil {
		now = time.Now
	}
	m := &Metrics{reg: prometheus.NewRegistry(), now: now, started: now(), lagParts: map[ingest.TopicPartition]bool{}}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.consumed = prometheus.NewCounter(prometheus.CounterOpts{Name: "floe_records_consumed_total", Help: "Records taken from Kafka, valid or not."})
	m.committed = prometheus.NewCounter(prometheus.CounterOpts{Name: "floe_rows_committed_total", Help: "Rows made visible in the table by committed snapshots."})
	m.deadLettered = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "floe_records_dead_lettered_total", Help: "Records sent to the dead-letter output, by error class."}, []string{"class"})
	m.commits = prometheus.NewCounter(prometheus.CounterOpts{Name: "floe_commits_total", Help: "Snapshots committed."})
	m.fenced = prometheus.NewCounter(prometheus.CounterOpts{Name: "floe_batches_fenced_total", Help: "Batches dropped because another writer had committed their offsets."})
	m.commitDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "floe_commit_duration_seconds", Help: "Time to write a batch's data files and commit its snapshot.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}})
	m.commitWrite = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "floe_commit_write_seconds", Help: "The part of a commit spent writing its data files (the rest is the catalog commit).",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}})
	m.waited = prometheus.NewCounter(prometheus.CounterOpts{Name: "floe_consumer_waited_seconds_total", Help: "Time consuming stopped to wait for a commit in flight before handing over the next batch (backpressure from commits)."})
	m.commitRows = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "floe_commit_rows", Help: "Rows per committed snapshot.",
		Buckets: prometheus.ExponentialBuckets(1, 4, 12)})
	m.commitBytes = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "floe_commit_bytes", Help: "Data file bytes per committed snapshot.",
		Buckets: prometheus.ExponentialBuckets(1024, 4, 12)})
	m.filesWritten = prometheus.NewCounter(prometheus.CounterOpts{Name: "floe_data_files_written_total", Help: "Parquet data files committed."})
	m.bytesWritten = prometheus.NewCounter(prometheus.CounterOpts{Name: "floe_data_bytes_written_total", Help: "Bytes of Parquet data files committed."})
	m.lag = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "floe_consumer_lag_records", Help: "Records between a partition's end and the next offset the table records."}, []string{"topic", "partition"})
	m.assigned = prometheus.NewGauge(prometheus.GaugeOpts{Name: "floe_assigned_partitions", Help: "Partitions this process owns."})
	m.schemas = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "floe_schema_versions_seen", Help: "Payload writer schema ids seen since start (1 per id)."}, []string{"schema_id"})
	for _, c := range []prometheus.Collector{m.consumed, m.committed, m.deadLettered, m.commits, m.fenced, m.commitDuration, m.commitWrite, m.waited,
		m.commitRows, m.commitBytes, m.filesWritten, m.bytesWritten, m.lag, m.assigned, m.schemas} {
		f(c)
	}
	for _, class := range ingest.Classes {
		m.deadLettered.WithLabelValues(class) // every class present from the start, at 0
	}
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "floe_seconds_since_last_commit", Help: "Seconds since the last committed snapshot (since start if none yet)."},
		func() float64 {
			last := m.lastCommit.Load()
			if last == 0 {
				return m.now().Sub(m.started).Seconds()
			}
			return m.now().Sub(time.Unix(0, last)).Seconds()
		}))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "floe_last_commit_timestamp_seconds", Help: "Unix time of the last committed snapshot (0 if none yet)."},
		func() float64 { return float64(m.lastCommit.Load()) / 1e9 }))
	m.registerState()
	return m
}

// Registry returns the registry the metrics live in.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// AssignedPartitions returns how many partitions the pipeline owns.
func (m *Metrics) AssignedPartitions() int { return int(m.nAssigned.Load()) }

// Consumed implements ingest.Observer.
func (m *Metrics) Consumed(n int) { m.consumed.Add(float64(n)) }

// DeadLettered implements ingest.Observer.
func (m *Metrics) DeadLettered(class string) { m.deadLettered.WithLabelValues(class).Inc() }

// Fenced implements ingest.Observer.
func (m *Metrics) Fenced() { m.fenced.Inc() }

// Committed implements ingest.Observer.
func (m *Metrics) Committed(ci ingest.CommitInfo) {
	m.commits.Inc()
	m.committed.Add(float64(ci.Rows))
	m.commitDuration.Observe(ci.Duration.Seconds())
	m.commitWrite.Observe(ci.WriteDuration.Seconds())
	m.waited.Add(ci.Waited.Seconds())
	m.commitRows.Observe(float64(ci.Rows))
	m.commitBytes.Observe(float64(ci.Bytes))
	m.filesWritten.Add(float64(ci.Files))
	m.bytesWritten.Add(float64(ci.Bytes))
	m.lastCommit.Store(ci.Committed.UnixNano())
}

// Lag implements ingest.Observer.
func (m *Metrics) Lag(tp ingest.TopicPartition, lag int64) {
	m.lag.WithLabelValues(tp.Topic, strconv.Itoa(int(tp.Partition))).Set(float64(lag))
	m.mu.Lock()
	m.lagParts[tp] = true
	m.mu.Unlock()
}

// Assigned implements ingest.Observer. Lag series of partitions no longer
// owned are removed, so two processes never both report one partition.
func (m *Metrics) Assigned(tps []ingest.TopicPartition) {
	m.nAssigned.Store(int64(len(tps)))
	m.assigned.Set(float64(len(tps)))
	owned := make(map[ingest.TopicPartition]bool, len(tps))
	for _, tp := range tps {
		owned[tp] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refreshState()
	for tp := range m.lagParts {
		if !owned[tp] {
			m.lag.DeleteLabelValues(tp.Topic, strconv.Itoa(int(tp.Partition)))
			delete(m.lagParts, tp)
		}
	}
}

// SchemaSeen implements ingest.Observer.
func (m *Metrics) SchemaSeen(id uint32) {
	m.schemas.WithLabelValues(strconv.FormatUint(uint64(id), 10)).Set(1)
}
