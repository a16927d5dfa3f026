package iceberg

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/golang/snappy"
	"github.com/klauspost/compress/zstd"
)

// This file is the lean Parquet encoder: one row group of flat, primitive
// columns, PLAIN values, RLE definition levels, data page v1, one compressed
// buffer per page. It exists because a data file's fixed cost in arrow-go's
// general writer sets the pipeline's throughput when a commit touches
// thousands of partitions (BENCHMARKS.md). An encoder keeps and reuses every
// buffer across files, so a file costs little more than its rows.
//
// What it writes is standard Parquet 1.0 (format version 1): a reader that
// knows PLAIN and RLE reads it, and it carries Iceberg field ids, logical
// types and min/max statistics with a type-defined column order.

// pqKind is a column's physical + logical mapping.
type pqKind uint8

const (
	pqString    pqKind = iota // BYTE_ARRAY, STRING
	pqBinary                  // BYTE_ARRAY
	pqBool                    // BOOLEAN
	pqInt32                   // INT32
	pqDate                    // INT32, DATE
	pqInt64                   // INT64
	pqTimestamp               // INT64, TIMESTAMP(MICROS)
	pqDecimal                 // INT64, DECIMAL(precision <= 18, scale)
)

func (k pqKind) String() string {
	switch k {
	case pqString:
		return "string"
	case pqBinary:
		return "binary"
	case pqBool:
		return "boolean"
	case pqInt32:
		return "int32"
	case pqDate:
		return "date32"
	case pqInt64:
		return "int64"
	case pqTimestamp:
		return "timestamp"
	case pqDecimal:
		return "decimal128"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Parquet enum values (parquet.thrift).
const (
	ptBoolean   = 0
	ptInt32     = 1
	ptInt64     = 2
	ptByteArray = 6

	encPlain = 0
	encRLE   = 3

	ctUTF8            = 0
	ctDecimal         = 5
	ctDate            = 6
	ctTimestampMicros = 10

	codecUncompressed = 0
	codecSnappy       = 1
	codecZstd         = 6

	pageData = 0
)

// pqColumn is one leaf column of the file.
type pqColumn struct {
	name      string
	fieldID   int
	kind      pqKind
	required  bool
	utc       bool  // pqTimestamp: isAdjustedToUTC
	precision int32 // pqDecimal
	scale     int32 // pqDecimal
}

func (c *pqColumn) physical() int32 {
	switch c.kind {
	case pqString, pqBinary:
		return ptByteArray
	case pqBool:
		return ptBoolean
	case pqInt32, pqDate:
		return ptInt32
	default:
		return ptInt64
	}
}

// pqCodec is a page compression codec with its level.
type pqCodec struct {
	id    int32
	level zstd.EncoderLevel
}

// pqLayout is what the encoder needs besides the rows: the columns in file
// order and the page limits.
type pqLayout struct {
	cols      []pqColumn
	codec     pqCodec
	pageBytes int // uncompressed values bytes per page (write.parquet.page-size-bytes)
	pageRows  int // rows per page (write.parquet.page-row-limit)
}

// chunkStats is what a column chunk holds, for the footer and for the
// Iceberg metrics. minB/maxB alias the Arrow buffers (strings, binary).
type chunkStats struct {
	codec        int32 // the chunk's compression codec
	offset       int64 // first data page
	compressed   int64 // pages + headers
	uncompressed int64
	values       int64
	nulls        int64
	has          bool // a non-null value was seen
	minI, maxI   int64
	minB, maxB   []byte
}

// pqEncoder encodes files for one pqLayout; it is not safe for concurrent
// use. Every buffer is kept for the next file.
type pqEncoder struct {
	out       []byte // the file
	vals      []byte // the current page's values
	defs      []byte // the current page's definition levels, one byte per row
	page      []byte // levels + values of the page, uncompressed
	comp      []byte // the compressed page
	hdr       compactWriter
	foot      compactWriter
	stats     []chunkStats
	zstd      *zstd.Encoder
	zstdSmall *zstd.Encoder // no entropy coding: for small pages
	zstdLevel zstd.EncoderLevel
	bits      int // booleans: bits used in the last byte of vals
	metrics   fileMetrics
}

// smallPage is the page size under which pages are zstd-compressed without
// entropy coding (Huffman literals, FSE sequences): building those tables
// costs more than they save on a page of a few dozen values. The output is
// a standard zstd frame either way. BenchmarkLeanEncode and
// BenchmarkLeanEncodeTable measure the trade-off (BENCHMARKS.md, "Lean
// encoder page and chunk thresholds").
var smallPage = 4096

// tinyChunk is the size under which a column chunk of one page is stored
// uncompressed whatever the table's codec (Parquet names the codec per
// column chunk): zstd does not shrink such chunks (its frame header alone
// is ~10 bytes). BenchmarkLeanEncode measures it (BENCHMARKS.md, "Lean
// encoder page and chunk thresholds").
var tinyChunk = 128

// createdBy names the writer in the footer. It follows the
// "<application> version <v> (build <b>)" form that parquet-mr parses to
// decide whether to trust byte-array statistics: one it cannot parse makes
// it ignore them (PARQUET-251's workaround).
const createdBy = "floe version 0.1.0 (build lean-parquet)"

var errRequiredNull = errors.New("null value in a required column")

// encode writes rows (indexes into rec's rows) of rec as one Parquet file
// into e.out. rec's columns are given by colIdx (the Arrow column of each
// layout column).
func (e *pqEncoder) encode(l *pqLayout, rec arrow.RecordBatch, colIdx []int, rows []int32) error {
	e.out = append(e.out[:0], "PAR1"...)
	e.stats = e.stats[:0]
	for i := range l.cols {
		st, err := e.column(l, &l.cols[i], rec.Column(colIdx[i]), rows)
		if err != nil {
			return fmt.Errorf("column %q: %w", l.cols[i].name, err)
		}
		e.stats = append(e.stats, st)
	}
	e.footer(l, int64(len(rows)))
	n := len(e.foot.buf)
	e.out = append(e.out, e.foot.buf...)
	e.out = binary.LittleEndian.AppendUint32(e.out, uint32(n))
	e.out = append(e.out, "PAR1"...)
	return nil
}

func (e *pqEncoder) column(l *pqLayout, c *pqColumn, arr arrow.Array, rows []int32) (chunkStats, error) {
	st := chunkStats{offset: int64(len(e.out)), values: int64(len(rows))}
	e.vals, e.defs, e.bits = e.vals[:0], e.defs[:0], 0
	src, err := newColSource(c, arr)
	if err != nil {
		return st, err
	}
	hasNulls := arr.NullN() > 0
	pageRows := 0
	for _, r := range rows {
		i := int(r)
		if hasNulls && arr.IsNull(i) {
			if c.required {
				return st, errRequiredNull
			}
			st.nulls++
			e.defs = append(e.defs, 0)
		} else {
			if !c.required {
				e.defs = append(e.defs, 1)
			}
			if err := e.value(c, &src, i, &st); err != nil {
				return st, err
			}
		}
		pageRows++
		if len(e.vals) >= l.pageBytes || pageRows >= l.pageRows {
			if err := e.flushPage(l, c, pageRows, &st, false); err != nil {
				return st, err
			}
			pageRows = 0
		}
	}
	if pageRows > 0 || len(rows) == 0 {
		if err := e.flushPage(l, c, pageRows, &st, st.compressed == 0); err != nil {
			return st, err
		}
	}
	return st, nil
}

// colSource is an Arrow column's values as plain slices, resolved once per
// column chunk rather than once per value. Indexes are the array's own
// (0 is its first element, whatever its offset into its buffers).
type colSource struct {
	offs  []int32 // string, binary: offsets into data (absolute)
	data  []byte  // string, binary: the whole values buffer
	i32   []int32 // int32
	d32   []arrow.Date32
	i64   []int64
	ts    []arrow.Timestamp
	dec   []decimal128.Num
	bools *array.Boolean
}

func newColSource(c *pqColumn, arr arrow.Array) (colSource, error) {
	var s colSource
	var ok bool
	switch c.kind {
	case pqString:
		ok = byteValues[*array.String](arr, &s)
	case pqBinary:
		ok = byteValues[*array.Binary](arr, &s)
	case pqBool:
		s.bools, ok = arr.(*array.Boolean)
	case pqInt32:
		ok = fixedValues[int32, *array.Int32](arr, &s.i32)
	case pqDate:
		ok = fixedValues[arrow.Date32, *array.Date32](arr, &s.d32)
	case pqInt64:
		ok = fixedValues[int64, *array.Int64](arr, &s.i64)
	case pqTimestamp:
		ok = fixedValues[arrow.Timestamp, *array.Timestamp](arr, &s.ts)
	case pqDecimal:
		ok = fixedValues[decimal128.Num, *array.Decimal128](arr, &s.dec)
	default:
		return s, fmt.Errorf("unsupported column kind %d", c.kind)
	}
	if !ok {
		return s, fmt.Errorf("arrow %s, want %s", arr.DataType(), c.kind)
	}
	return s, nil
}

// fixedValues sets *dst to arr's values if arr is an A.
func fixedValues[T any, A interface{ Values() []T }](arr arrow.Array, dst *[]T) bool {
	a, ok := arr.(A)
	if ok {
		*dst = a.Values()
	}
	return ok
}

// byteValues sets s's offsets and whole values buffer from arr if it is an
// A (string or binary).
func byteValues[A interface {
	ValueOffsets() []int32
	Data() arrow.ArrayData
}](arr arrow.Array, s *colSource) bool {
	a, ok := arr.(A)
	if !ok {
		return false
	}
	s.offs = a.ValueOffsets()
	if bufs := a.Data().Buffers(); len(bufs) > 2 && bufs[2] != nil {
		s.data = bufs[2].Bytes()
	}
	return true
}

// value appends the column's value i (not null) PLAIN-encoded and folds it
// into st.
func (e *pqEncoder) value(c *pqColumn, src *colSource, i int, st *chunkStats) error {
	switch c.kind {
	case pqString, pqBinary:
		b := src.data[src.offs[i]:src.offs[i+1]]
		e.vals = binary.LittleEndian.AppendUint32(e.vals, uint32(len(b)))
		e.vals = append(e.vals, b...)
		st.foldBytes(b)
	case pqBool:
		v := src.bools.Value(i)
		if e.bits == 0 {
			e.vals = append(e.vals, 0)
		}
		var x int64
		if v {
			e.vals[len(e.vals)-1] |= 1 << e.bits
			x = 1
		}
		e.bits = (e.bits + 1) % 8
		st.foldInt(x)
	case pqInt32:
		v := src.i32[i]
		e.vals = binary.LittleEndian.AppendUint32(e.vals, uint32(v))
		st.foldInt(int64(v))
	case pqDate:
		v := int32(src.d32[i])
		e.vals = binary.LittleEndian.AppendUint32(e.vals, uint32(v))
		st.foldInt(int64(v))
	case pqInt64:
		v := src.i64[i]
		e.vals = binary.LittleEndian.AppendUint64(e.vals, uint64(v))
		st.foldInt(v)
	case pqTimestamp:
		v := int64(src.ts[i])
		e.vals = binary.LittleEndian.AppendUint64(e.vals, uint64(v))
		st.foldInt(v)
	case pqDecimal:
		n := src.dec[i]
		v := int64(n.LowBits())
		if n.HighBits() != v>>63 {
			return fmt.Errorf("decimal value does not fit precision %d", c.precision)
		}
		e.vals = binary.LittleEndian.AppendUint64(e.vals, uint64(v))
		st.foldInt(v)
	}
	return nil
}

func (st *chunkStats) foldInt(v int64) {
	if !st.has {
		st.minI, st.maxI, st.has = v, v, true
		return
	}
	st.minI = min(st.minI, v)
	st.maxI = max(st.maxI, v)
}

func (st *chunkStats) foldBytes(b []byte) {
	if !st.has {
		st.minB, st.maxB, st.has = b, b, true
		return
	}
	if bytes.Compare(b, st.minB) < 0 {
		st.minB = b
	}
	if bytes.Compare(b, st.maxB) > 0 {
		st.maxB = b
	}
}

// flushPage writes the buffered rows as one data page (v1). only is set
// when the page is the chunk's first and last.
func (e *pqEncoder) flushPage(l *pqLayout, c *pqColumn, rows int, st *chunkStats, only bool) error {
	e.page = e.page[:0]
	if !c.required {
		e.page = append(e.page, 0, 0, 0, 0)
		e.page = appendRLE(e.page, e.defs)
		binary.LittleEndian.PutUint32(e.page, uint32(len(e.page)-4))
	}
	e.page = append(e.page, e.vals...)
	body := e.page
	if st.compressed == 0 {
		st.codec = l.codec.id
		if only && len(e.page) < tinyChunk {
			st.codec = codecUncompressed
		}
	}
	switch st.codec {
	case codecZstd:
		z := e.zstd
		if len(e.page) < smallPage {
			z = e.zstdSmall
		}
		e.comp = z.EncodeAll(e.page, e.comp[:0])
		body = e.comp
	case codecSnappy:
		e.comp = snappy.Encode(e.comp[:cap(e.comp)], e.page)
		body = e.comp
	}

	h := &e.hdr
	h.reset()
	h.i32(1, pageData)
	h.i32(2, int32(len(e.page)))
	h.i32(3, int32(len(body)))
	h.begin(5) // DataPageHeader
	h.i32(1, int32(rows))
	h.i32(2, encPlain)
	h.i32(3, encRLE)
	h.i32(4, encRLE)
	h.end()
	h.end()

	e.out = append(e.out, h.buf...)
	e.out = append(e.out, body...)
	st.compressed += int64(len(h.buf) + len(body))
	st.uncompressed += int64(len(h.buf) + len(e.page))
	e.vals, e.defs, e.bits = e.vals[:0], e.defs[:0], 0
	return nil
}

// appendRLE appends levels (each 0 or 1) in the RLE / bit-packing hybrid
// encoding with bit width 1, as RLE runs only.
func appendRLE(dst, levels []byte) []byte {
	for i := 0; i < len(levels); {
		j := i + 1
		for j < len(levels) && levels[j] == levels[i] {
			j++
		}
		dst = binary.AppendUvarint(dst, uint64(j-i)<<1)
		dst = append(dst, levels[i])
		i = j
	}
	return dst
}

// footer encodes FileMetaData into e.foot.
func (e *pqEncoder) footer(l *pqLayout, rows int64) {
	w := &e.foot
	w.reset()
	w.i32(1, 1) // version
	w.list(2, tcStruct, len(l.cols)+1)
	w.beginElem() // root
	w.str(4, "schema")
	w.i32(5, int32(len(l.cols)))
	w.end()
	for i := range l.cols {
		c := &l.cols[i]
		w.beginElem()
		w.i32(1, c.physical())
		rep := int32(1) // OPTIONAL
		if c.required {
			rep = 0
		}
		w.i32(3, rep)
		w.str(4, c.name)
		switch c.kind {
		case pqString:
			w.i32(6, ctUTF8)
		case pqDate:
			w.i32(6, ctDate)
		case pqTimestamp:
			if c.utc {
				w.i32(6, ctTimestampMicros)
			}
		case pqDecimal:
			w.i32(6, ctDecimal)
			w.i32(7, c.scale)
			w.i32(8, c.precision)
		}
		w.i32(9, int32(c.fieldID))
		switch c.kind {
		case pqString:
			w.begin(10)
			w.begin(1) // STRING
			w.end()
			w.end()
		case pqDate:
			w.begin(10)
			w.begin(6) // DATE
			w.end()
			w.end()
		case pqTimestamp:
			w.begin(10)
			w.begin(8) // TIMESTAMP
			w.boolean(1, c.utc)
			w.begin(2) // unit
			w.begin(2) // MICROS
			w.end()
			w.end()
			w.end()
			w.end()
		case pqDecimal:
			w.begin(10)
			w.begin(5) // DECIMAL
			w.i32(1, c.scale)
			w.i32(2, c.precision)
			w.end()
			w.end()
		}
		w.end()
	}
	w.i64(3, rows)

	var total, totalComp int64
	for _, st := range e.stats {
		total += st.uncompressed
		totalComp += st.compressed
	}
	w.list(4, tcStruct, 1)
	w.beginElem() // RowGroup
	w.list(1, tcStruct, len(l.cols))
	for i := range l.cols {
		c, st := &l.cols[i], &e.stats[i]
		w.beginElem() // ColumnChunk
		w.i64(2, st.offset)
		w.begin(3) // ColumnMetaData
		w.i32(1, c.physical())
		if c.required {
			w.list(2, tcI32, 1)
			w.listElemI32(encPlain)
		} else {
			w.list(2, tcI32, 2)
			w.listElemI32(encPlain)
			w.listElemI32(encRLE)
		}
		w.list(3, tcBinary, 1)
		w.listElemString(c.name)
		w.i32(4, st.codec)
		w.i64(5, st.values)
		w.i64(6, st.uncompressed)
		w.i64(7, st.compressed)
		w.i64(9, st.offset)
		w.begin(12) // Statistics
		w.i64(3, st.nulls)
		if st.has {
			var lo, hi []byte
			lo, hi = plainStat(c, st)
			w.binary(5, hi) // max_value
			w.binary(6, lo) // min_value
		}
		w.end()
		w.end() // ColumnMetaData
		w.end() // ColumnChunk
	}
	w.i64(2, total)
	w.i64(3, rows)
	w.i64(5, 4)
	w.i64(6, totalComp)
	w.end() // RowGroup
	w.str(6, createdBy)
	w.list(7, tcStruct, len(l.cols))
	for range l.cols {
		w.beginElem() // ColumnOrder
		w.begin(1)    // TYPE_ORDER
		w.end()
		w.end()
	}
	w.end() // FileMetaData
}

// plainStat returns min and max PLAIN-encoded (without length prefix for
// byte arrays), as Parquet statistics hold them.
func plainStat(c *pqColumn, st *chunkStats) (lo, hi []byte) {
	switch c.physical() {
	case ptByteArray:
		return st.minB, st.maxB
	case ptBoolean:
		return []byte{byte(st.minI)}, []byte{byte(st.maxI)}
	case ptInt32:
		return binary.LittleEndian.AppendUint32(nil, uint32(st.minI)), binary.LittleEndian.AppendUint32(nil, uint32(st.maxI))
	default:
		return binary.LittleEndian.AppendUint64(nil, uint64(st.minI)), binary.LittleEndian.AppendUint64(nil, uint64(st.maxI))
	}
}
