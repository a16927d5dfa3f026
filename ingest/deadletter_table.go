package ingest

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
)

// Columns of the dead-letter table.
const (
	DLQDeadLetteredAt  = "dead_lettered_at"
	DLQErrorClass      = "error_class"
	DLQReason          = "reason"
	DLQSourceTopic     = "source_topic"
	DLQSourcePartition = "source_partition"
	DLQSourceOffset    = "source_offset"
	DLQSchemaID        = "schema_id"
	DLQKey             = "key"
	DLQValue           = "value"
	DLQSourceTimestamp = "source_timestamp"
)

// DLQCommitIDKey is the snapshot summary key holding a dead-letter commit's
// id, by which a commit of unknown outcome is looked up before re-adding.
const DLQCommitIDKey = "floe.dlq.commit-id"

// DeadLetterTableSchema is the Iceberg schema of the dead-letter table: the
// original key and value as received (the payload still encrypted), the
// error class, the reason (never plaintext), the source coordinates and the
// registry schema id of the value when its frame names one.
func DeadLetterTableSchema() *iceberggo.Schema {
	str, bin := iceberggo.PrimitiveTypes.String, iceberggo.PrimitiveTypes.Binary
	tstz := iceberggo.PrimitiveTypes.TimestampTz
	return iceberggo.NewSchema(0,
		iceberggo.NestedField{ID: 1, Name: DLQDeadLetteredAt, Type: tstz, Required: true},
		iceberggo.NestedField{ID: 2, Name: DLQErrorClass, Type: str, Required: true},
		iceberggo.NestedField{ID: 3, Name: DLQReason, Type: str, Required: true},
		iceberggo.NestedField{ID: 4, Name: DLQSourceTopic, Type: str, Required: true},
		iceberggo.NestedField{ID: 5, Name: DLQSourcePartition, Type: iceberggo.PrimitiveTypes.Int32, Required: true},
		iceberggo.NestedField{ID: 6, Name: DLQSourceOffset, Type: iceberggo.PrimitiveTypes.Int64, Required: true},
		iceberggo.NestedField{ID: 7, Name: DLQSchemaID, Type: iceberggo.PrimitiveTypes.Int64},
		iceberggo.NestedField{ID: 8, Name: DLQKey, Type: bin},
		iceberggo.NestedField{ID: 9, Name: DLQValue, Type: bin},
		iceberggo.NestedField{ID: 10, Name: DLQSourceTimestamp, Type: tstz},
	)
}

// DeadLetterTableSpec partitions the dead-letter table by
// day(dead_lettered_at) and identity(error_class).
func DeadLetterTableSpec() iceberggo.PartitionSpec {
	return iceberggo.NewPartitionSpec(
		iceberggo.PartitionField{SourceIDs: []int{1}, FieldID: 1000, Name: "dead_lettered_day", Transform: iceberggo.DayTransform{}},
		iceberggo.PartitionField{SourceIDs: []int{2}, FieldID: 1001, Name: DLQErrorClass, Transform: iceberggo.IdentityTransform{}},
	)
}

// DeadLetterTableName is the default dead-letter table of a table:
// "<namespace>.<name>_dlq".
func DeadLetterTableName(ident table.Identifier) table.Identifier {
	out := append(table.Identifier(nil), ident...)
	if len(out) > 0 {
		out[len(out)-1] += "_dlq"
	}
	return out
}

// TableDeadLettersOptions tune a [TableDeadLetters]; zero values mean the
// defaults.
type TableDeadLettersOptions struct {
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

// TableDeadLetters is a [DeadLetterSink] writing to an Iceberg table: Send
// buffers in memory, Flush writes one Parquet file per partition and commits
// one append snapshot, so dead letters are durable before the pipeline
// commits the offsets that cover them. It is safe for concurrent use.
type TableDeadLetters struct {
	cat   icecatalog.Catalog
	ident table.Identifier
	opts  TableDeadLettersOptions

	mu      sync.Mutex
	tbl     *table.Table
	pending []dlRow
	closed  bool
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

// NewTableDeadLetters loads the dead-letter table, creating it (schema
// [DeadLetterTableSchema], spec [DeadLetterTableSpec], format v2) if missing.
func NewTableDeadLetters(ctx context.Context, cat icecatalog.Catalog, ident table.Identifier, opts TableDeadLettersOptions) (*TableDeadLetters, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Allocator == nil {
		opts.Allocator = memory.DefaultAllocator
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 5
	}
	tbl, err := catalog.EnsureTable(ctx, cat, ident, DeadLetterTableSchema(), DeadLetterTableSpec(), opts.Properties, catalog.WithCreate(!opts.NoCreate))
	if err != nil {
		return nil, fmt.Errorf("dead-letter table: %w", err)
	}
	return &TableDeadLetters{cat: cat, ident: ident, opts: opts, tbl: tbl}, nil
}

// Send implements [DeadLetterSink]: it copies the record's bytes and
// buffers them until Flush.
func (d *TableDeadLetters) Send(ctx context.Context, dl DeadLetter) error {
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

// Flush implements [DeadLetterSink]: one snapshot holding every dead letter
// sent since the last Flush. On error the dead letters stay buffered for
// the next Flush.
func (d *TableDeadLetters) Flush(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.flushLocked(ctx)
}

func (d *TableDeadLetters) flushLocked(ctx context.Context) error {
	if len(d.pending) == 0 {
		return nil
	}
	sc, err := table.SchemaToArrowSchema(d.tbl.Schema(), nil, true, false)
	if err != nil {
		return fmt.Errorf("dead-letter table: arrow schema: %w", err)
	}
	rec := d.build(sc)
	commitID := uuid.New()
	var files []iceberggo.DataFile
	seq := func(yield func(arrow.RecordBatch, error) bool) { yield(rec, nil) }
	for df, werr := range table.WriteRecords(ctx, d.tbl, sc, seq, table.WithWriteUUID(commitID)) {
		if werr != nil {
			err = werr
			break
		}
		files = append(files, df)
	}
	if err != nil {
		return fmt.Errorf("dead-letter table: writing %d dead letters: %w", len(d.pending), err)
	}
	if err := d.commit(ctx, files, commitID.String()); err != nil {
		return err
	}
	clear(d.pending)
	d.pending = d.pending[:0]
	return nil
}

// commit appends files in one snapshot, re-adding them onto the new head
// when another writer committed first. A commit whose outcome is unknown
// is looked up by its commit id before it is tried again.
func (d *TableDeadLetters) commit(ctx context.Context, files []iceberggo.DataFile, commitID string) error {
	props := iceberggo.Properties{DLQCommitIDKey: commitID}
	var errs []error
	for range d.opts.Attempts {
		tx := d.tbl.NewTransaction()
		err := tx.AddDataFiles(ctx, files, props, table.WithoutDuplicateCheck())
		if err == nil {
			var tbl *table.Table
			if tbl, err = tx.Commit(ctx); err == nil {
				d.tbl = tbl
				return nil
			}
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
		fresh, lerr := d.cat.LoadTable(ctx, d.ident)
		if lerr != nil {
			errs = append(errs, lerr)
			break
		}
		d.tbl = fresh
		if hasCommit(fresh, commitID) {
			return nil // the failed-looking commit had landed
		}
	}
	return fmt.Errorf("dead-letter table: commit %s: %w", commitID, errors.Join(errs...))
}

func hasCommit(tbl *table.Table, commitID string) bool {
	for _, s := range tbl.Metadata().Snapshots() {
		if s.Summary != nil && s.Summary.Properties[DLQCommitIDKey] == commitID {
			return true
		}
	}
	return false
}

// build turns the pending rows into one Arrow record (ownership passes to
// WriteRecords, which releases it).
func (d *TableDeadLetters) build(sc *arrow.Schema) arrow.RecordBatch {
	b := array.NewRecordBuilder(d.opts.Allocator, sc)
	defer b.Release()
	for i, f := range sc.Fields() {
		fb := b.Field(i)
		for _, r := range d.pending {
			switch f.Name {
			case DLQDeadLetteredAt:
				fb.(*array.TimestampBuilder).Append(arrow.Timestamp(r.at.UnixMicro()))
			case DLQErrorClass:
				fb.(*array.StringBuilder).Append(r.class)
			case DLQReason:
				fb.(*array.StringBuilder).Append(r.reason)
			case DLQSourceTopic:
				fb.(*array.StringBuilder).Append(r.topic)
			case DLQSourcePartition:
				fb.(*array.Int32Builder).Append(r.partition)
			case DLQSourceOffset:
				fb.(*array.Int64Builder).Append(r.offset)
			case DLQSchemaID:
				if r.schemaID < 0 {
					fb.AppendNull()
				} else {
					fb.(*array.Int64Builder).Append(r.schemaID)
				}
			case DLQKey:
				appendBinary(fb, r.key)
			case DLQValue:
				appendBinary(fb, r.value)
			case DLQSourceTimestamp:
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

// Close implements [DeadLetterSink]: it flushes. Safe to call twice.
func (d *TableDeadLetters) Close(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	return d.flushLocked(ctx)
}
