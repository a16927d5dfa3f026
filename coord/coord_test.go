package coord_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/floe-io/floe/coord"
	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/internal/tabletest"
)

const topic = "payments.transactions"

func tp(p int32) iceberg.TopicPartition { return iceberg.TopicPartition{Topic: topic, Partition: p} }

// batch is n rows of partition p from offset from, with From/To set (From
// omitted when from is 0 and the table has nothing yet: fromKnown false).
func batch(t *testing.T, w *iceberg.Writer, group string, p int32, from int64, n int, fromKnown bool) iceberg.Batch {
	t.Helper()
	sc := w.ArrowSchema()
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	ts := arrow.Timestamp(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC).UnixMicro())
	for i, f := range sc.Fields() {
		fb := b.Field(i)
		for k := range n {
			off := from + int64(k)
			switch f.Name {
			case "transaction_id":
				fb.(*array.StringBuilder).Append(fmt.Sprintf("%d/%d", p, off))
			case "event_time", "_ingested_at":
				fb.(*array.TimestampBuilder).Append(ts)
			case "amount":
				fb.(*array.Decimal128Builder).Append(decimal128.FromI64(100 + off))
			case "currency":
				fb.(*array.StringBuilder).Append([]string{"EUR", "USD"}[k%2])
			case "merchant_id":
				fb.(*array.StringBuilder).Append([]string{"m-1", "m-2", "m-3"}[k%3])
			case "_kafka_topic":
				fb.(*array.StringBuilder).Append(topic)
			case "_kafka_partition":
				fb.(*array.Int32Builder).Append(p)
			case "_kafka_offset":
				fb.(*array.Int64Builder).Append(off)
			case "source", "user_id", "status":
				fb.(*array.StringBuilder).Append("x")
			default:
				fb.AppendNull()
			}
		}
	}
	bt := iceberg.Batch{Records: []arrow.RecordBatch{b.NewRecordBatch()}, Group: group,
		To: iceberg.Offsets{tp(p): from + int64(n)}, MaxEventTime: iceberg.Offsets{tp(p): ts.ToTime(arrow.Microsecond).UnixMilli()},
		Assigned: []iceberg.TopicPartition{tp(p)}}
	if fromKnown {
		bt.From = iceberg.Offsets{tp(p): from}
	}
	return bt
}

type cluster struct {
	t      *testing.T
	env    *tabletest.Env
	bus    *coord.MemBus
	opts   coord.Options
	mu     sync.Mutex
	rounds []coord.Round
}

func newCluster(t *testing.T, trigger, timeout time.Duration) *cluster {
	return &cluster{t: t, env: tabletest.NewContractEnv(t, nil), bus: coord.NewMemBus(),
		opts: coord.Options{Trigger: trigger, Timeout: timeout, Rounds: 3}}
}

func (c *cluster) writer() *iceberg.Writer { return c.env.Writer(c.env.Open(), tabletest.Contract) }

func (c *cluster) worker() (*coord.Worker, *iceberg.Writer) {
	w := c.writer()
	k := coord.NewWorker(w, c.bus, c.opts)
	c.t.Cleanup(k.Close)
	return k, w
}

func (c *cluster) coordinator() *coord.Coordinator {
	co := coord.NewCoordinator(c.writer(), c.bus, c.opts)
	co.OnRound = func(r coord.Round) {
		c.mu.Lock()
		c.rounds = append(c.rounds, r)
		c.mu.Unlock()
	}
	c.t.Cleanup(co.Close)
	return co
}

func (c *cluster) rowCounts() map[string]int {
	tbl := c.env.Load(tabletest.Contract)
	n := map[string]int{}
	for _, r := range tabletest.Rows(c.t, tbl) {
		n[r["transaction_id"]]++
	}
	return n
}

func snapshots(c *cluster) int { return len(c.env.Load(tabletest.Contract).Metadata().Snapshots()) }

// Two workers committing in the same interval land in one snapshot.
func TestWorkersShareOneSnapshot(t *testing.T) {
	c := newCluster(t, 300*time.Millisecond, 10*time.Second)
	co := c.coordinator()
	co.SetActive(true)
	k1, w1 := c.worker()
	k2, w2 := c.worker()
	ctx := t.Context()
	var (
		wg   sync.WaitGroup
		res  [2]iceberg.CommitResult
		errs [2]error
	)
	for i, kw := range []struct {
		k *coord.Worker
		w *iceberg.Writer
	}{{k1, w1}, {k2, w2}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = kw.k.Commit(ctx, batch(t, kw.w, "g", int32(i), 0, 30, false))
		}()
	}
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
	}
	if res[0].SnapshotID == 0 || res[0].SnapshotID != res[1].SnapshotID {
		t.Fatalf("snapshots %d and %d, want one", res[0].SnapshotID, res[1].SnapshotID)
	}
	if n := snapshots(c); n != 1 {
		t.Fatalf("%d snapshots, want 1", n)
	}
	if off, err := w1.Offsets(ctx, "g"); err != nil || off[tp(0)] != 30 || off[tp(1)] != 30 {
		t.Fatalf("offsets %v %v", off, err)
	}
	if n := len(c.rowCounts()); n != 60 {
		t.Fatalf("%d rows, want 60", n)
	}
}

// A request with a stale From is answered fenced; its files never reach the
// table and are removed; a replayed request lands once.
func TestFencedAndReplayed(t *testing.T) {
	c := newCluster(t, 100*time.Millisecond, 10*time.Second)
	c.coordinator().SetActive(true)
	k, w := c.worker()
	ctx := t.Context()
	if _, err := k.Commit(ctx, batch(t, w, "g", 0, 0, 20, false)); err != nil {
		t.Fatal(err)
	}
	// A zombie's batch over the same range: the table records 20.
	_, err := k.Commit(ctx, batch(t, w, "g", 0, 0, 20, false))
	if !errors.Is(err, iceberg.ErrFenced) {
		t.Fatalf("stale batch: %v, want ErrFenced", err)
	}
	// Replay every files request sent so far: nothing lands twice.
	before := snapshots(c)
	c.mu.Lock()
	n0 := len(c.rounds)
	c.mu.Unlock()
	for _, m := range c.bus.Sent() {
		if m.Kind == coord.KindFiles {
			c.bus.Replay(m)
		}
	}
	// The two replayed requests may be taken in one round or two.
	deadline := time.Now().Add(10 * time.Second)
	var replayed []coord.Round
	for {
		c.mu.Lock()
		replayed = append([]coord.Round(nil), c.rounds[n0:]...)
		c.mu.Unlock()
		requests := 0
		for _, r := range replayed {
			requests += r.Requests
		}
		if requests >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rounds after the replay %+v, want both requests answered", replayed)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := snapshots(c); got != before {
		t.Fatalf("replay added %d snapshots", got-before)
	}
	for _, r := range replayed {
		if r.Accepted != 0 {
			t.Fatalf("replay round %+v accepted a request", r)
		}
	}
	counts := c.rowCounts()
	if len(counts) != 20 {
		t.Fatalf("%d rows, want 20", len(counts))
	}
	for id, n := range counts {
		if n != 1 {
			t.Fatalf("row %s %d times", id, n)
		}
	}
}

// A lost answer: the worker finds its batch in the table. A dead
// coordinator: the worker sends again, and a new coordinator commits it.
func TestLostAnswerAndCoordinatorFailover(t *testing.T) {
	c := newCluster(t, 100*time.Millisecond, 500*time.Millisecond)
	old := c.coordinator()
	old.SetActive(true)
	k, w := c.worker()
	ctx := t.Context()

	var drop sync.Mutex
	dropResults := 1
	c.bus.Filter = func(m coord.Message) bool {
		drop.Lock()
		defer drop.Unlock()
		if m.Kind == coord.KindResults && dropResults > 0 {
			dropResults--
			return false
		}
		return true
	}
	res, err := k.Commit(ctx, batch(t, w, "g", 0, 0, 10, false))
	if err != nil || res.SnapshotID == 0 {
		t.Fatalf("lost answer: %+v, %v", res, err)
	}

	// The coordinator dies (stops reading); the worker's request goes
	// unanswered until another process takes over.
	old.SetActive(false)
	go func() {
		time.Sleep(700 * time.Millisecond)
		c.coordinator().SetActive(true)
	}()
	res, err = k.Commit(ctx, batch(t, w, "g", 0, 10, 10, true))
	if err != nil || res.SnapshotID == 0 {
		t.Fatalf("after failover: %+v, %v", res, err)
	}
	if off, _ := w.Offsets(ctx, "g"); off[tp(0)] != 20 {
		t.Fatalf("offsets %v", off)
	}
	if n := len(c.rowCounts()); n != 20 {
		t.Fatalf("%d rows, want 20", n)
	}

	// Nobody answers at all (no coordinator, or one that died and whose
	// partition 0 cannot move until this commit returns): after Rounds
	// requests the worker commits the batch itself, in the coordinated
	// format, once.
	c2 := newCluster(t, 100*time.Millisecond, 200*time.Millisecond)
	k2, w2 := c2.worker()
	res, err = k2.Commit(ctx, batch(t, w2, "g", 1, 0, 5, false))
	if err != nil || res.Rows != 5 || res.SnapshotID == 0 {
		t.Fatalf("unanswered: %+v, %v", res, err)
	}
	if n := len(c2.rowCounts()); n != 5 {
		t.Fatalf("%d rows, want 5", n)
	}
	var requests int
	for _, m := range c2.bus.Sent() {
		if m.Kind == coord.KindFiles {
			requests++
		}
	}
	if requests != 3 {
		t.Fatalf("%d requests sent before committing itself, want 3 (Rounds)", requests)
	}
	// A coordinator that comes back and gets the same request again
	// answers it committed and adds nothing.
	c2.coordinator().SetActive(true)
	n := snapshots(c2)
	for _, m := range c2.bus.Sent() {
		c2.bus.Replay(m)
	}
	time.Sleep(500 * time.Millisecond)
	if snapshots(c2) != n || len(c2.rowCounts()) != 5 {
		t.Fatal("the replayed request landed again")
	}
}
