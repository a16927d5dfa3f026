// Package dlqtable is the dead-letter table: an ingest.DeadLetterSink that
// lands dead letters (key and value as received, the payload still
// encrypted, with the error class and reason) in an Iceberg table of their
// own, committed through an iceberg.Committer before the pipeline commits
// the offsets that cover them.
package dlqtable

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iceberggo "github.com/apache/iceberg-go"
	icecatalog "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/floe-io/floe/catalog"
	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/ingest"
)

// Columns of the dead-letter table.
const (
	ColDeadLetteredAt  = "dead_lettered_at"
	ColErrorClass      = "error_class"
	ColReason          = "reason"
	ColSourceTopic     = "source_topic"
	ColSourcePartition = "source_partition"
	ColSourceOffset    = "source_offset"
	ColSchemaID        = "schema_id"
	ColKey             = "key"
	ColValue           = "value"
	ColSourceTimestamp = "source_timestamp"
)

// CommitIDKey is the snapshot summary key holding a dead-letter commit's
// id, by which a commit of unknown outcome is looked up before re-adding.
const CommitIDKey = "floe.dlq.commit-id"

// Schema is the Iceberg schema of the dead-letter table: the
// original key and value as received (the payload still encrypted), the
// error class, the reason (never plaintext), the source coordinates and the
// registry schema id of the value when its frame names one.
func Schema() *iceberggo.Schema {
	str, bin := iceberggo.PrimitiveTypes.String, iceberggo.PrimitiveTypes.Binary
	tstz := iceberggo.PrimitiveTypes.TimestampTz
	return iceberggo.NewSchema(0,
		iceberggo.NestedField{ID: 1, Name: ColDeadLetteredAt, Type: tstz, Required: true},
		iceberggo.NestedField{ID: 2, Name: ColErrorClass, Type: str, Required: true},
		iceberggo.NestedField{ID: 3, Name: ColReason, Type: str, Required: true},
		iceberggo.NestedField{ID: 4, Name: ColSourceTopic, Type: str, Required: true},
		iceberggo.NestedField{ID: 5, Name: ColSourcePartition, Type: iceberggo.PrimitiveTypes.Int32, Required: true},
		iceberggo.NestedField{ID: 6, Name: ColSourceOffset, Type: iceberggo.PrimitiveTypes.Int64, Required: true},
		iceberggo.NestedField{ID: 7, Name: ColSchemaID, Type: iceberggo.PrimitiveTypes.Int64},
		iceberggo.NestedField{ID: 8, Name: ColKey, Type: bin},
		iceberggo.NestedField{ID: 9, Name: ColValue, Type: bin},
		iceberggo.NestedField{ID: 10, Name: ColSourceTimestamp, Type: tstz},
	)
}

// Spec partitions the dead-letter table by
// day(dead_lettered_at) and identity(error_class).
func Spec() iceberggo.PartitionSpec {
	return iceberggo.NewPartitionSpec(
		iceberggo.PartitionField{SourceIDs: []int{1}, FieldID: 1000, Name: "dead_lettered_day", Transform: iceberggo.DayTransform{}},
		iceberggo.PartitionField{SourceIDs: []int{2}, FieldID: 1001, Name: ColErrorClass, Transform: iceberggo.IdentityTransform{}},
	)
}

// Name is the default dead-letter table of a table:
// "<namespace>.<name>_dlq".
func Name(ident table.Identifier) table.Identifier {
	out := append(table.Identifier(nil), ident...)
	if len(out) > 0 {
		out[len(out)-1] += "_dlq"
	}
	return out
}

// Options tune a [Sink]; zero values mean the
// defaults.
type Options struct {
	// Now is the clock of dead_lettered_at (default time.Now).
	Now func() time.Time
	// Allocator for the Arrow builders (default memory.DefaultAllocator).
	Allocator memory.Allocator
	// Attempts bounds the commits tried per Flush when other writers
	// commit concurrently (default 5).
	Attempts int
	// Properties for a newly created table (on top of
	// catalog.DefaultTableProperties).
	Properties iceberggo.Properties
	// NoCreate refuses a missing table (catalog.ErrNoTable) instead of
	// creating it.
	NoCreate bool
}

// Sink is a [ingest.DeadLetterSink] writing to an Iceberg table: Send
// buffers in memory, Flush writes one Parquet file per partition and commits
// one append snapshot, so dead letters are durable before the pipeline
// commits the offsets that cover them. It is safe for concurrent use.
type Sink struct {
	c    *iceberg.Committer
	opts Options

	mu      sync.Mutex
	pending []dlRow
	closed  bool
	// unsettled is the last flush whose commit ended with its outcome
	// unknown: its files hold pending[:unsettled.rows], and the next Flush
	// commits them again under the same id (found if they landed).
	unsettled *unsettledFlush
}

type unsettledFlush struct {
	id    string
	files []iceberggo.DataFile
	rows  int
}

type dlRow struct {
	at        time.Time
	class     string
	reason    string
	topic     string
	partition int32
	offset    int64
	schemaID  int64 // -1: none
	key       []byte
	value     []byte
	ts        time.Time
}

// New loads the dead-letter table, creating it (schema
// [Schema], spec [Spec], format v2) if missing.
func New(ctx context.Context, cat icecatalog.Catalog, ident table.Identifier, opts Options) (*Sink, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Allocator == nil {
		opts.Allocator = memory.DefaultAllocator
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 5
	}
	if _, err := catalog.EnsureTable(ctx, cat, ident, Schema(), Spec(), opts.Properties, catalog.WithCreate(!opts.NoCreate)); err != nil {
		return nil, fmt.Errorf("dead-letter table: %w", err)
	}
	c, err := iceberg.NewCommitter(cat, ident)
	if err != nil {
		return nil, fmt.Errorf("dead-letter table: %w", err)
	}
	if _, err := c.Load(ctx); err != nil {
		return nil, fmt.Errorf("dead-letter table: %w", err)
	}
	return &Sink{c: c, opts: opts}, nil
}

// Send implements [ingest.DeadLetterSink]: it copies the record's bytes and
// buffers them until Flush.
func (d *Sink) Send(ctx context.Context, dl ingest.DeadLetter) error {
	r := dl.Record
	row := dlRow{
		at: d.opts.Now().UTC(), class: dl.Class, reason: dl.Reason,
		topic: r.Topic, partition: r.Partition, offset: r.Offset,
		schemaID: -1, ts: r.Timestamp,
	}
	if r.Key != nil {
		row.key = append([]byte{}, r.Key...)
	}
	if r.Value != nil {
		row.value = append([]byte{}, r.Value...)
	}
	switch {
	case dl.SchemaID != 0:
		row.schemaID = int64(dl.SchemaID)
	case len(r.Value) >= 5 && r.Value[0] == 0:
		row.schemaID = int64(binary.BigEndian.Uint32(r.Value[1:5]))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errors.New("dead-letter table: closed")
	}
	d.pending = append(d.pending, row)
	return nil
}

// Flush implements [ingest.DeadLetterSink]: one snapshot holding every dead letter
// sent since the last Flush. On error the dead letters stay buffered for
// the next Flush; after an outcome left unknown (the catalog or the object
// store did not answer) the next Flush commits the same files under the
// same commit id, so each dead letter lands once.
func (d *Sink) Flush(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.flushLocked(ctx)
}

func (d *Sink) flushLocked(ctx context.Context) error {
	if u := d.unsettled; u != nil {
		if err := d.commit(ctx, u.files, u.id, true); err != nil {
			return err
		}
		d.unsettled = nil
		clear(d.pending[:u.rows])
		d.pending = d.pending[u.rows:]
	}
	if len(d.pending) == 0 {
		return nil
	}
	tbl := d.c.Table()
	sc, err := table.SchemaToArrowSchema(tbl.Schema(), nil, true, false)
	if err != nil {
		return fmt.Errorf("dead-letter table: arrow schema: %w", err)
	}
	rec := d.build(sc)
	commitID := uuid.New()
	var files []iceberggo.DataFile
	seq := func(yield func(arrow.RecordBatch, error) bool) { yield(rec, nil) }
	for df, werr := range table.WriteRecords(ctx, tbl, sc, seq, table.WithWriteUUID(commitID)) {
		if werr != nil {
			err = werr
			break
		}
		files = append(files, df)
	}
	if err != nil {
		return fmt.Errorf("dead-letter table: writing %d dead letters: %w", len(d.pending), iceberg.MarkStorage(err))
	}
	if err := d.commit(ctx, files, commitID.String(), false); err != nil {
		if errors.Is(err, iceberg.ErrUnknownOutcome) || iceberg.Unavailable(err) != nil {
			d.unsettled = &unsettledFlush{id: commitID.String(), files: files, rows: len(d.pending)}
		}
		return err
	}
	clear(d.pending)
	d.pending = d.pending[:0]
	return nil
}

// commit appends files in one snapshot through the table's Committer: on a
// concurrent commit they are added again onto the new head; a commit whose
// outcome is unknown is looked up by its commit id before it is tried again.
func (d *Sink) commit(ctx context.Context, files []iceberggo.DataFile, commitID string, resume bool) error {
	props := iceberggo.Properties{CommitIDKey: commitID}
	_, err := d.c.Commit(ctx, iceberg.CommitRequest{
		IDKey: CommitIDKey, ID: commitID, Attempts: d.opts.Attempts, Resume: resume,
		Stage: func(ctx context.Context, _ *table.Table, tx *table.Transaction) error {
			return tx.AddDataFiles(ctx, files, props, table.WithoutDuplicateCheck())
		},
	})
	if err != nil {
		return fmt.Errorf("dead-letter table: commit %s: %w", commitID, err)
	}
	return nil
}

// build turns the pending rows into one Arrow record (ownership passes to
// WriteRecords, which releases it).
func (d *Sink) build(sc *arrow.Schema) arrow.RecordBatch {
	b := array.NewRecordBuilder(d.opts.Allocator, sc)
	defer b.Release()
	for i, f := range sc.Fields() {
		fb := b.Field(i)
		for _, r := range d.pending {
			switch f.Name {
			case ColDeadLetteredAt:
				fb.(*array.TimestampBuilder).Append(arrow.Timestamp(r.at.UnixMicro()))
			case ColErrorClass:
				fb.(*array.StringBuilder).Append(r.class)
			case ColReason:
				fb.(*array.StringBuilder).Append(r.reason)
			case ColSourceTopic:
				fb.(*array.StringBuilder).Append(r.topic)
			case ColSourcePartition:
				fb.(*array.Int32Builder).Append(r.partition)
			case ColSourceOffset:
				fb.(*array.Int64Builder).Append(r.offset)
			case ColSchemaID:
				if r.schemaID < 0 {
					fb.AppendNull()
				} else {
					fb.(*array.Int64Builder).Append(r.schemaID)
				}
			case ColKey:
				appendBinary(fb, r.key)
			case ColValue:
				appendBinary(fb, r.value)
			case ColSourceTimestamp:
				if r.ts.IsZero() {
					fb.AppendNull()
				} else {
					fb.(*array.TimestampBuilder).Append(arrow.Timestamp(r.ts.UnixMicro()))
				}
			default:
				fb.AppendNull() // a column added to the table later
			}
		}
	}
	return b.NewRecordBatch()
}

func appendBinary(b array.Builder, v []byte) {
	if v == nil {
		b.AppendNull()
		return
	}
	b.(*array.BinaryBuilder).Append(v)
}

// Close implements [ingest.DeadLetterSink]: it flushes. Safe to call twice.
func (d *Sink) Close(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	return d.flushLocked(ctx)
}
