// Package tabletest holds what the tests of several packages share: a SQLite
// catalog with a contract table, and readers of the tables floe writes. Only
// tests import it.
package tabletest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	icecatalog "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/dlqtable"
)

// DLQRow is one row read back from the dead-letter table.
type DLQRow struct {
	At                   time.Time
	Class, Reason, Topic string
	Partition            int32
	Offset               int64
	SchemaID             *int64
	Key, Value           []byte
	KeyNull, ValueNull   bool
}

// readDLQ scans the whole dead-letter table with iceberg-go's reader.
func ReadDLQ(t testing.TB, cat icecatalog.Catalog, ident table.Identifier) []DLQRow {
	t.Helper()
	ctx := context.Background()
	tbl, err := cat.LoadTable(ctx, ident)
	if err != nil {
		t.Fatal(err)
	}
	at, err := tbl.Scan().ToArrowTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	tr := array.NewTableReader(at, 1024)
	defer tr.Release()
	var rows []DLQRow
	for tr.Next() {
		rec := tr.RecordBatch()
		col := func(name string) arrow.Array {
			idx := rec.Schema().FieldIndices(name)
			if len(idx) != 1 {
				t.Fatalf("no column %s", name)
			}
			return rec.Column(idx[0])
		}
		for i := range int(rec.NumRows()) {
			r := DLQRow{
				At:        col(dlqtable.ColDeadLetteredAt).(*array.Timestamp).Value(i).ToTime(arrow.Microsecond),
				Class:     col(dlqtable.ColErrorClass).(*array.String).Value(i),
				Reason:    col(dlqtable.ColReason).(*array.String).Value(i),
				Topic:     col(dlqtable.ColSourceTopic).(*array.String).Value(i),
				Partition: col(dlqtable.ColSourcePartition).(*array.Int32).Value(i),
				Offset:    col(dlqtable.ColSourceOffset).(*array.Int64).Value(i),
			}
			if s := col(dlqtable.ColSchemaID); !s.IsNull(i) {
				v := s.(*array.Int64).Value(i)
				r.SchemaID = &v
			}
			k, v := col(dlqtable.ColKey).(*array.Binary), col(dlqtable.ColValue).(*array.Binary)
			r.KeyNull, r.ValueNull = k.IsNull(i), v.IsNull(i)
			r.Key, r.Value = bytes.Clone(k.Value(i)), bytes.Clone(v.Value(i))
			rows = append(rows, r)
		}
	}
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}
