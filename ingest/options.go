package ingest

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/floe-io/floe/iceberg"
)

// Options tune a [Pipeline]. The zero value of each field means its default.
type Options struct {
	// Group names whose offsets the snapshots record.
	Group string
	// Trigger is the longest a row waits before its batch is committed
	// (default 1s).
	Trigger time.Duration
	// MaxBatchRows commits early when this many rows are buffered
	// (default 1,000,000).
	MaxBatchRows int64
	// MaxBatchBytes commits early when this many record bytes are buffered
	// (default 128 MiB).
	MaxBatchBytes int64
	// StartFrom is where a partition the table has never recorded starts:
	// StartEarliest (default) or StartLatest.
	StartFrom int64
	// Until, when set, makes Run return after every listed partition has
	// been read up to (excluding) its offset: the backfill mode.
	Until map[TopicPartition]int64
	// PollMax is the most records taken from the source at once
	// (default 10,000).
	PollMax int
	// ShutdownTimeout bounds the final flush after ctx is cancelled
	// (default 30s).
	ShutdownTimeout time.Duration
	// OutageTimeout is how long the catalog or the object store may stay
	// down before Run returns an *OutageError (default
	// DefaultOutageTimeout; negative: at the first failure). Until then
	// commits, dead-letter flushes, schema updates and offset reads are
	// retried with capped exponential backoff.
	OutageTimeout time.Duration
	// Logger receives one line per commit and the warnings (default:
	// slog.Default()). It never receives decrypted data.
	Logger *slog.Logger
	// Allocator for the Arrow builders (default memory.DefaultAllocator).
	Allocator memory.Allocator
	// Now is the clock of every time the pipeline reads: triggers, a
	// batch's opening, _ingested_at, CommitInfo.Opened and Committed, the
	// wait for a commit (default time.Now).
	Now func() time.Time
	// OnCommit, when set, is called after every committed snapshot.
	OnCommit func(CommitInfo)
	// Observer receives the pipeline's events for metrics (default: none).
	Observer Observer
	// Start gives, for partitions the table has never recorded for the
	// group, an explicit start offset (backfill --from); it takes
	// precedence over StartFrom.
	Start map[TopicPartition]int64
	// MaxRecordBytes dead-letters, as too_large, a record whose key and
	// value together are larger (default 8 MiB; negative: no limit).
	MaxRecordBytes int
	// MaxBatchPartitions commits early when the batch holds rows of this
	// many distinct table partitions (default 10,000). Each partition is a
	// data file, and each data file's metadata stays in memory until the
	// commit: this bounds a commit's size with many merchants.
	MaxBatchPartitions int
	// MaxBufferBytes bounds the memory the buffered rows take (Arrow
	// builders, measured by the allocator): reaching it commits at once.
	// One batch may be committing in the background while the next one
	// fills, so the rows held take at most twice this; a flush waits for
	// the commit before, which pauses fetching (default 256 MiB).
	MaxBufferBytes int64
	// OnError is what a record that cannot be ingested does:
	// OnErrorDLQ (default) dead-letters it, OnErrorFail commits what came
	// before it and stops Run with a *RecordError.
	OnError string
	// OnIncompatible is what a record whose writer schema cannot be
	// applied to the table does: OnIncompatibleDLQ (default) dead-letters
	// it as incompatible_schema, OnIncompatibleFail stops the pipeline.
	OnIncompatible string
}

// Values of Options.OnError.
const (
	OnErrorDLQ  = "dlq"
	OnErrorFail = "fail"
)

// RecordError stops a pipeline run with OnErrorFail: the record at
// Topic[Partition]@Offset has error class Class. Its message holds no
// decrypted data.
type RecordError struct {
	Topic     string
	Partition int32
	Offset    int64
	Class     string
	Err       error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("record %s[%d]@%d cannot be ingested (%s): %v", e.Topic, e.Partition, e.Offset, e.Class, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// Values of Options.OnIncompatible.
const (
	OnIncompatibleDLQ  = "dlq"
	OnIncompatibleFail = "fail"
)

// DefaultOptions are the values a zero field of Options takes: the one
// place floe's ingest defaults live (the command line shows these).
func DefaultOptions() Options {
	return Options{
		Trigger:            time.Second,
		MaxBatchRows:       1_000_000,
		MaxBatchBytes:      128 << 20,
		StartFrom:          StartEarliest,
		PollMax:            10_000,
		ShutdownTimeout:    30 * time.Second,
		OutageTimeout:      DefaultOutageTimeout,
		MaxRecordBytes:     8 << 20,
		MaxBufferBytes:     256 << 20,
		MaxBatchPartitions: 10_000,
		OnError:            OnErrorDLQ,
		OnIncompatible:     OnIncompatibleDLQ,
	}
}

func (o *Options) setDefaults() {
	d := DefaultOptions()
	if o.Trigger <= 0 {
		o.Trigger = d.Trigger
	}
	if o.MaxBatchRows <= 0 {
		o.MaxBatchRows = d.MaxBatchRows
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = d.MaxBatchBytes
	}
	if o.StartFrom != StartLatest {
		o.StartFrom = StartEarliest
	}
	if o.PollMax <= 0 {
		o.PollMax = d.PollMax
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = d.ShutdownTimeout
	}
	if o.OutageTimeout == 0 {
		o.OutageTimeout = d.OutageTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Allocator == nil {
		o.Allocator = memory.DefaultAllocator
	}
	if o.MaxRecordBytes == 0 {
		o.MaxRecordBytes = d.MaxRecordBytes
	}
	if o.MaxBufferBytes <= 0 {
		o.MaxBufferBytes = d.MaxBufferBytes
	}
	if o.MaxBatchPartitions <= 0 {
		o.MaxBatchPartitions = d.MaxBatchPartitions
	}
	if o.OnError == "" {
		o.OnError = d.OnError
	}
	if o.OnIncompatible == "" {
		o.OnIncompatible = d.OnIncompatible
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
}

// CommitInfo describes one committed snapshot.
type CommitInfo struct {
	iceberg.CommitResult
	Reason     string
	DeadLetter int64
	Opened     time.Time // when the batch's first record was taken
	Committed  time.Time
	Offsets    iceberg.Offsets
	// Waited is how long consuming stood still waiting for this commit
	// (0 when it landed before the next batch was due).
	Waited time.Duration
}
