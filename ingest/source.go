package ingest

import (
	"context"
	"time"

	"github.com/floe-io/floe/iceberg"
)

// TopicPartition names one partition of one topic.
type TopicPartition = iceberg.TopicPartition

// Record is one Kafka record as the pipeline sees it. Key and Value are only
// valid until the next Poll.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Timestamp time.Time
	Headers   []Header
}

// Header is one Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// TP returns the record's topic-partition.
func (r *Record) TP() TopicPartition { return TopicPartition{Topic: r.Topic, Partition: r.Partition} }

// Start offsets a Rebalancer may return for a partition the table has never
// recorded. Any value >= 0 is an absolute offset.
const (
	StartEarliest int64 = -2
	StartLatest   int64 = -1
)

// Rebalancer is told about partition movements. A Source calls it from
// inside Poll, on the caller's goroutine, before fetching from the new
// assignment (Assigned) or after the last record of a revoked partition was
// returned (Revoked).
type Rebalancer interface {
	// Assigned returns the offset to start each partition at.
	Assigned(ctx context.Context, tps []TopicPartition) (map[TopicPartition]int64, error)
	// Revoked is called before the partitions are given up.
	Revoked(ctx context.Context, tps []TopicPartition) error
}

// Source is where records come from. Implementations need not be safe for
// concurrent use: the pipeline calls them from one goroutine.
type Source interface {
	// Poll returns up to max records, waiting at most wait for the first.
	// An empty result with a nil error means nothing arrived in time.
	Poll(ctx context.Context, rb Rebalancer, max int, wait time.Duration) ([]Record, error)
	// Seek restarts the given partitions at the given offsets.
	Seek(ctx context.Context, offsets map[TopicPartition]int64) error
	// Pause stops fetching the partitions until Resume.
	Pause(tps []TopicPartition) error
	// Resume restarts fetching paused partitions.
	Resume(tps []TopicPartition) error
	// CommitGroupOffsets reports progress to the consumer group. It is
	// for lag monitoring only: the table is the source of truth.
	CommitGroupOffsets(offsets map[TopicPartition]int64) error
	// Close leaves the group and releases the client.
	Close() error
}
