package compaction

import (
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	pqschema "github.com/apache/arrow-go/v18/parquet/schema"

	"github.com/floe-io/floe/schema"
)

// errNotFlat: the file (or the target schema) has a column readFlat does
// not read; pqarrow reads it instead.
var errNotFlat = errors.New("not a flat file of primitive columns")

// flatBatch is how many values readFlat decodes per call.
const flatBatch = 4096

// readFlat reads a Parquet file of flat primitive columns straight into a
// record of target, matching columns by Iceberg field id: the column
// readers of arrow-go's parquet/file decode the pages, and the values go
// into Arrow builders of the target's types. It does what readDataFile's
// pqarrow path does for such files (a column the file lacks is null, an
// int read into a long, a float into a double), without pqarrow's per-file
// schema manifest and per-column record readers, which cost more than the
// values for the small files compaction reads most (a few dozen to a few
// thousand rows). Any other column or type returns errNotFlat before a
// value is read.
func readFlat(pf *file.Reader, target *arrow.Schema, mem memory.Allocator) (arrow.RecordBatch, error) {
	sc := pf.MetaData().Schema
	byID := make(map[int32]int, sc.NumColumns())
	for i := range sc.NumColumns() {
		col := sc.Column(i)
		if col.MaxRepetitionLevel() != 0 || len(col.ColumnPath()) != 1 {
			return nil, fmt.Errorf("%w: column %s is nested", errNotFlat, col.Path())
		}
		if id := col.SchemaNode().FieldID(); id >= 0 {
			byID[id] = i
		}
	}
	// Plan every column before reading any.
	type plan struct {
		col  int // file column, -1: absent (null)
		read func(cr file.ColumnChunkReader, maxDef int16, rows int64, b array.Builder) error
	}
	plans := make([]plan, target.NumFields())
	for i := range plans {
		tf := target.Field(i)
		idx, ok := byID[int32(fieldID(tf))]
		if !ok {
			if !tf.Nullable {
				return nil, fmt.Errorf("%w: required column %s missing", errSchema, tf.Name)
			}
			plans[i] = plan{col: -1}
			continue
		}
		read := flatReader(sc.Column(idx), tf.Type)
		if read == nil {
			c := sc.Column(idx)
			return nil, fmt.Errorf("%w: column %s (%s, %s) into %s", errNotFlat, c.Path(), c.PhysicalType(), c.LogicalType(), tf.Type)
		}
		plans[i] = plan{col: idx, read: read}
	}

	builders := make([]array.Builder, target.NumFields())
	for i := range builders {
		builders[i] = array.NewBuilder(mem, target.Field(i).Type)
	}
	defer func() {
		for _, b := range builders {
			b.Release()
		}
	}()
	rows := pf.NumRows()
	for i := range builders {
		builders[i].Reserve(int(rows))
	}
	for rg := range pf.NumRowGroups() {
		rgr := pf.RowGroup(rg)
		n := rgr.NumRows()
		for i, p := range plans {
			if p.col < 0 {
				builders[i].AppendNulls(int(n))
				continue
			}
			cr, err := rgr.Column(p.col)
			if err != nil {
				return nil, err
			}
			err = p.read(cr, sc.Column(p.col).MaxDefinitionLevel(), n, builders[i])
			// Closing frees the page buffers (to pagePool when the
			// file was opened with it); the builder holds copies.
			_ = cr.Close()
			if err != nil {
				return nil, fmt.Errorf("column %s: %w", target.Field(i).Name, err)
			}
		}
	}
	cols := make([]arrow.Array, len(builders))
	for i, b := range builders {
		cols[i] = b.NewArray()
	}
	rec := array.NewRecordBatch(target, cols, rows)
	for _, c := range cols {
		c.Release()
	}
	return rec, nil
}

// flatReader returns the function that reads file column col into a
// builder of type t, or nil when readFlat does not read that pair.
func flatReader(col *pqschema.Column, t arrow.DataType) func(file.ColumnChunkReader, int16, int64, array.Builder) error {
	lt := col.LogicalType()
	none := lt == nil || lt.Equals(pqschema.NoLogicalType{})
	isInt := func(bits int8) bool {
		il, ok := lt.(pqschema.IntLogicalType)
		return none || ok && il.BitWidth() == bits && il.IsSigned()
	}
	phys := col.PhysicalType()
	switch t.ID() {
	case arrow.STRING:
		if phys != parquet.Types.ByteArray || !(none || lt.Equals(pqschema.StringLogicalType{})) {
			return nil
		}
		return values[parquet.ByteArray, *file.ByteArrayColumnChunkReader](func(b *array.StringBuilder, v parquet.ByteArray) { b.BinaryBuilder.Append(v) })
	case arrow.BINARY:
		if phys != parquet.Types.ByteArray || !none {
			return nil
		}
		return values[parquet.ByteArray, *file.ByteArrayColumnChunkReader](func(b *array.BinaryBuilder, v parquet.ByteArray) { b.Append(v) })
	case arrow.BOOL:
		if phys != parquet.Types.Boolean {
			return nil
		}
		return values[bool, *file.BooleanColumnChunkReader](func(b *array.BooleanBuilder, v bool) { b.Append(v) })
	case arrow.INT32:
		if phys != parquet.Types.Int32 || !isInt(32) {
			return nil
		}
		return values[int32, *file.Int32ColumnChunkReader](func(b *array.Int32Builder, v int32) { b.Append(v) })
	case arrow.DATE32:
		if phys != parquet.Types.Int32 || !lt.Equals(pqschema.DateLogicalType{}) {
			return nil
		}
		return values[int32, *file.Int32ColumnChunkReader](func(b *array.Date32Builder, v int32) { b.Append(arrow.Date32(v)) })
	case arrow.INT64:
		switch {
		case phys == parquet.Types.Int64 && isInt(64):
			return values[int64, *file.Int64ColumnChunkReader](func(b *array.Int64Builder, v int64) { b.Append(v) })
		case phys == parquet.Types.Int32 && isInt(32): // an int column widened to long
			return values[int32, *file.Int32ColumnChunkReader](func(b *array.Int64Builder, v int32) { b.Append(int64(v)) })
		}
		return nil
	case arrow.FLOAT32:
		if phys != parquet.Types.Float || !none {
			return nil
		}
		return values[float32, *file.Float32ColumnChunkReader](func(b *array.Float32Builder, v float32) { b.Append(v) })
	case arrow.FLOAT64:
		switch {
		case phys == parquet.Types.Double && none:
			return values[float64, *file.Float64ColumnChunkReader](func(b *array.Float64Builder, v float64) { b.Append(v) })
		case phys == parquet.Types.Float && none: // a float column widened to double
			return values[float32, *file.Float32ColumnChunkReader](func(b *array.Float64Builder, v float32) { b.Append(float64(v)) })
		}
		return nil
	case arrow.TIMESTAMP:
		tl, ok := lt.(pqschema.TimestampLogicalType)
		if phys != parquet.Types.Int64 || !ok || tl.TimeUnit() != pqschema.TimeUnitMicros || t.(*arrow.TimestampType).Unit != arrow.Microsecond {
			return nil
		}
		return values[int64, *file.Int64ColumnChunkReader](func(b *array.TimestampBuilder, v int64) { b.Append(arrow.Timestamp(v)) })
	case arrow.DECIMAL128:
		dl, ok := lt.(pqschema.DecimalLogicalType)
		dt := t.(*arrow.Decimal128Type)
		if !ok || dl.Scale() != dt.Scale || dl.Precision() > dt.Precision {
			return nil
		}
		switch phys {
		case parquet.Types.Int64:
			return values[int64, *file.Int64ColumnChunkReader](func(b *array.Decimal128Builder, v int64) { b.Append(decimal128.FromI64(v)) })
		case parquet.Types.Int32:
			return values[int32, *file.Int32ColumnChunkReader](func(b *array.Decimal128Builder, v int32) {
				b.Append(decimal128.FromI64(int64(v)))
			})
		case parquet.Types.FixedLenByteArray: // iceberg-go's writer
			if col.TypeLength() > 16 {
				return nil
			}
			return values[parquet.FixedLenByteArray, *file.FixedLenByteArrayColumnChunkReader](func(b *array.Decimal128Builder, v parquet.FixedLenByteArray) {
				d, _ := schema.DecimalFromTwos(v) // at most 16 bytes: never wide
				b.Append(d)
			})
		}
		return nil
	}
	return nil
}

// batchReader is a typed column chunk reader of arrow-go's parquet/file.
type batchReader[T any] interface {
	ReadBatch(batchSize int64, values []T, defLvls, repLvls []int16) (total int64, valuesRead int, err error)
}

// values reads rows values of a column whose reader is R into a builder
// of type B (asserted once per column, not per value): a definition level
// below maxDef is a null. The builder copies each value before the next
// batch reuses the page buffers.
func values[T any, R batchReader[T], B array.Builder](add func(B, T)) func(file.ColumnChunkReader, int16, int64, array.Builder) error {
	return func(cr file.ColumnChunkReader, maxDef int16, rows int64, ab array.Builder) error {
		r, ok := cr.(R)
		if !ok {
			return fmt.Errorf("%w: column reader %T", errNotFlat, cr)
		}
		b, ok := ab.(B)
		if !ok {
			return fmt.Errorf("%w: builder %T", errNotFlat, ab)
		}
		buf := make([]T, min(rows, flatBatch))
		var defs []int16
		if maxDef > 0 {
			defs = make([]int16, len(buf))
		}
		for rows > 0 {
			n := min(rows, int64(len(buf)))
			var d []int16
			if defs != nil {
				d = defs[:n]
			}
			total, nv, err := r.ReadBatch(n, buf[:n], d, nil)
			if err != nil {
				return err
			}
			if total == 0 {
				return fmt.Errorf("%d rows missing", rows)
			}
			if d == nil {
				for _, v := range buf[:nv] {
					add(b, v)
				}
			} else {
				vi := 0
				for _, lvl := range d[:total] {
					if lvl == maxDef {
						add(b, buf[vi])
						vi++
					} else {
						b.AppendNull()
					}
				}
			}
			rows -= total
		}
		return nil
	}
}
