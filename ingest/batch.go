package ingest

import (
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/floe-io/floe/schema"
)

// batch accumulates rows in Arrow builders between two commits.
type batch struct {
	mem     memory.Allocator
	full    *arrow.Schema // the table's Arrow schema, with _ingested_at
	row     *arrow.Schema // full without _ingested_at: what the appenders fill
	b       *array.RecordBuilder
	rows    int64
	bytes   int64
	dead    int64
	opened  time.Time // when the first record entered; zero when empty
	touched bool      // some offset advanced since the last commit
	// partitions holds the distinct table partitions of the rows.
	partitions map[string]struct{}
}

func newBatch(mem memory.Allocator, full *arrow.Schema) *batch {
	row := schema.RowArrowSchema(full)
	return &batch{mem: mem, full: full, row: row, b: array.NewRecordBuilder(mem, row), partitions: map[string]struct{}{}}
}

// empty reports whether there is nothing to commit: no rows and no offset
// that moved.
func (b *batch) empty() bool { return b.rows == 0 && !b.touched }

func (b *batch) open(now time.Time) {
	if b.opened.IsZero() {
		b.opened = now
	}
}

// build returns the rows as one record batch in the full table schema, the
// _ingested_at column set to ingestedAt, and resets the batch. The caller
// owns the result.
func (b *batch) build(ingestedAt time.Time) (arrow.RecordBatch, error) {
	rec := b.b.NewRecordBatch()
	defer rec.Release()
	n := rec.NumRows()
	cols := make([]arrow.Array, len(b.full.Fields()))
	for i, f := range b.full.Fields() {
		if f.Name == schema.IngestedAtColumn {
			ts, ok := f.Type.(*arrow.TimestampType)
			if !ok {
				return nil, fmt.Errorf("column %s is %s, want a timestamp", f.Name, f.Type)
			}
			v, err := arrow.TimestampFromTime(ingestedAt, ts.Unit)
			if err != nil {
				return nil, err
			}
			tb := array.NewTimestampBuilder(b.mem, ts)
			tb.Reserve(int(n))
			for j := int64(0); j < n; j++ {
				tb.UnsafeAppend(v)
			}
			cols[i] = tb.NewArray()
			tb.Release()
			continue
		}
		idx := b.row.FieldIndices(f.Name)
		if len(idx) != 1 {
			return nil, fmt.Errorf("column %s missing from the row schema", f.Name)
		}
		col := rec.Column(idx[0])
		col.Retain()
		cols[i] = col
	}
	out := array.NewRecordBatch(b.full, cols, n)
	for _, c := range cols {
		c.Release()
	}
	b.reset()
	return out, nil
}

// addPartition counts a row's partition; only a new partition allocates.
func (b *batch) addPartition(key []byte) {
	if _, ok := b.partitions[string(key)]; !ok {
		b.partitions[string(key)] = struct{}{}
	}
}

func (b *batch) reset() {
	clear(b.partitions)
	b.rows, b.bytes, b.dead = 0, 0, 0
	b.opened = time.Time{}
	b.touched = false
}

// discard drops every buffered row.
func (b *batch) discard() {
	rec := b.b.NewRecordBatch()
	rec.Release()
	b.reset()
}

func (b *batch) release() { b.b.Release() }
