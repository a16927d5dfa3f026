package iceberg_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	icecatalog "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/internal/tabletest"
)

const topic = "payments.transactions"

var ident = tabletest.Contract

func noWait() []iceberg.WriterOption {
	return []iceberg.WriterOption{
		iceberg.WithBackoff(func(int) time.Duration { return 0 }),
		iceberg.WithSleep(func(ctx context.Context, _ time.Duration) error { return ctx.Err() }),
	}
}

// row is one payment in a test batch.
type row struct {
	id        string
	cents     int64
	currency  string
	merchant  string
	partition int32
	offset    int64
}

// rows makes n rows on a partition from offset `from`, spread over the
// given currencies and merchants.
func rows(partition int32, from int64, n int, currencies, merchants []string) []row {
	out := make([]row, n)
	for i := range n {
		off := from + int64(i)
		out[i] = row{
			id:        topic + "/" + itoa(int64(partition)) + "/" + itoa(off),
			cents:     100 + off,
			currency:  currencies[i%len(currencies)],
			merchant:  merchants[i%len(merchants)],
			partition: partition,
			offset:    off,
		}
	}

	return out
}

func itoa(n int64) string { return string(appendInt(nil, n)) }

func appendInt(b []byte, n int64) []byte {
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	if n >= 10 {
		b = appendInt(b, n/10)
	}

	return append(b, byte('0'+n%10))
}

// record builds one Arrow record in schema sc from rs.
func record(t testing.TB, mem memory.Allocator, sc *arrow.Schema, rs []row) arrow.RecordBatch {
	t.Helper()
	b := array.NewRecordBuilder(mem, sc)
	defer b.Release()
	ts := arrow.Timestamp(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC).UnixMicro())
	for i, f := range sc.Fields() {
		fb := b.Field(i)
		for _, r := range rs {
			switch f.Name {
			case "transaction_id":
				fb.(*array.StringBuilder).Append(r.id)
			case "event_time", "_ingested_at":
				fb.(*array.TimestampBuilder).Append(ts)
			case "amount":
				fb.(*array.Decimal128Builder).Append(decimal128.FromI64(r.cents))
			case "currency":
				fb.(*array.StringBuilder).Append(r.currency)
			case "merchant_id":
				fb.(*array.StringBuilder).Append(r.merchant)
			case "_kafka_topic":
				fb.(*array.StringBuilder).Append(topic)
			case "_kafka_partition":
				fb.(*array.Int32Builder).Append(r.partition)
			case "_kafka_offset":
				fb.(*array.Int64Builder).Append(r.offset)
			case "source", "user_id", "status":
				fb.(*array.StringBuilder).Append("x")
			default:
				fb.AppendNull()
			}
		}
	}

	return b.NewRecordBatch()
}

func tp(p int32) iceberg.TopicPartition { return iceberg.TopicPartition{Topic: topic, Partition: p} }

// batch makes a Batch of rs for group, From/To derived from the rows' offsets
// per partition (From = first offset, To = last + 1).
func batch(t testing.TB, mem memory.Allocator, w *iceberg.Writer, group string, rs []row) iceberg.Batch {
	t.Helper()
	from, to := iceberg.Offsets{}, iceberg.Offsets{}
	for _, r := range rs {
		k := tp(r.partition)
		if cur, ok := from[k]; !ok || r.offset < cur {
			from[k] = r.offset
		}
		if r.offset+1 > to[k] {
			to[k] = r.offset + 1
		}
	}

	return iceberg.Batch{
		Records: []arrow.RecordBatch{record(t, mem, w.ArrowSchema(), rs)},
		Group:   group,
		From:    from,
		To:      to,
	}
}

func checkedMem(t *testing.T) memory.Allocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })

	return mem
}

// faultyCatalog wraps a real catalog and injects commit failures: "before"
// fails without committing, "after" commits and then reports an error (an
// unknown outcome); "refused" and "after-reset" do the same with a
// connection error; failed loads are refused connections. Its error is one the classification cannot call an
// outage (those end a Commit at once; see outage_test.go).
type faultyCatalog struct {
	icecatalog.Catalog

	mu        sync.Mutex
	faults    []string
	calls     int
	failLoads int                // LoadTable calls to fail
	cancel    context.CancelFunc // called by the "after-cancel" fault
}

var (
	errLostResponse = errors.New("commit response lost")
	// errRefused and errReset are a catalog that is down: what
	// database/sql drivers return, wrapped as they wrap it.
	errRefused = fmt.Errorf("failed to connect: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED})
	errReset   = fmt.Errorf("commit: %w", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET})
)

func (c *faultyCatalog) inject(faults ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = append(c.faults, faults...)
}

func (c *faultyCatalog) LoadTable(ctx context.Context, id table.Identifier) (*table.Table, error) {
	c.mu.Lock()
	fail := c.failLoads > 0
	if fail {
		c.failLoads--
	}
	c.mu.Unlock()
	if fail {
		return nil, errRefused
	}
	t, err := c.Catalog.LoadTable(ctx, id)
	if err != nil {
		return nil, err
	}

	// Bind the table to this wrapper so its commits come through here.
	return table.New(t.Identifier(), t.Metadata(), t.MetadataLocation(), t.FS, c), nil
}

func (c *faultyCatalog) CommitTable(ctx context.Context, id table.Identifier, reqs []table.Requirement, ups []table.Update) (table.Metadata, string, error) {
	c.mu.Lock()
	c.calls++
	var fault string
	if len(c.faults) > 0 {
		fault, c.faults = c.faults[0], c.faults[1:]
	}
	c.mu.Unlock()

	if fault == "before" {
		return nil, "", errLostResponse
	}
	if fault == "refused" {
		return nil, "", errRefused
	}
	md, loc, err := c.Catalog.CommitTable(ctx, id, reqs, ups)
	if err == nil && fault == "after" {
		return nil, "", errLostResponse
	}
	if err == nil && fault == "after-reset" {
		return nil, "", errReset
	}
	if err == nil && fault == "after-cancel" {
		c.cancel()
		return nil, "", ctx.Err()
	}

	return md, loc, err
}

// literalPath is the file a file:// location names, read literally (no
// percent-decoding), as Hadoop's Path and Trino resolve it.
func literalPath(t *testing.T, loc string) string {
	t.Helper()
	p, ok := strings.CutPrefix(loc, "file://")
	if !ok || !strings.HasPrefix(p, "/") {
		t.Fatalf("%q is not a file:///path location", loc)
	}
	return p
}
