package iceberg

import (
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// BenchmarkLeanEncode measures the lean encoder alone (no file system):
// a 100,000-row batch of the contract table's columns spread over 3,000
// partitions, as at 1,000 merchants; every partition becomes one file.
func BenchmarkLeanEncode(b *testing.B) {
	p, rec := leanBenchInput(b, 100_000, 3_000)
	defer rec.Release()
	enc, err := getEncoder(p.layout.codec)
	if err != nil {
		b.Fatal(err)
	}
	for _, tiny := range []int{0, 128, 256, 512, 1024} {
		b.Run(fmt.Sprint("tiny=", tiny), func(b *testing.B) {
			defer func(old int) { tinyChunk = old }(tinyChunk)
			tinyChunk = tiny
			benchEncode(b, p, rec, enc)
		})
	}
}

// BenchmarkParquetGoEncode is BenchmarkLeanEncode's input through
// parquet-go's writer (parquetgo_bench_test.go).
func BenchmarkParquetGoEncode(b *testing.B) {
	p, rec := leanBenchInput(b, 100_000, 3_000)
	defer rec.Release()
	benchEncodeParquetGo(b, p, rec)
}

// leanBenchInput builds a batch of the contract table's columns, rows
// rows spread over parts (currency, merchant_id) partitions, and the lean
// plan that writes it (zstd fastest).
func leanBenchInput(tb testing.TB, rows, parts int) (*leanPlan, arrow.RecordBatch) {
	sc := iceberggo.NewSchema(0,
		iceberggo.NestedField{ID: 1, Name: "transaction_id", Type: iceberggo.PrimitiveTypes.String, Required: true},
		iceberggo.NestedField{ID: 2, Name: "event_time", Type: iceberggo.PrimitiveTypes.TimestampTz, Required: true},
		iceberggo.NestedField{ID: 3, Name: "source", Type: iceberggo.PrimitiveTypes.String},
		iceberggo.NestedField{ID: 4, Name: "amount", Type: iceberggo.DecimalTypeOf(18, 2)},
		iceberggo.NestedField{ID: 5, Name: "currency", Type: iceberggo.PrimitiveTypes.String},
		iceberggo.NestedField{ID: 6, Name: "user_id", Type: iceberggo.PrimitiveTypes.String},
		iceberggo.NestedField{ID: 7, Name: "merchant_id", Type: iceberggo.PrimitiveTypes.String},
		iceberggo.NestedField{ID: 8, Name: "status", Type: iceberggo.PrimitiveTypes.String},
		iceberggo.NestedField{ID: 9, Name: "_kafka_topic", Type: iceberggo.PrimitiveTypes.String},
		iceberggo.NestedField{ID: 10, Name: "_kafka_partition", Type: iceberggo.PrimitiveTypes.Int32},
		iceberggo.NestedField{ID: 11, Name: "_kafka_offset", Type: iceberggo.PrimitiveTypes.Int64},
		iceberggo.NestedField{ID: 12, Name: "_ingested_at", Type: iceberggo.PrimitiveTypes.TimestampTz},
	)
	asc, err := table.SchemaToArrowSchema(sc, nil, true, false)
	if err != nil {
		tb.Fatal(err)
	}
	bld := array.NewRecordBuilder(memory.NewGoAllocator(), asc)
	defer bld.Release()
	for i := range rows {
		p := (i * 7919) % parts
		bld.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("tx-%036d", i))
		bld.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(1_700_000_000_000_000 + int64(i)*1000))
		bld.Field(2).(*array.StringBuilder).Append("gateway-eu")
		bld.Field(3).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(i%100000) + 100))
		bld.Field(4).(*array.StringBuilder).Append([]string{"EUR", "USD", "GBP"}[p%3])
		bld.Field(5).(*array.StringBuilder).Append(fmt.Sprintf("user-%d", i%50000))
		bld.Field(6).(*array.StringBuilder).Append(fmt.Sprintf("merchant-%04d", p))
		bld.Field(7).(*array.StringBuilder).Append("captured")
		bld.Field(8).(*array.StringBuilder).Append("payments.transactions")
		bld.Field(9).(*array.Int32Builder).Append(int32(i % 8))
		bld.Field(10).(*array.Int64Builder).Append(int64(i))
		bld.Field(11).(*array.TimestampBuilder).Append(arrow.Timestamp(1_700_000_000_000_000))
	}
	rec := bld.NewRecordBatch()

	l := pqLayout{codec: pqCodec{id: codecZstd, level: 1}, pageBytes: 1 << 20, pageRows: 20000}
	var colIdx []int
	for i, f := range sc.Fields() {
		c := pqColumn{name: f.Name, fieldID: f.ID, required: f.Required}
		switch f.Type.(type) {
		case iceberggo.StringType:
			c.kind = pqString
		case iceberggo.TimestampTzType:
			c.kind, c.utc = pqTimestamp, true
		case iceberggo.DecimalType:
			c.kind, c.precision, c.scale = pqDecimal, 18, 2
		case iceberggo.Int32Type:
			c.kind = pqInt32
		case iceberggo.Int64Type:
			c.kind = pqInt64
		}
		l.cols = append(l.cols, c)
		colIdx = append(colIdx, i)
	}
	l.codec.level = 1 // zstd.SpeedFastest
	return &leanPlan{layout: l, colIdx: colIdx, parts: []leanPart{{fieldID: 1000, name: "currency", col: 4}, {fieldID: 1001, name: "merchant_id", col: 6}}}, rec
}

func benchEncode(b *testing.B, p *leanPlan, rec arrow.RecordBatch, enc *pqEncoder) {
	b.ReportAllocs()
	var files, bytes int
	for b.Loop() {
		groups, err := p.groupRows(rec)
		if err != nil {
			b.Fatal(err)
		}
		for _, g := range groups {
			if err := enc.encode(&p.layout, rec, p.colIdx, g.rows); err != nil {
				b.Fatal(err)
			}
			files++
			bytes += len(enc.out)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(files), "ns/file")
	b.ReportMetric(float64(bytes)/float64(files), "B/file")
}
