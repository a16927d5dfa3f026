// Package tabletest holds what the tests of several packages share: a SQLite
// catalog and local warehouse (Env), and the readers of the tables floe
// writes (Rows, RowsByID, IDs, Lines, ReadDLQ), all scanning through
// iceberg-go. Only tests import it.
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

// ReadDLQ scans the whole dead-letter table.
func ReadDLQ(t testing.TB, cat icecatalog.Catalog, ident table.Identifier) []DLQRow {
	t.Helper()
	tbl, err := cat.LoadTable(context.Background(), ident)
	if err != nil {
		t.Fatal(err)
	}
	var rows []DLQRow
	Scan(t, tbl, func(rec arrow.RecordBatch, i int) {
		col := func(name string) arrow.Array {
			idx := rec.Schema().FieldIndices(name)
			if len(idx) != 1 {
				t.Fatalf("no column %s", name)
			}
			return rec.Column(idx[0])
		}
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
	})
	return rows
}
