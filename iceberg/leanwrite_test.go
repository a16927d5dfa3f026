package iceberg_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/internal/tabletest"
)

// wideSchema has a column of every type the lean writer encodes, optional
// and required, and the contract's partition columns.
func wideSchema() *iceberggo.Schema {
	str := iceberggo.PrimitiveTypes.String
	return iceberggo.NewSchema(0,
		iceberggo.NestedField{ID: 1, Name: "transaction_id", Type: str, Required: true},
		iceberggo.NestedField{ID: 2, Name: "event_time", Type: iceberggo.PrimitiveTypes.TimestampTz, Required: true},
		iceberggo.NestedField{ID: 3, Name: "note", Type: str},
		iceberggo.NestedField{ID: 4, Name: "amount", Type: iceberggo.DecimalTypeOf(18, 2)},
		iceberggo.NestedField{ID: 5, Name: "currency", Type: str},
		iceberggo.NestedField{ID: 6, Name: "fee", Type: iceberggo.DecimalTypeOf(9, 4)},
		iceberggo.NestedField{ID: 7, Name: "merchant_id", Type: str},
		iceberggo.NestedField{ID: 8, Name: "flag", Type: iceberggo.PrimitiveTypes.Bool},
		iceberggo.NestedField{ID: 9, Name: "day", Type: iceberggo.PrimitiveTypes.Date},
		iceberggo.NestedField{ID: 10, Name: "small", Type: iceberggo.PrimitiveTypes.Int32},
		iceberggo.NestedField{ID: 11, Name: "big", Type: iceberggo.PrimitiveTypes.Int64, Required: true},
		iceberggo.NestedField{ID: 12, Name: "local_time", Type: iceberggo.PrimitiveTypes.Timestamp},
		iceberggo.NestedField{ID: 13, Name: "blob", Type: iceberggo.PrimitiveTypes.Binary},
	)
}

func wideSpec() iceberggo.PartitionSpec {
	return iceberggo.NewPartitionSpec(
		iceberggo.PartitionField{SourceIDs: []int{5}, FieldID: 1000, Name: "currency", Transform: iceberggo.IdentityTransform{}},
		iceberggo.PartitionField{SourceIDs: []int{7}, FieldID: 1001, Name: "merchant_id", Transform: iceberggo.IdentityTransform{}},
	)
}

// wideWords are the values of the note column.
var wideWords = []string{"", "a", "zzzzzzzzzzzzzzzzzzzzzz", "ünïcödé-ünïcödé-ünïcödé", "\U0010FFFF\U0010FFFFabc", "short", "\ud7ff\ud7ff\ud7ff\ud7ff\ud7ff\ud7ff\ud7ff\ud7ff\ud7ff\ud7ff\ud7ff\ud7ff\ud7ff\ud7ff\ud7ff\ud7ff\ud7ff"}

// wideRecord builds n random rows: nulls in every optional column, long
// and non-ASCII strings (bounds are truncated to 16 code points), negative
// decimals, partition values with '/', '=' and spaces, and a null currency.
func wideRecord(t testing.TB, sc *arrow.Schema, n int, seed uint64) arrow.RecordBatch {
	t.Helper()
	rnd := rand.New(rand.NewPCG(seed, 7))
	b := array.NewRecordBuilder(memory.NewGoAllocator(), sc)
	defer b.Release()
	merchants := []string{"m-1", "m/2", "m=3 x", "mërchant-ü", "m-5"}
	currencies := []string{"EUR", "USD", "GBP"}
	words := wideWords
	null := func() bool { return rnd.IntN(5) == 0 }
	for i := range n {
		for c, f := range sc.Fields() {
			fb := b.Field(c)
			if f.Nullable && null() && f.Name != "merchant_id" {
				fb.AppendNull()
				continue
			}
			switch f.Name {
			case "transaction_id":
				fb.(*array.StringBuilder).Append(fmt.Sprintf("tx-%d-%06d", seed, i))
			case "event_time":
				fb.(*array.TimestampBuilder).Append(arrow.Timestamp(1_700_000_000_000_000 + rnd.Int64N(1e12) - 5e11))
			case "local_time":
				fb.(*array.TimestampBuilder).Append(arrow.Timestamp(rnd.Int64N(4e15) - 2e15))
			case "note":
				fb.(*array.StringBuilder).Append(words[rnd.IntN(len(words))])
			case "amount":
				fb.(*array.Decimal128Builder).Append(decimal128.FromI64(rnd.Int64N(2e17) - 1e17))
			case "fee":
				fb.(*array.Decimal128Builder).Append(decimal128.FromI64(rnd.Int64N(2e9) - 1e9))
			case "currency":
				fb.(*array.StringBuilder).Append(currencies[rnd.IntN(len(currencies))])
			case "merchant_id":
				fb.(*array.StringBuilder).Append(merchants[rnd.IntN(len(merchants))])
			case "flag":
				fb.(*array.BooleanBuilder).Append(rnd.IntN(2) == 0)
			case "day":
				fb.(*array.Date32Builder).Append(arrow.Date32(rnd.Int32N(40000) - 20000))
			case "small":
				fb.(*array.Int32Builder).Append(rnd.Int32() - 1<<30)
			case "big":
				fb.(*array.Int64Builder).Append(int64(rnd.Uint64()))
			case "blob":
				v := make([]byte, rnd.IntN(40))
				for k := range v {
					v[k] = byte(rnd.IntN(3)) * 0x7f // 0x00, 0x7f, 0xfe: exercises the upper bound's carry
				}
				fb.(*array.BinaryBuilder).Append(v)
			default:
				t.Fatalf("no generator for %s", f.Name)
			}
		}
	}
	return b.NewRecordBatch()
}

// wideTable creates the wide table in a fresh catalog and returns a Writer.
func wideTable(t *testing.T, props iceberggo.Properties, opts ...iceberg.WriterOption) *iceberg.Writer {
	t.Helper()
	e := tabletest.NewEnv(t)
	e.CreateTable(ident, wideSchema(), wideSpec(), props)
	return e.Writer(nil, ident, append(noWait(), opts...)...)
}

func commitRecord(t *testing.T, w *iceberg.Writer, rec arrow.RecordBatch) iceberg.CommitResult {
	t.Helper()
	res, err := w.Commit(t.Context(), iceberg.Batch{
		Records: []arrow.RecordBatch{rec}, Group: "g",
		To: iceberg.Offsets{tp(0): 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// partKey names a data file's partition.
func partKey(df iceberggo.DataFile) string {
	keys := slices.Sorted(maps.Keys(df.Partition()))
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "%d=%v;", k, df.Partition()[k])
	}
	return sb.String()
}

func dataFiles(t *testing.T, tbl *table.Table) map[string]iceberggo.DataFile {
	t.Helper()
	tasks, err := tbl.Scan().PlanFiles(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]iceberggo.DataFile{}
	for _, task := range tasks {
		k := partKey(task.File)
		if _, dup := out[k]; dup {
			t.Fatalf("two data files for partition %s", k)
		}
		out[k] = task.File
	}
	return out
}

// TestLeanWriterMatchesIcebergGo writes the same random rows through the
// lean writer and through iceberg-go's writer into two tables, then checks
// that iceberg-go reads back the same rows from both, that every data file
// carries the same partition, counts and bounds, and that filtered scans
// (which prune by those bounds) agree.
func TestLeanWriterMatchesIcebergGo(t *testing.T) {
	lean := wideTable(t, nil)
	ref := wideTable(t, nil, iceberg.WithIcebergGoWriter(true))
	if !lean.ArrowSchema().Equal(ref.ArrowSchema()) {
		t.Fatal("schemas differ")
	}
	const n = 3000
	resLean := commitRecord(t, lean, wideRecord(t, lean.ArrowSchema(), n, 1))
	resRef := commitRecord(t, ref, wideRecord(t, ref.ArrowSchema(), n, 1))
	if resLean.Rows != n || resRef.Rows != n || resLean.Files != resRef.Files {
		t.Fatalf("lean: %d rows in %d files; iceberg-go: %d rows in %d files", resLean.Rows, resLean.Files, resRef.Rows, resRef.Files)
	}

	got, want := tabletest.RowsByID(t, lean.Table()), tabletest.RowsByID(t, ref.Table())
	if len(got) != n || len(want) != n {
		t.Fatalf("scanned %d (lean) and %d (iceberg-go) rows, want %d", len(got), len(want), n)
	}
	for id, w := range want {
		if !maps.Equal(got[id], w) {
			t.Fatalf("row %s:\n lean       %s\n iceberg-go %s", id, got[id], w)
		}
	}

	lf, rf := dataFiles(t, lean.Table()), dataFiles(t, ref.Table())
	if len(lf) != len(rf) {
		t.Fatalf("%d lean files, %d iceberg-go files", len(lf), len(rf))
	}
	for k, r := range rf {
		l, ok := lf[k]
		if !ok {
			t.Fatalf("partition %s: no lean file", k)
		}
		if l.Count() != r.Count() {
			t.Errorf("%s: %d rows, want %d", k, l.Count(), r.Count())
		}
		if !maps.Equal(l.ValueCounts(), r.ValueCounts()) {
			t.Errorf("%s: value counts %v, want %v", k, l.ValueCounts(), r.ValueCounts())
		}
		if !maps.Equal(l.NullValueCounts(), r.NullValueCounts()) {
			t.Errorf("%s: null counts %v, want %v", k, l.NullValueCounts(), r.NullValueCounts())
		}
		if !slices.Equal(slices.Sorted(maps.Keys(l.ColumnSizes())), slices.Sorted(maps.Keys(r.ColumnSizes()))) {
			t.Errorf("%s: column sizes for %v, want %v", k, slices.Sorted(maps.Keys(l.ColumnSizes())), slices.Sorted(maps.Keys(r.ColumnSizes())))
		}
		for _, b := range []struct {
			name      string
			got, want map[int][]byte
		}{{"lower", l.LowerBoundValues(), r.LowerBoundValues()}, {"upper", l.UpperBoundValues(), r.UpperBoundValues()}} {
			for id, wv := range b.want {
				if gv, ok := b.got[id]; !ok || !bytes.Equal(gv, wv) {
					t.Errorf("%s: %s bound of field %d = %x, want %x", k, b.name, id, gv, wv)
				}
			}
			for id := range b.got {
				if _, ok := b.want[id]; !ok {
					t.Errorf("%s: %s bound of field %d that iceberg-go does not write", k, b.name, id)
				}
			}
		}
	}

	// Filters that prune by the bounds must find the same rows.
	for _, f := range []iceberggo.BooleanExpression{
		iceberggo.EqualTo(iceberggo.Reference("merchant_id"), "m/2"),
		iceberggo.GreaterThan(iceberggo.Reference("note"), "zzzzzzzzzzzzzzzz"),
		iceberggo.LessThan(iceberggo.Reference("big"), int64(0)),
		iceberggo.GreaterThanEqual(iceberggo.Reference("transaction_id"), "tx-1-002990"),
		iceberggo.IsNull(iceberggo.Reference("currency")),
		iceberggo.EqualTo(iceberggo.Reference("flag"), true),
	} {
		g, w := tabletest.Lines(t, lean.Table(), table.WithRowFilter(f)), tabletest.Lines(t, ref.Table(), table.WithRowFilter(f))
		if len(w) == 0 || !slices.Equal(g, w) {
			t.Errorf("filter %s: lean %d rows, iceberg-go %d", f, len(g), len(w))
		}
	}
}

// TestLeanFilesReadByArrowGo opens every lean data file with arrow-go's
// Parquet reader: row count, field ids and the column statistics it keeps.
func TestLeanFilesReadByArrowGo(t *testing.T) {
	w := wideTable(t, nil)
	commitRecord(t, w, wideRecord(t, w.ArrowSchema(), 500, 2))
	fsys, err := w.Table().FS(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var rows int64
	for _, df := range dataFiles(t, w.Table()) {
		f, err := fsys.Open(df.FilePath())
		if err != nil {
			t.Fatal(err)
		}
		rd, err := file.NewParquetReader(f)
		if err != nil {
			t.Fatalf("%s: %v", df.FilePath(), err)
		}
		md := rd.MetaData()
		if md.NumRows != df.Count() || md.NumRowGroups() != 1 {
			t.Fatalf("%s: %d rows in %d row groups, manifest says %d", df.FilePath(), md.NumRows, md.NumRowGroups(), df.Count())
		}
		for i := range md.Schema.NumColumns() {
			col := md.Schema.Column(i)
			if col.SchemaNode().FieldID() != int32(i+1) {
				t.Fatalf("column %s: field id %d", col.Name(), col.SchemaNode().FieldID())
			}
			cc, err := md.RowGroup(0).ColumnChunk(i)
			if err != nil {
				t.Fatal(err)
			}
			st, err := cc.Statistics()
			if err != nil || st == nil {
				t.Fatalf("column %s: statistics %v %v", col.Name(), st, err)
			}
			if st.NullCount() != df.NullValueCounts()[i+1] {
				t.Fatalf("column %s: %d nulls, manifest says %d", col.Name(), st.NullCount(), df.NullValueCounts()[i+1])
			}
		}
		ar, err := pqarrow.NewFileReader(rd, pqarrow.ArrowReadProperties{}, memory.NewGoAllocator())
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := ar.ReadTable(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", df.FilePath(), err)
		}
		rows += tbl.NumRows()
		tbl.Release()
		_ = rd.Close()
	}
	if rows != 500 {
		t.Fatalf("read %d rows, want 500", rows)
	}
}

// TestLeanWriterSplitsAtTargetSize: a partition larger than
// write.target-file-size-bytes becomes several files.
func TestLeanWriterSplitsAtTargetSize(t *testing.T) {
	// ~20 partitions of ~200 rows, ~14 KB each unsplit: a 6,000-byte
	// target splits every one of them.
	const target = 6000
	for name, w := range map[string]*iceberg.Writer{
		"table property": wideTable(t, iceberggo.Properties{"write.target-file-size-bytes": strconv.Itoa(target)}),
	} {
		t.Run(name, func(t *testing.T) {
			res := commitRecord(t, w, wideRecord(t, w.ArrowSchema(), 4000, 3))
			tasks, err := w.Table().Scan().PlanFiles(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			parts := map[string]int{}
			for _, task := range tasks {
				parts[partKey(task.File)]++
				if task.File.FileSizeBytes() > target && task.File.Count() > 1 {
					t.Errorf("%s: %d bytes over the %d-byte target", task.File.FilePath(), task.File.FileSizeBytes(), target)
				}
			}
			if res.Rows != 4000 || len(tabletest.IDs(t, w.Table())) != 4000 {
				t.Fatalf("%d rows committed", res.Rows)
			}
			if len(tasks) < 2*len(parts) {
				t.Fatalf("%d files for %d partitions: not split", len(tasks), len(parts))
			}
		})
	}
}

// TestLeanWriterCodecsAndMetricsModes: snappy and uncompressed pages,
// metrics mode none / counts / full per column.
func TestLeanWriterCodecsAndMetricsModes(t *testing.T) {
	for _, codec := range []string{"snappy", "uncompressed"} {
		t.Run(codec, func(t *testing.T) {
			w := wideTable(t, iceberggo.Properties{
				"write.parquet.compression-codec":              codec,
				"write.metadata.metrics.default":               "counts",
				"write.metadata.metrics.column.note":           "full",
				"write.metadata.metrics.column.transaction_id": "none",
				"write.parquet.page-row-limit":                 "7",
			})
			commitRecord(t, w, wideRecord(t, w.ArrowSchema(), 300, 4))
			if got := len(tabletest.IDs(t, w.Table())); got != 300 {
				t.Fatalf("scanned %d rows", got)
			}
			for _, df := range dataFiles(t, w.Table()) {
				if _, ok := df.ValueCounts()[1]; ok {
					t.Fatal("transaction_id has metrics under mode none")
				}
				if _, ok := df.LowerBoundValues()[11]; ok {
					t.Fatal("big has bounds under mode counts")
				}
				if df.ValueCounts()[11] != df.Count() {
					t.Fatal("big has no value count under mode counts")
				}
				// Full mode keeps values whole: the bounds are values.
				lo, hi := df.LowerBoundValues()[3], df.UpperBoundValues()[3]
				if !slices.Contains(wideWords, string(lo)) || !slices.Contains(wideWords, string(hi)) {
					t.Fatalf("note bounds %q..%q under mode full are not values", lo, hi)
				}
			}
		})
	}
}

// TestLeanWriterFallsBack: a table the lean writer cannot write (here a
// list column) is written by iceberg-go's writer, and still committed.
func TestLeanWriterFallsBack(t *testing.T) {
	e := tabletest.NewEnv(t)
	sc := iceberggo.NewSchema(0,
		iceberggo.NestedField{ID: 1, Name: "transaction_id", Type: iceberggo.PrimitiveTypes.String, Required: true},
		iceberggo.NestedField{ID: 2, Name: "tags", Type: &iceberggo.ListType{ElementID: 3, Element: iceberggo.PrimitiveTypes.String}},
	)
	e.CreateTable(ident, sc, *iceberggo.UnpartitionedSpec, nil)
	w := e.Writer(nil, ident, noWait()...)
	if reason := w.LeanWriterReason(); reason == "" {
		t.Fatal("lean writer claims a list column")
	}
	b := array.NewRecordBuilder(memory.NewGoAllocator(), w.ArrowSchema())
	defer b.Release()
	b.Field(0).(*array.StringBuilder).Append("t1")
	lb := b.Field(1).(*array.ListBuilder)
	lb.Append(true)
	lb.ValueBuilder().(*array.StringBuilder).Append("x")
	res := commitRecord(t, w, b.NewRecordBatch())
	if res.Rows != 1 {
		t.Fatalf("committed %d rows", res.Rows)
	}
	if got := tabletest.IDs(t, w.Table()); len(got) != 1 {
		t.Fatalf("scanned %d rows", len(got))
	}
}

// TestLeanWriterUnpartitioned: an unpartitioned flat table is written by the
// lean writer as one file per batch and reads back whole.
func TestLeanWriterUnpartitioned(t *testing.T) {
	e := tabletest.NewEnv(t)
	e.CreateTable(ident, wideSchema(), *iceberggo.UnpartitionedSpec, nil)
	w := e.Writer(nil, ident, noWait()...)
	if why := w.LeanWriterReason(); why != "" {
		t.Fatalf("lean writer refuses an unpartitioned flat table: %s", why)
	}
	res := commitRecord(t, w, wideRecord(t, w.ArrowSchema(), 700, 6))
	if res.Files != 1 || res.Rows != 700 {
		t.Fatalf("%d rows in %d files, want 700 in 1", res.Rows, res.Files)
	}
	if got := len(tabletest.IDs(t, w.Table())); got != 700 {
		t.Fatalf("scanned %d rows", got)
	}
}

// TestLeanWriterRefusesNullInRequiredColumn: a batch with a null in a
// required column fails as a whole: an error naming the column, no
// snapshot, and none of the files written before the bad one left behind.
func TestLeanWriterRefusesNullInRequiredColumn(t *testing.T) {
	w := wideTable(t, nil)
	sc := w.ArrowSchema()
	good := wideRecord(t, sc, 500, 7)
	defer good.Release()
	// Same rows, but the last one has a null transaction_id and a merchant
	// of its own: its partition comes last, so every other partition's
	// file is written before the bad one is reached.
	cols := make([]arrow.Array, good.NumCols())
	for i := range cols {
		cols[i] = good.Column(i)
	}
	lastDifferent := func(c int, last func(*array.StringBuilder)) {
		b := array.NewStringBuilder(memory.NewGoAllocator())
		src := good.Column(c).(*array.String)
		for i := range src.Len() - 1 {
			b.Append(src.Value(i))
		}
		last(b)
		cols[c] = b.NewArray()
		t.Cleanup(cols[c].Release)
	}
	lastDifferent(0, func(b *array.StringBuilder) { b.AppendNull() })
	lastDifferent(6, func(b *array.StringBuilder) { b.Append("m-last") })
	if sc.Field(0).Name != "transaction_id" || sc.Field(6).Name != "merchant_id" {
		t.Fatal("wide schema changed")
	}
	bad := array.NewRecordBatch(sc, cols, good.NumRows())

	_, err := w.Commit(t.Context(), iceberg.Batch{Records: []arrow.RecordBatch{bad}, Group: "g", To: iceberg.Offsets{tp(0): 1}})
	if err == nil || !strings.Contains(err.Error(), `"transaction_id"`) {
		t.Fatalf("commit error = %v, want one naming transaction_id", err)
	}
	if err := w.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if snap := w.Table().CurrentSnapshot(); snap != nil {
		t.Fatalf("snapshot %d committed", snap.SnapshotID)
	}
	loc := strings.TrimPrefix(w.Table().Location(), "file://")
	var left []string
	_ = filepath.WalkDir(filepath.Join(loc, "data"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if len(left) > 0 {
		t.Fatalf("%d data files left behind, e.g. %s", len(left), left[0])
	}
}

// TestLeanWriterSlicedRecord: a record that is a slice of a larger one
// (offset into its buffers, as a reader or compute kernel may hand over)
// is written as exactly its own rows, through both writers alike.
func TestLeanWriterSlicedRecord(t *testing.T) {
	lean := wideTable(t, nil)
	ref := wideTable(t, nil, iceberg.WithIcebergGoWriter(true))
	const n, from, to = 600, 137, 452
	full := wideRecord(t, lean.ArrowSchema(), n, 7)
	want := map[string]string{}
	ids := full.Column(0)
	for i := from; i < to; i++ {
		want[ids.ValueStr(i)] = ""
	}
	var files []int
	for _, w := range []*iceberg.Writer{lean, ref} {
		rec := full.NewSlice(from, to)
		res := commitRecord(t, w, rec)
		if res.Rows != to-from {
			t.Fatalf("%d rows committed, want %d", res.Rows, to-from)
		}
		files = append(files, res.Files)
	}
	// One file per partition, as iceberg-go writes them.
	if files[0] != files[1] {
		t.Fatalf("lean wrote %d files, iceberg-go %d", files[0], files[1])
	}
	full.Release()
	got, exp := tabletest.RowsByID(t, lean.Table()), tabletest.RowsByID(t, ref.Table())
	if len(got) != to-from || len(exp) != to-from {
		t.Fatalf("scanned %d (lean) and %d (iceberg-go) rows, want %d", len(got), len(exp), to-from)
	}
	for id, row := range exp {
		if _, ok := want[id]; !ok {
			t.Fatalf("iceberg-go stored row %s, outside the slice", id)
		}
		if !maps.Equal(got[id], row) {
			t.Fatalf("row %s:\n lean       %s\n iceberg-go %s", id, got[id], row)
		}
	}
}
