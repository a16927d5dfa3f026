package compaction_test

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	iceio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/compaction"
	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/internal/tabletest"
)

// TestReadFlatMatchesPqarrow reads data files written by floe's lean
// writer and by iceberg-go's (dictionary pages, other page sizes) through
// readFlat and through pqarrow, into the table's schema and into an
// evolved one (an int column widened to long, a column added): the
// records must be equal, and readFlat must have read every file itself.
func TestReadFlatMatchesPqarrow(t *testing.T) {
	ctx := context.Background()
	e := tabletest.NewContractEnv(t, nil)
	for i, w := range []*iceberg.Writer{e.Writer(nil, ident), e.Writer(nil, ident, iceberg.WithIcebergGoWriter(true))} {
		f := newFeed(t, w, "floe", topic, []string{"lean", "icebergo"}[i])
		for range 2 {
			if _, err := f.commit(ctx, 30, 40); err != nil {
				t.Fatal(err)
			}
		}
		// One file of 50,000 rows: several pages (20,000 rows each at most),
		// several read batches.
		if _, err := f.commit(ctx, 1, 50_000); err != nil {
			t.Fatal(err)
		}
	}
	tbl, fs, target := dataFiles(t, e)
	// The evolved target: _kafka_partition (int) read as long, and a
	// column the files do not have.
	fields := target.Fields()
	widened := false
	for i, f := range fields {
		if f.Name == "_kafka_partition" {
			fields[i].Type, widened = arrow.PrimitiveTypes.Int64, true
		}
	}
	if !widened {
		t.Fatal("no _kafka_partition column to widen")
	}
	// A target readFlat leaves to pqarrow: _kafka_offset (long) as double.
	odd := target.Fields()
	for i, f := range odd {
		if f.Name == "_kafka_offset" {
			odd[i].Type = arrow.PrimitiveTypes.Float64
		}
	}
	asDouble := arrow.NewSchema(odd, nil)
	md := arrow.NewMetadata([]string{"PARQUET:field_id"}, []string{"9999"})
	evolved := arrow.NewSchema(append(fields, arrow.Field{Name: "added_later", Type: arrow.BinaryTypes.String, Nullable: true, Metadata: md}), nil)

	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) < 60 {
		t.Fatalf("%d data files, want at least 60", len(tasks))
	}
	t.Cleanup(compaction.SetSmallRead(4 << 20)) // puts the default back at the end
	for i, task := range tasks {
		path, size := task.File.FilePath(), task.File.FileSizeBytes()
		// Every other file through positioned reads (as files over 4 MiB
		// are read) instead of from memory.
		compaction.SetSmallRead(int64(4<<20) * int64(1-i%2))
		for _, sc := range []*arrow.Schema{target, evolved} {
			flat, err := compaction.ReadFlat(fs, path, sc)
			if err != nil {
				t.Fatalf("%s: readFlat: %v", path, err)
			}
			viaFlat, err := compaction.ReadDataFile(ctx, fs, path, size, sc, false)
			if err != nil {
				t.Fatal(err)
			}
			viaPq, err := compaction.ReadDataFile(ctx, fs, path, size, sc, true)
			if err != nil {
				t.Fatal(err)
			}
			if !array.RecordEqual(flat, viaPq) || !array.RecordEqual(viaFlat, viaPq) {
				t.Fatalf("%s: readFlat and pqarrow differ:\n%v\nvs\n%v", path, flat, viaPq)
			}
			rows := task.File.Count()
			if viaPq.NumRows() != rows {
				t.Fatalf("%s: %d rows, want %d", path, viaPq.NumRows(), rows)
			}
			if sc == evolved && viaPq.Column(int(viaPq.NumCols())-1).NullN() != int(rows) {
				t.Fatalf("%s: the added column is not all null", path)
			}
			flat.Release()
			viaFlat.Release()
			viaPq.Release()
		}
		// readFlat declines; pqarrow reads the same source after it.
		if _, err := compaction.ReadFlat(fs, path, asDouble); err == nil {
			t.Fatalf("%s: readFlat read a long column as double", path)
		}
		fallback, err := compaction.ReadDataFile(ctx, fs, path, size, asDouble, false)
		if err != nil {
			t.Fatalf("%s: after readFlat declined: %v", path, err)
		}
		viaPq, err := compaction.ReadDataFile(ctx, fs, path, size, asDouble, true)
		if err != nil {
			t.Fatal(err)
		}
		if !array.RecordEqual(fallback, viaPq) {
			t.Fatalf("%s: the fallback read differs from pqarrow's", path)
		}
		fallback.Release()
		viaPq.Release()
	}
}

// BenchmarkReadDataFile reads one small data file (75 rows, the size of a
// coarse soak's per-partition output per 30 s run) into the table's schema,
// through readFlat and through pqarrow:
//
//	go test -run '^$' -bench ReadDataFile -benchmem ./compaction
func BenchmarkReadDataFile(b *testing.B) {
	ctx := context.Background()
	e := tabletest.NewContractEnv(b, nil)
	f := newFeed(b, e.Writer(nil, ident), "floe", topic, "b")
	if _, err := f.commit(ctx, 1, 75); err != nil {
		b.Fatal(err)
	}
	tbl, fs, target := dataFiles(b, e)
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil || len(tasks) != 1 {
		b.Fatalf("%d files, %v", len(tasks), err)
	}
	path, size := tasks[0].File.FilePath(), tasks[0].File.FileSizeBytes()
	for _, pq := range []bool{false, true} {
		b.Run(map[bool]string{false: "flat", true: "pqarrow"}[pq], func(b *testing.B) {
			for b.Loop() {
				rec, err := compaction.ReadDataFile(ctx, fs, path, size, target, pq)
				if err != nil {
					b.Fatal(err)
				}
				rec.Release()
			}
		})
	}
}

// dataFiles is the table ident of e, its file IO and its Arrow schema.
func dataFiles(tb testing.TB, e *tabletest.Env) (*table.Table, iceio.IO, *arrow.Schema) {
	tb.Helper()
	tbl := e.Load(ident)
	fs, err := tbl.FS(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	target, err := iceberg.TableArrowSchema(tbl)
	if err != nil {
		tb.Fatal(err)
	}
	return tbl, fs, target
}
