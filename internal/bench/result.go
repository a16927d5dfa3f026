package bench

import "time"

// Result is one run: one trigger interval, one mode.
type Result struct {
	Trigger   string `json:"trigger"`
	TriggerMs int64  `json:"trigger_ms"`
	// Mode is "max" (pre-produced, ingested as fast as possible) or
	// "rate" (produced at RateTarget while ingesting).
	Mode       string `json:"mode"`
	RateTarget int    `json:"rate_target"`
	Merchants  int    `json:"merchants"`
	Partitions int    `json:"partitions"`

	Events    int64   `json:"events"`
	Seconds   float64 `json:"seconds"`
	EventsPS  float64 `json:"events_per_s"`
	MBPS      float64 `json:"mb_per_s"`
	KafkaByte int64   `json:"kafka_bytes"`

	// LatencyFrom is "produce" (Kafka record timestamp to the commit that
	// made the row visible) or "poll" (the moment the pipeline took the
	// record to that commit; max-rate mode, where the produce time is
	// meaningless because everything was produced first).
	LatencyFrom  string  `json:"latency_from"`
	LatencyP50Ms float64 `json:"latency_p50_ms"`
	LatencyP95Ms float64 `json:"latency_p95_ms"`
	LatencyP99Ms float64 `json:"latency_p99_ms"`
	LatencyMaxMs float64 `json:"latency_max_ms"`

	Commits        int64   `json:"commits"`
	CommitsPerMin  float64 `json:"commits_per_min"`
	DataFiles      int64   `json:"data_files"`
	FilesPerCommit float64 `json:"files_per_commit"`
	DataBytes      int64   `json:"data_bytes"`
	AvgFileBytes   float64 `json:"avg_file_bytes"`
	CommitP50Ms    float64 `json:"commit_p50_ms"`
	CommitMaxMs    float64 `json:"commit_max_ms"`
	// WriteP50Ms is the median time a commit spent writing data files
	// (the rest of commit_p50_ms is the catalog commit).
	WriteP50Ms float64 `json:"write_p50_ms"`
	// StalledS is how long consuming waited, in all, for a background
	// commit to land before it could hand over the next batch.
	StalledS          float64 `json:"stalled_s"`
	MetadataBytes     int64   `json:"metadata_bytes"`
	MetadataPerCommit float64 `json:"metadata_bytes_per_commit"`

	CPUSeconds     float64 `json:"cpu_s"`
	CPUSPerMillion float64 `json:"cpu_s_per_million"`
	PeakRSSBytes   int64   `json:"peak_rss_bytes"`
	// Isolated says CPU and peak RSS are those of a child process that
	// only ingested; otherwise they include the in-process broker.
	Isolated bool `json:"isolated"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
