package iceberg

import (
	"bytes"
	"fmt"
	"testing"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/parquet-go/parquet-go"
	pqzstd "github.com/parquet-go/parquet-go/compress/zstd"
)

// A side-by-side measurement of floe's own Parquet encoder against
// parquet-go's reusable writer, on the same rows, grouped into the same
// files: BenchmarkLeanEncode and BenchmarkLeanEncodeTable run floe's,
// BenchmarkParquetGoEncode and BenchmarkParquetGoEncodeTable the same data
// through parquet-go (zstd fastest, plain encoding, one page per column
// chunk as floe writes them, column-wise writes of values taken from the
// Arrow arrays without copying bytes). Neither side touches a file system.
// parquet-go's side leaves out what floe's encoder also does, the Iceberg
// column metrics gathered while encoding, so it is measured favourably.

// pqgoWriter writes a lean plan's groups with parquet-go.
type pqgoWriter struct {
	w      *parquet.Writer
	buf    bytes.Buffer
	leaf   []int // leaf column index in the parquet-go schema, per layout column
	values []parquet.Value
}

func newPQGoWriter(l *pqLayout) (*pqgoWriter, error) {
	g := parquet.Group{}
	for _, c := range l.cols {
		var n parquet.Node
		switch c.kind {
		case pqString:
			n = parquet.String()
		case pqBinary:
			n = parquet.Leaf(parquet.ByteArrayType)
		case pqBool:
			n = parquet.Leaf(parquet.BooleanType)
		case pqInt32:
			n = parquet.Int(32)
		case pqDate:
			n = parquet.Date()
		case pqInt64:
			n = parquet.Int(64)
		case pqTimestamp:
			n = parquet.TimestampAdjusted(parquet.Microsecond, c.utc)
		case pqDecimal:
			n = parquet.Decimal(int(c.scale), int(c.precision), parquet.Int64Type)
		default:
			return nil, fmt.Errorf("column %q: kind %s", c.name, c.kind)
		}
		n = parquet.FieldID(n, c.fieldID)
		if !c.required {
			n = parquet.Optional(n)
		}
		g[c.name] = n
	}
	sc := parquet.NewSchema("table", g)
	pw := &pqgoWriter{leaf: make([]int, len(l.cols))}
	for i, c := range l.cols {
		leaf, ok := sc.Lookup(c.name)
		if !ok {
			return nil, fmt.Errorf("column %q not in the parquet-go schema", c.name)
		}
		pw.leaf[i] = leaf.ColumnIndex
	}
	pw.w = parquet.NewWriter(&pw.buf, sc,
		parquet.Compression(&pqzstd.Codec{Level: pqzstd.SpeedFastest}),
		parquet.PageBufferSize(l.pageBytes),
		parquet.CreatedBy("floe-bench", "0", ""),
	)
	return pw, nil
}

// encode writes one file of rec's rows to pw.buf.
func (pw *pqgoWriter) encode(l *pqLayout, rec arrow.RecordBatch, colIdx []int, rows []int32) error {
	pw.buf.Reset()
	pw.w.Reset(&pw.buf)
	cws := pw.w.ColumnWriters()
	for i := range l.cols {
		c := &l.cols[i]
		arr := rec.Column(colIdx[i])
		leaf := pw.leaf[i]
		def := 0
		if !c.required {
			def = 1
		}
		vs := pw.values[:0]
		for _, r := range rows {
			j := int(r)
			if arr.IsNull(j) {
				vs = append(vs, parquet.NullValue().Level(0, 0, leaf))
				continue
			}
			var v parquet.Value
			switch a := arr.(type) {
			case *array.String:
				x := a.Value(j) // a view of the array's bytes, not a copy
				v = parquet.ByteArrayValue(unsafe.Slice(unsafe.StringData(x), len(x)))
			case *array.Binary:
				v = parquet.ByteArrayValue(a.Value(j))
			case *array.Boolean:
				v = parquet.BooleanValue(a.Value(j))
			case *array.Int32:
				v = parquet.Int32Value(a.Value(j))
			case *array.Date32:
				v = parquet.Int32Value(int32(a.Value(j)))
			case *array.Int64:
				v = parquet.Int64Value(a.Value(j))
			case *array.Timestamp:
				v = parquet.Int64Value(int64(a.Value(j)))
			case *array.Decimal128:
				v = parquet.Int64Value(int64(a.Value(j).LowBits()))
			default:
				return fmt.Errorf("column %q: arrow %s", c.name, arr.DataType())
			}
			vs = append(vs, v.Level(0, def, leaf))
		}
		pw.values = vs
		if _, err := cws[leaf].WriteRowValues(vs); err != nil {
			return fmt.Errorf("column %q: %w", c.name, err)
		}
	}
	return pw.w.Close()
}

func benchEncodeParquetGo(b *testing.B, p *leanPlan, rec arrow.RecordBatch) {
	pw, err := newPQGoWriter(&p.layout)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var files, size int
	for b.Loop() {
		groups, err := p.groupRows(rec)
		if err != nil {
			b.Fatal(err)
		}
		for _, g := range groups {
			if err := pw.encode(&p.layout, rec, p.colIdx, g.rows); err != nil {
				b.Fatal(err)
			}
			files++
			size += pw.buf.Len()
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(files), "ns/file")
	b.ReportMetric(float64(size)/float64(files), "B/file")
}

// TestParquetGoWriterRoundTrip: the comparison's parquet-go files hold the
// rows they were given (read back with parquet-go's reader), so the
// benchmark measures real files.
func TestParquetGoWriterRoundTrip(t *testing.T) {
	p, rec := leanBenchInput(t, 2_000, 20)
	defer rec.Release()
	pw, err := newPQGoWriter(&p.layout)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := p.groupRows(rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 20 {
		t.Fatalf("%d groups, want 20", len(groups))
	}
	txCol := -1
	for i, c := range p.layout.cols {
		if c.name == "transaction_id" {
			txCol = i
		}
	}
	txs := rec.Column(p.colIdx[txCol]).(*array.String)
	total := 0
	for _, g := range groups {
		if err := pw.encode(&p.layout, rec, p.colIdx, g.rows); err != nil {
			t.Fatal(err)
		}
		f, err := parquet.OpenFile(bytes.NewReader(pw.buf.Bytes()), int64(pw.buf.Len()))
		if err != nil {
			t.Fatal(err)
		}
		if f.NumRows() != int64(len(g.rows)) {
			t.Fatalf("file has %d rows, want %d", f.NumRows(), len(g.rows))
		}
		rows := make([]parquet.Row, len(g.rows))
		rr := parquet.NewReader(f)
		n, _ := rr.ReadRows(rows)
		if n != len(g.rows) {
			t.Fatalf("read %d rows, want %d", n, len(g.rows))
		}
		leaf := pw.leaf[txCol]
		for k, row := range rows[:n] {
			var got string
			for _, v := range row {
				if v.Column() == leaf {
					got = v.String()
				}
			}
			if want := txs.Value(int(g.rows[k])); got != want {
				t.Fatalf("row %d: transaction_id %q, want %q", k, got, want)
			}
		}
		total += n
	}
	if total != int(rec.NumRows()) {
		t.Fatalf("%d rows in all, want %d", total, rec.NumRows())
	}
}
