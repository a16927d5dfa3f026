package compaction_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/internal/tabletest"
)

const topic = "payments.transactions"

var ident = tabletest.Contract

var (
	currencies = []string{"EUR", "USD", "GBP"}
	merchants  = []string{"m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"}
)

// partitionOf maps an index to one of the 30 (currency, merchant) partitions.
func partitionOf(i int) (string, string) {
	i %= len(currencies) * len(merchants)
	return currencies[i%len(currencies)], merchants[i/len(currencies)]
}

// feed commits batches to one group, continuing from the offsets the table
// records, as the ingest does.
type feed struct {
	t      testing.TB
	w      *iceberg.Writer
	group  string
	topic  string
	prefix string // of transaction ids, to tell feeds apart
	next   iceberg.Offsets
	n      int
}

func newFeed(t testing.TB, w *iceberg.Writer, group, topic, prefix string) *feed {
	t.Helper()
	o, err := w.Offsets(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	return &feed{t: t, w: w, group: group, topic: topic, prefix: prefix, next: o}
}

// commit commits one batch of rows read from Kafka partition n%4, spread
// over parts table partitions (rowsPer rows each).
func (f *feed) commit(ctx context.Context, parts, rowsPer int) (iceberg.CommitResult, error) {
	kp := iceberg.TopicPartition{Topic: f.topic, Partition: int32(f.n % 4)}
	from := f.next[kp]
	sc := f.w.ArrowSchema()
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	off := from
	for p := range parts {
		cur, mer := partitionOf(f.n*parts + p)
		for range rowsPer {
			appendRow(b, sc, f.prefix, cur, mer, kp, off)
			off++
		}
	}
	rec := b.NewRecordBatch()
	batch := iceberg.Batch{
		Records: []arrow.RecordBatch{rec}, Group: f.group,
		From: iceberg.Offsets{kp: from}, To: iceberg.Offsets{kp: off},
	}
	if _, had := f.next[kp]; !had {
		batch.From = iceberg.Offsets{}
	}
	res, err := f.w.Commit(ctx, batch)
	if err != nil {
		return res, err
	}
	if f.next == nil {
		f.next = iceberg.Offsets{}
	}
	f.next[kp] = off
	f.n++
	return res, nil
}

func appendRow(b *array.RecordBuilder, sc *arrow.Schema, prefix, cur, mer string, kp iceberg.TopicPartition, off int64) {
	ts := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(off) * time.Second)
	for i, f := range sc.Fields() {
		fb := b.Field(i)
		switch f.Name {
		case "transaction_id":
			fb.(*array.StringBuilder).Append(fmt.Sprintf("%s-%d-%d", prefix, kp.Partition, off))
		case "event_time", "_ingested_at":
			fb.(*array.TimestampBuilder).Append(arrow.Timestamp(ts.UnixMicro()))
		case "amount":
			fb.(*array.Decimal128Builder).Append(decimal128.FromI64(1000 + off*7))
		case "currency":
			fb.(*array.StringBuilder).Append(cur)
		case "merchant_id":
			fb.(*array.StringBuilder).Append(mer)
		case "user_id":
			fb.(*array.StringBuilder).Append(fmt.Sprintf("u%d", off%97))
		case "status":
			fb.(*array.StringBuilder).Append([]string{"AUTHORIZED", "SETTLED", "DECLINED"}[off%3])
		case "fee_bps":
			if off%5 == 0 {
				fb.AppendNull()
			} else {
				fb.(*array.Int64Builder).Append(off % 300)
			}
		case "_kafka_topic":
			fb.(*array.StringBuilder).Append(kp.Topic)
		case "_kafka_partition":
			fb.(*array.Int32Builder).Append(kp.Partition)
		case "_kafka_offset":
			fb.(*array.Int64Builder).Append(off)
		default: // source, channel, country: sometimes null
			if sb, ok := fb.(*array.StringBuilder); ok && off%2 == 0 {
				sb.Append(f.Name + "-" + cur)
			} else {
				fb.AppendNull()
			}
		}
	}
}

func checksum(rows []string) string {
	h := sha256.New()
	for _, r := range rows {
		h.Write([]byte(r))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// filesPerPartition counts the live data files of each partition.
func filesPerPartition(t testing.TB, tbl *table.Table) map[string]int {
	t.Helper()
	tasks, err := tbl.Scan().PlanFiles(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, task := range tasks {
		p := task.File.Partition()
		out[fmt.Sprint(p[1000], "/", p[1001])]++
	}
	return out
}

// coarseFiles counts the live data files outside the table's default spec.
func coarseFiles(t testing.TB, tbl *table.Table) int {
	t.Helper()
	tasks, err := tbl.Scan().PlanFiles(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, task := range tasks {
		if int(task.File.SpecID()) != tbl.Metadata().DefaultPartitionSpec() {
			n++
		}
	}
	return n
}
