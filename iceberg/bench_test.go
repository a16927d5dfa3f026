package iceberg_test

import (
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/internal/tabletest"
)

// BenchmarkParquetWrite measures table.WriteRecords fan-out: one batch of
// rows spread over 100 partitions (5 currencies x 20 merchants), no commit.
func BenchmarkParquetWrite(b *testing.B) {
	for _, perPartition := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("100partitions-x%d", perPartition), func(b *testing.B) {
			e := tabletest.NewContractEnv(b, nil)
			w := e.Writer(nil, ident)
			cur := []string{"EUR", "USD", "GBP", "JPY", "CHF"}
			var merch []string
			for i := range 20 {
				merch = append(merch, fmt.Sprintf("merchant-%02d", i))
			}
			// 5 and 20 are not coprime: pair them explicitly.
			n := 100 * perPartition
			rs := rows(0, 0, n, []string{"x"}, []string{"x"})
			for i := range rs {
				p := i % 100
				rs[i].currency, rs[i].merchant = cur[p/20], merch[p%20]
			}
			mem := memory.NewGoAllocator()
			b.ReportAllocs()
			b.ResetTimer()
			var files int
			var bytes int64
			for b.Loop() {
				b.StopTimer()
				rec := record(b, mem, w.ArrowSchema(), rs)
				b.StartTimer()
				f, sz, err := w.WriteFilesOnly(b.Context(), []arrow.RecordBatch{rec})
				if err != nil {
					b.Fatal(err)
				}
				files += f
				bytes += sz
			}
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(n*b.N)/sec, "rows/s")
			b.ReportMetric(float64(files)/sec, "files/s")
			b.ReportMetric(float64(bytes)/float64(n*b.N), "disk-B/row")
		})
	}
}

// BenchmarkCommit measures end-to-end Commit latency for small batches:
// a few data files, and a zero-row (offsets only) batch. The table grows by
// one snapshot per iteration, as in production between compactions.
func BenchmarkCommit(b *testing.B) {
	cases := []struct {
		name string
		rows int
		cur  []string
	}{
		{"3files-300rows", 300, []string{"EUR", "USD", "GBP"}},
		{"zero-rows", 0, nil},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			e := tabletest.NewContractEnv(b, nil)
			w := e.Writer(nil, ident)
			mem := memory.NewGoAllocator()
			next := int64(0)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				bt := iceberg.Batch{
					Group: "bench",
					From:  iceberg.Offsets{tp(0): next},
					To:    iceberg.Offsets{tp(0): next + int64(max(c.rows, 1))},
				}
				if c.rows > 0 {
					bt.Records = []arrow.RecordBatch{record(b, mem, w.ArrowSchema(), rows(0, next, c.rows, c.cur, []string{"m"}))}
				}
				next = bt.To[tp(0)]
				b.StartTimer()
				if _, err := w.Commit(b.Context(), bt); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/commit")
		})
	}
}
