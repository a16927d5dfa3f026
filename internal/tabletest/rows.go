package tabletest

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go/table"
)

// Null is how Text renders a null value.
const Null = "<null>"

// Row is one row read back: column name to value as Text renders it.
type Row map[string]string

// String renders the row's columns in name order.
func (r Row) String() string {
	var sb strings.Builder
	for _, k := range slices.Sorted(maps.Keys(r)) {
		sb.WriteString(k)
		sb.WriteByte('=')
		sb.WriteString(r[k])
		sb.WriteByte('|')
	}
	return sb.String()
}

// Text renders the value of row i of col: Null for a null, a timestamp in
// RFC 3339 (UTC, nanoseconds), a decimal at its scale, anything else as
// arrow's ValueStr (binary: base64).
func Text(col arrow.Array, i int) string {
	if col.IsNull(i) {
		return Null
	}
	switch a := col.(type) {
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return a.Value(i).ToTime(unit).UTC().Format(time.RFC3339Nano)
	case *array.Decimal128:
		return a.Value(i).ToString(a.DataType().(*arrow.Decimal128Type).Scale)
	default:
		return col.ValueStr(i)
	}
}

// Scan reads every row of tbl through an iceberg-go scan and calls row with
// each record and row index.
func Scan(t testing.TB, tbl *table.Table, row func(rec arrow.RecordBatch, i int), opts ...table.ScanOption) {
	t.Helper()
	_, recs, err := tbl.Scan(opts...).ToArrowRecords(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for rec, err := range recs {
		if err != nil {
			t.Fatal(err)
		}
		for i := range int(rec.NumRows()) {
			row(rec, i)
		}
		rec.Release()
	}
}

// RowOf is row i of rec.
func RowOf(rec arrow.RecordBatch, i int) Row {
	r := make(Row, rec.NumCols())
	for c, f := range rec.Schema().Fields() {
		r[f.Name] = Text(rec.Column(c), i)
	}
	return r
}

// Rows is every row of tbl, in scan order.
func Rows(t testing.TB, tbl *table.Table, opts ...table.ScanOption) []Row {
	t.Helper()
	var out []Row
	Scan(t, tbl, func(rec arrow.RecordBatch, i int) { out = append(out, RowOf(rec, i)) }, opts...)
	return out
}

// RowsByID is every row of tbl by its transaction_id; a transaction in the
// table twice fails the test.
func RowsByID(t testing.TB, tbl *table.Table, opts ...table.ScanOption) map[string]Row {
	t.Helper()
	out := map[string]Row{}
	for _, r := range Rows(t, tbl, opts...) {
		id := r["transaction_id"]
		if _, dup := out[id]; dup {
			t.Errorf("transaction %s is in the table twice", id)
		}
		out[id] = r
	}
	return out
}

// IDs is the transaction_id of every row of tbl, sorted.
func IDs(t testing.TB, tbl *table.Table, opts ...table.ScanOption) []string {
	t.Helper()
	var ids []string
	for _, r := range Rows(t, tbl, opts...) {
		ids = append(ids, r["transaction_id"])
	}
	slices.Sort(ids)
	return ids
}

// Lines is every row of tbl rendered as one line, "name=value|" per column
// in the table's column order, sorted: the multiset of rows, to compare a
// table before and after a rewrite.
func Lines(t testing.TB, tbl *table.Table, opts ...table.ScanOption) []string {
	t.Helper()
	var out []string
	Scan(t, tbl, func(rec arrow.RecordBatch, i int) {
		var sb strings.Builder
		for c, f := range rec.Schema().Fields() {
			sb.WriteString(f.Name)
			sb.WriteByte('=')
			sb.WriteString(Text(rec.Column(c), i))
			sb.WriteByte('|')
		}
		out = append(out, sb.String())
	}, opts...)
	slices.Sort(out)
	return out
}
