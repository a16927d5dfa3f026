package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/internal/devstack"
	"github.com/floe-io/floe/internal/tabletest"
	"github.com/floe-io/floe/schema"
)

// contractV3Schema is the contract table after payment-v3: TableSchema
// with channel, fee_bps and country before the metadata columns.
func contractV3Schema() *iceberggo.Schema {
	base := schema.TableSchema()
	str := iceberggo.PrimitiveTypes.String
	var fields []iceberggo.NestedField
	for _, f := range base.Fields() {
		if f.Name == schema.KafkaTopicColumn {
			fields = append(fields,
				iceberggo.NestedField{ID: 13, Name: "channel", Type: str},
				iceberggo.NestedField{ID: 14, Name: "fee_bps", Type: iceberggo.PrimitiveTypes.Int64},
				iceberggo.NestedField{ID: 15, Name: "country", Type: str})
		}
		fields = append(fields, f)
	}
	return iceberggo.NewSchema(0, fields...)
}

// manyFilesTable commits files one-row data files (one per (currency,
// merchant) partition per commit, in 10 commits) whose rows are soak
// events 0..files-1, and returns the table and the expectations for them.
func manyFilesTable(t testing.TB, files int) (*table.Table, *expectations) {
	t.Helper()
	const commits = 10
	if files%commits != 0 {
		t.Fatalf("files %d: want a multiple of %d", files, commits)
	}
	parts := files / commits
	ctx := context.Background()
	e := tabletest.NewEnv(t)
	sc := contractV3Schema()
	e.CreateTable(tabletest.Contract, sc, schema.PartitionSpec(sc), nil)
	w := e.Writer(nil, tabletest.Contract)
	asc := w.ArrowSchema()
	x := newExpectations(int64(files))
	kp := iceberg.TopicPartition{Topic: "payments.transactions", Partition: 0}
	base := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	var off int64
	for c := range commits {
		b := array.NewRecordBuilder(memory.DefaultAllocator, asc)
		from := off
		for p := range parts {
			ch, co := "web", "DE"
			fee := off % 300
			r := devstack.Row{
				TransactionID: soakPrefix + strconv.FormatInt(off, 10),
				EventTime:     base.Add(time.Duration(off) * time.Millisecond),
				Source:        "pos",
				Amount:        fmt.Sprintf("%d.%02d", 10+off%1000, off%100),
				Currency:      []string{"EUR", "USD", "GBP"}[p%3],
				UserID:        "u" + strconv.FormatInt(off%97, 10),
				MerchantID:    fmt.Sprintf("m%06d", p),
				Status:        "SETTLED",
				Channel:       &ch,
				FeeBps:        &fee,
				Country:       &co,
			}
			x.add(devstack.Event{TransactionID: r.TransactionID, Expect: &r})
			appendContractRow(t, b, asc, r, kp, off)
			off++
		}
		rec := b.NewRecordBatch()
		b.Release()
		batch := iceberg.Batch{Records: []arrow.RecordBatch{rec}, Group: "floe",
			From: iceberg.Offsets{kp: from}, To: iceberg.Offsets{kp: off}}
		if c == 0 {
			batch.From = iceberg.Offsets{}
		}
		if _, err := w.Commit(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	return e.Load(tabletest.Contract), x
}

func appendContractRow(t testing.TB, b *array.RecordBuilder, sc *arrow.Schema, r devstack.Row, kp iceberg.TopicPartition, off int64) {
	for i, f := range sc.Fields() {
		fb := b.Field(i)
		str := func(s string) { fb.(*array.StringBuilder).Append(s) }
		switch f.Name {
		case "transaction_id":
			str(r.TransactionID)
		case "event_time":
			fb.(*array.TimestampBuilder).Append(arrow.Timestamp(r.EventTime.UnixMicro()))
		case "_ingested_at":
			fb.(*array.TimestampBuilder).Append(arrow.Timestamp(time.Now().UnixMicro()))
		case "source":
			str(r.Source)
		case "amount":
			units, cents, _ := strings.Cut(r.Amount, ".")
			u, _ := strconv.ParseInt(units, 10, 64)
			c, _ := strconv.ParseInt(cents, 10, 64)
			fb.(*array.Decimal128Builder).Append(decimal128.FromI64(u*100 + c))
		case "currency":
			str(r.Currency)
		case "user_id":
			str(r.UserID)
		case "merchant_id":
			str(r.MerchantID)
		case "status":
			str(r.Status)
		case "channel":
			str(*r.Channel)
		case "fee_bps":
			fb.(*array.Int64Builder).Append(*r.FeeBps)
		case "country":
			str(*r.Country)
		case "_kafka_topic":
			str(kp.Topic)
		case "_kafka_partition":
			fb.(*array.Int32Builder).Append(kp.Partition)
		case "_kafka_offset":
			fb.(*array.Int64Builder).Append(off)
		default:
			t.Fatalf("column %s not filled", f.Name)
		}
	}
}

// TestReadBackMemory is the measurement of the soak read-back on a table of
// FLOE_READBACK_FILES one-row files (default 2,000): it runs checkRows and
// logs the peak heap (sampled every 10 ms), the process's peak RSS and the
// time; FLOE_READBACK_HEAPPROFILE writes a heap profile at the sampled peak.
func TestReadBackMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds thousands of data files")
	}
	files := 2_000
	if v := os.Getenv("FLOE_READBACK_FILES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatal(err)
		}
		files = n
	}
	start := time.Now()
	tbl, x := manyFilesTable(t, files)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rssBuilt, _ := vmHWM()
	t.Logf("%d files built in %s; heap %d MiB, peak RSS so far %d MiB", files, time.Since(start).Round(time.Millisecond), ms.HeapAlloc>>20, rssBuilt>>20)

	peakHeap, stop := sampleHeap(t, os.Getenv("FLOE_READBACK_HEAPPROFILE"))
	start = time.Now()
	chk, err := checkRows(context.Background(), tbl, x)
	stop()
	rss, _ := vmHWM()
	t.Logf("checkRows over %d files: %s; peak heap %d MiB, peak RSS %d MiB", files, time.Since(start).Round(time.Millisecond), *peakHeap>>20, rss>>20)
	if err != nil || !chk.OK || chk.Rows != int64(files) {
		t.Fatalf("check %+v: %v", chk, err)
	}
}

// sampleHeap samples HeapAlloc every 10 ms until stop, writing a heap
// profile to path (if set) at each new high.
func sampleHeap(t testing.TB, path string) (*uint64, func()) {
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		var profiled uint64
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak {
				peak = ms.HeapAlloc
			}
			if path != "" && ms.HeapAlloc > profiled+profiled/10 {
				profiled = ms.HeapAlloc
				if f, err := os.Create(path); err == nil {
					_ = pprof.WriteHeapProfile(f)
					_ = f.Close()
				}
			}
		}
	}()
	return &peak, func() { close(done); wg.Wait() }
}

// TestCheckRowsBounded runs checkRows over 4,000 one-row files while a
// sampler measures the live heap (after a forced GC) every 20 ms: its
// growth must stay under 64 MiB (18 MiB measured). Reading the table with
// one ToArrowRecords (the read-back before scanread) keeps ~40-60 KB per
// file read until the end: 159 MiB measured. Then the check must catch a
// missing and a changed row, and liveFilesAndPartitions count the files.
func TestCheckRowsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 4,000 data files")
	}
	const files = 4_000
	const bound = 64 << 20
	tbl, x := manyFilesTable(t, files)
	ctx := context.Background()

	base := liveHeap()
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			peak = max(peak, liveHeap())
		}
	}()
	chk, err := checkRows(ctx, tbl, x)
	close(done)
	wg.Wait()
	if err != nil || !chk.OK || chk.Rows != files || chk.Valid != files {
		t.Fatalf("check %+v: %v", chk, err)
	}
	growth := uint64(0)
	if peak > base {
		growth = peak - base
	}
	t.Logf("checkRows over %d files: live heap grew by %d MiB at most (bound %d MiB)", files, growth>>20, bound>>20)
	if growth > bound {
		t.Errorf("checkRows grew the live heap by %d MiB, over %d MiB: the read-back holds per-file state", growth>>20, bound>>20)
	}

	// One more expected event (never written: missing) and another hash
	// for event 2 (its row differs).
	x.hashes = append(x.hashes, rowHash([]string{"never written"}))
	x.n++
	x.hashes[2] ^= 2
	chk, err = checkRows(ctx, tbl, x)
	if err == nil || chk.OK || chk.Missing != 1 || chk.Different != 1 || chk.Rows != files || chk.Duplicated != 0 {
		t.Fatalf("check after changing the expectations: %+v, %v", chk, err)
	}
	if n, parts, other, err := liveFilesAndPartitions(ctx, tbl); err != nil || n != files || parts != files/10 || other != 0 {
		t.Fatalf("liveFilesAndPartitions: %d files in %d partitions, %d outside the default spec (%v), want %d in %d, 0", n, parts, other, err, files, files/10)
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
