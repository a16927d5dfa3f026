package iceberg

import (
	"time"

	"github.com/apache/arrow-go/v18/arrow"
)

// TopicPartition names one Kafka partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Offsets maps a partition to the next offset to read from it.
type Offsets map[TopicPartition]int64

// Clone returns an independent copy of o.
func (o Offsets) Clone() Offsets {
	c := make(Offsets, len(o))
	for k, v := range o {
		c[k] = v
	}

	return c
}

// Batch is one unit of exactly-once delivery: the rows read from Kafka
// between From and To, committed as one snapshot.
type Batch struct {
	// Records hold the rows in the table's Arrow schema. Commit takes
	// ownership: it releases every record, on success and on error.
	Records []arrow.RecordBatch
	// Group is the consumer group whose offsets the commit records.
	Group string
	// From holds, per partition, the next offset recorded before this batch
	// (the position the batch starts at). Used for fencing.
	From Offsets
	// To holds, per partition, the next offset after this batch. These are
	// recorded in the snapshot summary.
	To Offsets
	// CommitID identifies the batch for unknown-outcome resolution. A UUID
	// is generated when empty.
	CommitID string
	// MaxEventTime holds, per partition, the largest event_time (Unix
	// milliseconds) among the batch's rows; partitions without rows are
	// absent. With it the snapshot records the group's valid-through
	// watermark (see ValidThroughKeyPrefix). Nil records none.
	MaxEventTime Offsets
	// Assigned are the partitions the committing process reads. Those the
	// table has no offset for yet count for the watermark too: their rows
	// are not committed, so there is none.
	Assigned []TopicPartition
}

// CommitResult describes a successful commit.
type CommitResult struct {
	// SnapshotID is the snapshot holding the batch; 0 when there was nothing
	// to commit (no rows and no offsets).
	SnapshotID int64
	Rows       int64
	Files      int
	// Bytes is the total size of the data files written.
	Bytes    int64
	Duration time.Duration
	// WriteDuration is the part of Duration spent writing the data files
	// (the rest is the catalog commit: manifests, metadata, the swap).
	WriteDuration time.Duration
	// Attempts counts catalog commit attempts (1 without conflicts).
	Attempts int
	// CommitID is the batch's commit id (generated when the batch had none).
	CommitID string
}
