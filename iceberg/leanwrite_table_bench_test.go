package iceberg

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/floe-io/floe/catalog"
)

// BenchmarkLeanEncodeTable encodes real rows: those of a table floe bench
// wrote (its run directory kept with --data-dir), 200,000 of them in a
// shuffled order as they arrive from Kafka, one file per partition, for
// several zstd no-entropy thresholds (smallPage).
//
//	floe bench --events 300000 --triggers 10s --merchants 1000 --data-dir /dev/shm/keep
//	FLOE_BENCH_RUN=$(ls -d /dev/shm/keep/run-*) go test -run '^$' -bench LeanEncodeTable ./iceberg
func BenchmarkLeanEncodeTable(b *testing.B) {
	plan, rec := leanBenchTable(b)
	enc, err := getEncoder(plan.layout.codec)
	if err != nil {
		b.Fatal(err)
	}
	for _, sp := range []int{1024, 4096, 16384} {
		b.Run(fmt.Sprint("smallPage=", sp), func(b *testing.B) {
			defer func(old int) { smallPage = old }(smallPage)
			smallPage = sp
			benchEncode(b, plan, rec, enc)
		})
	}
}

// leanBenchTable reads 200,000 rows of a kept floe bench run's table
// (FLOE_BENCH_RUN), shuffled, and the lean plan that writes them.
func leanBenchTable(b *testing.B) (*leanPlan, arrow.RecordBatch) {
	dir := os.Getenv("FLOE_BENCH_RUN")
	if dir == "" {
		b.Skip("FLOE_BENCH_RUN: a floe bench run directory (catalog.db, warehouse)")
	}
	ctx := b.Context()
	cat, err := catalog.Open(ctx, "sqlite://"+filepath.Join(dir, "catalog.db"), "file://"+filepath.Join(dir, "warehouse"), nil)
	if err != nil {
		b.Fatal(err)
	}
	id, err := catalog.ParseIdentifier("bench.transactions")
	if err != nil {
		b.Fatal(err)
	}
	tbl, err := cat.LoadTable(ctx, id)
	if err != nil {
		b.Fatal(err)
	}
	at, err := tbl.Scan().ToArrowTable(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer at.Release()
	var cols []arrow.Array
	for i := range int(at.NumCols()) {
		c, err := array.Concatenate(at.Column(i).Data().Chunks(), memory.DefaultAllocator)
		if err != nil {
			b.Fatal(err)
		}
		cols = append(cols, c)
	}
	full := array.NewRecordBatch(at.Schema(), cols, at.NumRows())
	n := min(int(full.NumRows()), 200_000)
	idx := array.NewInt64Builder(memory.DefaultAllocator)
	for _, p := range rand.New(rand.NewPCG(1, 2)).Perm(int(full.NumRows()))[:n] {
		idx.Append(int64(p))
	}
	taken, err := compute.TakeArray(ctx, array.RecordToStructArray(full), idx.NewArray())
	if err != nil {
		b.Fatal(err)
	}
	st := taken.(*array.Struct)
	cols = cols[:0]
	for i := range st.NumField() {
		cols = append(cols, st.Field(i))
	}
	rec := array.NewRecordBatch(full.Schema(), cols, int64(st.Len()))
	plan, why := planLean(tbl, rec.Schema())
	if plan == nil {
		b.Fatal(why)
	}
	return plan, rec
}

// BenchmarkParquetGoEncodeTable is BenchmarkLeanEncodeTable's input
// through parquet-go's writer (parquetgo_bench_test.go).
func BenchmarkParquetGoEncodeTable(b *testing.B) {
	plan, rec := leanBenchTable(b)
	benchEncodeParquetGo(b, plan, rec)
}
