package compaction

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	iceio "github.com/apache/iceberg-go/io"
)

// errSchema marks a data file whose columns cannot be mapped onto the
// table's current schema by field id (a required column missing, a type
// that does not cast): its group is skipped, not failed.
var errSchema = errors.New("data file schema does not map onto the table schema")

// smallRead is the size up to which a data file is read into memory in one
// piece rather than through positioned reads.
var smallRead int64 = 4 << 20

// pqarrowOnly turns readFlat off: every file is read through pqarrow
// (tests compare the two).
var pqarrowOnly bool

// readDataFile reads one Parquet data file as a record of the table's Arrow
// schema target: columns are matched by Iceberg field id, a column the file
// lacks (added to the table later) is null, a narrower type (an evolved
// int to long, float to double, wider decimal) is cast. Files of flat
// primitive columns (what floe and most writers produce for the payments
// table) are read by readFlat, others through pqarrow.
func readDataFile(ctx context.Context, fsys iceio.IO, path string, size int64, target *arrow.Schema, mem memory.Allocator) (arrow.RecordBatch, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var src parquet.ReaderAtSeeker = f
	if size > 0 && size <= smallRead {
		buf := make([]byte, size)
		if _, err := io.ReadFull(f, buf); err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		src = bytes.NewReader(buf)
	}
	// The footer, parsed once for both readers.
	var footer []file.ReadOption
	if !pqarrowOnly {
		// Page buffers from pagePool: readFlat closes each column
		// reader, which gives them back.
		pf, err := file.NewParquetReader(src, file.WithReadProps(parquet.NewReaderProperties(pagePool)))
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		// Not pf.Close: it would close f, which pqarrow may still read.
		rec, err := readFlat(pf, target, mem)
		if !errors.Is(err, errNotFlat) {
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", path, err)
			}
			return rec, nil
		}
		footer = append(footer, file.WithMetadata(pf.MetaData()))
	}
	pf, err := file.NewParquetReader(src, footer...)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer pf.Close()
	// A batch of the file's rows: the reader sizes its buffers by the
	// batch, and most inputs hold a few dozen rows.
	batch := max(int64(1), min(pf.NumRows(), 1<<16))
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: batch}, mem)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	tbl, err := fr.ReadTable(ctx)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer tbl.Release()
	return alignTable(ctx, tbl, target, mem)
}

// fieldID is the Iceberg field id an Arrow field carries, or -1.
func fieldID(f arrow.Field) int {
	if v, ok := f.Metadata.GetValue("PARQUET:field_id"); ok {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return -1
}

func alignTable(ctx context.Context, tbl arrow.Table, target *arrow.Schema, mem memory.Allocator) (arrow.RecordBatch, error) {
	n := tbl.NumRows()
	byID := make(map[int]int, tbl.NumCols())
	for i, f := range tbl.Schema().Fields() {
		if id := fieldID(f); id >= 0 {
			byID[id] = i
		}
	}
	cols := make([]arrow.Array, 0, target.NumFields())
	release := func() {
		for _, c := range cols {
			c.Release()
		}
	}
	for _, tf := range target.Fields() {
		idx, ok := byID[fieldID(tf)]
		if !ok {
			if !tf.Nullable {
				release()
				return nil, fmt.Errorf("%w: required column %s missing", errSchema, tf.Name)
			}
			cols = append(cols, array.MakeArrayOfNull(mem, tf.Type, int(n)))
			continue
		}
		chunks := tbl.Column(idx).Data().Chunks()
		var col arrow.Array
		switch len(chunks) {
		case 0:
			col = array.MakeArrayOfNull(mem, tf.Type, 0)
		case 1:
			col = chunks[0]
			col.Retain()
		default:
			var err error
			if col, err = array.Concatenate(chunks, mem); err != nil {
				release()
				return nil, err
			}
		}
		if !arrow.TypeEqual(col.DataType(), tf.Type) {
			cast, err := compute.CastArray(ctx, col, compute.SafeCastOptions(tf.Type))
			col.Release()
			if err != nil {
				release()
				return nil, fmt.Errorf("%w: column %s: %v", errSchema, tf.Name, err)
			}
			col = cast
		}
		cols = append(cols, col)
	}
	rec := array.NewRecordBatch(target, cols, n)
	release()
	return rec, nil
}

// concatRecords concatenates records of one schema into one.
func concatRecords(recs []arrow.RecordBatch, mem memory.Allocator) (arrow.RecordBatch, error) {
	if len(recs) == 1 {
		recs[0].Retain()
		return recs[0], nil
	}
	sc := recs[0].Schema()
	var n int64
	for _, r := range recs {
		n += r.NumRows()
	}
	cols := make([]arrow.Array, sc.NumFields())
	parts := make([]arrow.Array, len(recs))
	for c := range cols {
		for i, r := range recs {
			parts[i] = r.Column(c)
		}
		col, err := array.Concatenate(parts, mem)
		if err != nil {
			for _, x := range cols[:c] {
				x.Release()
			}
			return nil, err
		}
		cols[c] = col
	}
	rec := array.NewRecordBatch(sc, cols, n)
	for _, c := range cols {
		c.Release()
	}
	return rec, nil
}

// recordBytes is the memory a record's buffers take.
func recordBytes(rec arrow.RecordBatch) int64 {
	var n int64
	for _, c := range rec.Columns() {
		n += arrayBytes(c.Data())
	}
	return n
}

func arrayBytes(d arrow.ArrayData) int64 {
	var n int64
	for _, b := range d.Buffers() {
		if b != nil {
			n += int64(b.Len())
		}
	}
	for _, ch := range d.Children() {
		n += arrayBytes(ch)
	}
	return n
}
