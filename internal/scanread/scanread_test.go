package scanread_test

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/internal/scanread"
	"github.com/floe-io/floe/internal/tabletest"
)

// oneRowFiles commits files one-row data files to a new contract table
// (one per (currency, merchant) partition per commit, in 10 commits); row i
// has transaction id "t<i>".
func oneRowFiles(t *testing.T, files int) *table.Table {
	t.Helper()
	const commits = 10
	parts := files / commits
	e := tabletest.NewContractEnv(t, nil)
	w := e.Writer(nil, tabletest.Contract)
	sc := w.ArrowSchema()
	kp := iceberg.TopicPartition{Topic: "payments.transactions", Partition: 0}
	var off int64
	for c := range commits {
		b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
		from := off
		for p := range parts {
			for i, f := range sc.Fields() {
				fb := b.Field(i)
				switch f.Name {
				case "transaction_id":
					fb.(*array.StringBuilder).Append(fmt.Sprintf("t%d", off))
				case "event_time", "_ingested_at":
					fb.(*array.TimestampBuilder).Append(arrow.Timestamp(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).UnixMicro() + off))
				case "amount":
					fb.(*array.Decimal128Builder).Append(decimal128.FromI64(100 + off))
				case "currency":
					fb.(*array.StringBuilder).Append([]string{"EUR", "USD", "GBP"}[p%3])
				case "merchant_id":
					fb.(*array.StringBuilder).Append(fmt.Sprintf("m%06d", p))
				case "_kafka_partition":
					fb.(*array.Int32Builder).Append(kp.Partition)
				case "_kafka_offset":
					fb.(*array.Int64Builder).Append(off)
				default:
					fb.(*array.StringBuilder).Append(f.Name)
				}
			}
			off++
		}
		rec := b.NewRecordBatch()
		b.Release()
		batch := iceberg.Batch{Records: []arrow.RecordBatch{rec}, Group: "floe", From: iceberg.Offsets{kp: from}, To: iceberg.Offsets{kp: off}}
		if c == 0 {
			batch.From = iceberg.Offsets{}
		}
		if _, err := w.Commit(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
	return e.Load(tabletest.Contract)
}

// TestRecordsEveryFileOnce: Records reads the same files as the planner,
// every row once, in chunks of at most chunk files.
func TestRecordsEveryFileOnce(t *testing.T) {
	const files = 300
	tbl := oneRowFiles(t, files)
	scan := tbl.Scan(table.WithSelectedFields("transaction_id"))
	tasks, err := scan.PlanFiles(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var planned []string
	for _, task := range tasks {
		planned = append(planned, task.File.FilePath())
	}
	var streamed []string
	err = scanread.LiveDataFiles(context.Background(), tbl, tbl.CurrentSnapshot(), func(df iceberggo.DataFile) error {
		streamed = append(streamed, df.FilePath())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(planned)
	slices.Sort(streamed)
	if !slices.Equal(planned, streamed) {
		t.Fatalf("streamed %d files, the planner %d, not the same", len(streamed), len(planned))
	}

	var ids []string
	st, err := scanread.Records(context.Background(), tbl, scan, 64, func(rec arrow.RecordBatch) error {
		col := rec.Column(0).(*array.String)
		for i := range col.Len() {
			ids = append(ids, col.Value(i))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Files != files || st.Rows != files || st.MaxChunk != 64 || st.Chunks != (files+63)/64 || st.Planned {
		t.Fatalf("stats %+v", st)
	}
	slices.Sort(ids)
	want := make([]string, files)
	for i := range want {
		want[i] = fmt.Sprintf("t%d", i)
	}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("read %d ids, want t0..t%d once each", len(ids), files-1)
	}
}

// TestRecordsMemoryBounded reads 6,000 one-row files and measures the live
// heap (after a GC) every 200 record batches, from inside the read. Read
// in one ReadTasks call (what Scan.ToArrowRecords does), iceberg-go keeps
// every opened file's footer and schema until the read ends: the live heap
// grows with the files read (the control, ~60 KB a file, which must exceed
// the bound, or the measurement could not see the problem). Read by
// Records in chunks of DefaultChunk it must stay under the bound.
func TestRecordsMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 6,000 data files")
	}
	const files = 6_000
	const bound = 32 << 20
	tbl := oneRowFiles(t, files)
	growth := func(chunk int) uint64 {
		scan := tbl.Scan(table.WithSelectedFields("transaction_id", "amount", "currency", "merchant_id", "status"))
		base := liveHeap()
		var peak uint64
		n := 0
		st, err := scanread.Records(context.Background(), tbl, scan, chunk, func(arrow.RecordBatch) error {
			if n++; n%200 == 0 {
				peak = max(peak, liveHeap())
			}
			return nil
		})
		if err != nil || st.Rows != files {
			t.Fatalf("chunk %d: %+v, %v", chunk, st, err)
		}
		if peak < base {
			return 0
		}
		return peak - base
	}
	all := growth(files)
	chunked := growth(scanread.DefaultChunk)
	t.Logf("live heap growth reading %d files: %d MiB in one ReadTasks call, %d MiB in chunks of %d (bound %d MiB)",
		files, all>>20, chunked>>20, scanread.DefaultChunk, bound>>20)
	if all <= bound {
		t.Errorf("control: one ReadTasks call over %d files grew the live heap by only %d MiB; the measurement does not show the per-file caches", files, all>>20)
	}
	if chunked > bound {
		t.Errorf("chunked read grew the live heap by %d MiB, over %d MiB", chunked>>20, bound>>20)
	}
}

// liveHeap is the heap marked live by a forced GC (not counting what other
// goroutines allocate after it, as HeapAlloc would).
func liveHeap() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
