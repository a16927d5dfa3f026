package ingest_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/ingest"
	"github.com/floe-io/floe/internal/contract"
	"github.com/floe-io/floe/schema"
)

// The trigger tests drive the run loop alone, with in-memory stand-ins
// for Kafka, the decoders and the table, and a clock the test moves.

// clock is the pipeline's injected clock. The loop reads it, the commit
// goroutine too (CommitInfo.Committed), and the test moves it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeSource hands out records in polls of `per`, advancing the clock by
// `step` per poll, and stops the run when it runs out.
type fakeSource struct {
	recs    []ingest.Record
	per     int
	step    time.Duration
	clk     *clock
	cancel  context.CancelFunc
	started bool
	onPoll  func() // if set, called at every poll
	// hold, if set and true, makes a poll return nothing without moving
	// the clock (the test's commits are instant, but land asynchronously).
	hold func() bool
}

func (s *fakeSource) Poll(ctx context.Context, rb ingest.Rebalancer, _ int, _ time.Duration) ([]ingest.Record, error) {
	if !s.started {
		s.started = true
		if _, err := rb.Assigned(ctx, []ingest.TopicPartition{{Topic: "t", Partition: 0}}); err != nil {
			return nil, err
		}
	}
	if s.hold != nil && s.hold() {
		return nil, nil
	}
	s.clk.add(s.step)
	if s.onPoll != nil {
		s.onPoll()
	}
	if len(s.recs) == 0 {
		s.cancel()
		return nil, nil
	}
	n := min(s.per, len(s.recs))
	out := s.recs[:n]
	s.recs = s.recs[n:]
	return out, nil
}
func (s *fakeSource) Seek(context.Context, map[ingest.TopicPartition]int64) error { return nil }
func (s *fakeSource) Pause([]ingest.TopicPartition) error                         { return nil }
func (s *fakeSource) Resume([]ingest.TopicPartition) error                        { return nil }
func (s *fakeSource) CommitGroupOffsets(map[ingest.TopicPartition]int64) error    { return nil }
func (s *fakeSource) Close() error                                                { return nil }

// fakeDecoder: the record value is the merchant id; every payload is a
// v1 Payment of that merchant.
type fakeDecoder struct{ s *schema.Schema }

func (d fakeDecoder) Envelope(_ context.Context, v []byte) (schema.Envelope, error) {
	return schema.Envelope{TransactionID: "tx", EventTime: time.Unix(0, 0).UTC(), KeyID: "k", Payload: v}, nil
}

func (d fakeDecoder) Payload(_ context.Context, pt []byte) (schema.Payload, error) {
	return schema.Payload{Schema: d.s, Fields: map[string]any{
		"amount": big.NewRat(1, 1), "currency": "USD", "user_id": "u", "merchant_id": string(pt), "status": "CAPTURED",
	}}, nil
}

type plainOpener struct{}

func (plainOpener) Open(dst []byte, _ string, payload, _ []byte) ([]byte, error) {
	return append(dst, payload...), nil
}

type fakeWriter struct {
	sc      *iceberggo.Schema
	arrow   *arrow.Schema
	commits []int64 // rows per commit
	// onCommit, if set, runs at the start of every commit (n from 0), on
	// the commit's goroutine: it may block it.
	onCommit func(n int)
	started  atomic.Int64 // commits begun
	landed   atomic.Int64 // commits the pipeline has taken note of (OnCommit)
}

func (w *fakeWriter) Schema() *iceberggo.Schema  { return w.sc }
func (w *fakeWriter) ArrowSchema() *arrow.Schema { return w.arrow }
func (w *fakeWriter) PartitionColumns() []string { return []string{"currency", "merchant_id"} }
func (w *fakeWriter) Offsets(context.Context, string) (iceberg.Offsets, error) {
	return iceberg.Offsets{}, nil
}
func (w *fakeWriter) Evolve(context.Context, []iceberg.Change) error { return nil }
func (w *fakeWriter) Commit(_ context.Context, b iceberg.Batch) (iceberg.CommitResult, error) {
	n := w.started.Add(1) - 1
	if w.onCommit != nil {
		w.onCommit(int(n))
	}
	var rows int64
	for _, r := range b.Records {
		rows += r.NumRows()
		r.Release()
	}
	w.commits = append(w.commits, rows)
	return iceberg.CommitResult{Rows: rows}, nil
}

type nopDLQ struct{}

func (nopDLQ) Send(context.Context, ingest.DeadLetter) error { return nil }
func (nopDLQ) Flush(context.Context) error                   { return nil }
func (nopDLQ) Close(context.Context) error                   { return nil }

// runTriggers runs n records (merchant i%merchants, value size bytes) in
// polls of per records, step apart, and returns the rows of each commit.
func runTriggers(t *testing.T, n, merchants, per int, step time.Duration, opts ingest.Options) ([]int64, []string) {
	t.Helper()
	// Commits here take no time on the test's clock: the clock moves only
	// once every commit begun has landed, as with a writer much faster
	// than the interval.
	commits, reasons, _ := runTriggersWith(t, n, merchants, per, step, opts, func(src *fakeSource, w *fakeWriter) {
		src.hold = func() bool {
			if w.started.Load() > w.landed.Load() {
				return true
			}
			// A batch handed over just now may not have reached the
			// writer yet (its commit runs on a goroutine of its own):
			// give that goroutine a moment before moving the clock.
			time.Sleep(time.Millisecond)
			return w.started.Load() > w.landed.Load()
		}
	})
	return commits, reasons
}

// runTriggersWith is runTriggers with a hook to set up the stand-ins
// before the run; it also returns the pipeline's stats.
func runTriggersWith(t *testing.T, n, merchants, per int, step time.Duration, opts ingest.Options, setup func(*fakeSource, *fakeWriter)) ([]int64, []string, ingest.Stats) {
	t.Helper()
	v1, err := schema.Compile(2, contract.PaymentV1)
	if err != nil {
		t.Fatal(err)
	}
	sc := schema.TableSchema()
	if changes, err := schema.Plan(sc, v1); err != nil || len(changes) != 0 {
		t.Fatalf("v1 against the new table: %v %v", changes, err)
	}
	as, err := table.SchemaToArrowSchema(sc, nil, true, false)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Unix(1000, 0)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &fakeSource{per: per, step: step, clk: clk, cancel: cancel}
	for i := range n {
		src.recs = append(src.recs, ingest.Record{Topic: "t", Partition: 0, Offset: int64(i), Value: []byte(fmt.Sprintf("m-%05d", i%merchants))})
	}
	w := &fakeWriter{sc: sc, arrow: as}
	if setup != nil {
		setup(src, w)
	}
	var reasons []string
	opts.Group, opts.Now = "g", clk.now
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	var waited time.Duration
	opts.OnCommit = func(ci ingest.CommitInfo) {
		reasons = append(reasons, ci.Reason)
		waited += ci.Waited
		w.landed.Add(1)
	}
	p, err := ingest.New(src, fakeDecoder{v1}, plainOpener{}, w, nopDLQ{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	// Each commit reports the wait it caused; together, the stall.
	if st := p.Stats(); waited != st.Stalled {
		t.Errorf("commits report %v waited, stats %v stalled", waited, st.Stalled)
	}
	return w.commits, reasons, p.Stats()
}

func sum(xs []int64) (s int64) {
	for _, x := range xs {
		s += x
	}
	return s
}

// wantCommits fails unless the commits are exactly want (rows) with the
// reasons given: a trigger that never fires leaves everything to the
// shutdown commit and fails here.
func wantCommits(t *testing.T, commits []int64, reasons []string, want []int64, wantReasons []string) {
	t.Helper()
	if fmt.Sprint(commits) != fmt.Sprint(want) || fmt.Sprint(reasons) != fmt.Sprint(wantReasons) {
		t.Fatalf("commits %v %v, want %v %v", commits, reasons, want, wantReasons)
	}
}

// repeat returns n copies of v followed by tail.
func repeat[T any](n int, v T, tail ...T) []T {
	out := make([]T, 0, n+len(tail))
	for range n {
		out = append(out, v)
	}
	return append(out, tail...)
}

func TestTriggers(t *testing.T) {
	t.Run("interval", func(t *testing.T) {
		// 100 records per poll, polls 100 ms apart, 1 s trigger: the
		// first record opens the batch, the 11th poll (1 s later) fills
		// it to 1,100 rows and commits it; the last 600 go at shutdown.
		commits, reasons := runTriggers(t, 5000, 10, 100, 100*time.Millisecond, ingest.Options{Trigger: time.Second})
		wantCommits(t, commits, reasons, repeat[int64](4, 1100, 600), repeat(4, "interval", "shutdown"))
	})
	t.Run("rows", func(t *testing.T) {
		commits, reasons := runTriggers(t, 1000, 10, 300, time.Millisecond, ingest.Options{Trigger: time.Hour, MaxBatchRows: 64})
		wantCommits(t, commits, reasons, repeat[int64](15, 64, 40), repeat(15, "rows", "shutdown"))
	})
	t.Run("bytes", func(t *testing.T) {
		// Each record is 7 bytes: 700 bytes is 100 records.
		commits, reasons := runTriggers(t, 1000, 10, 300, time.Millisecond, ingest.Options{Trigger: time.Hour, MaxBatchBytes: 700})
		wantCommits(t, commits, reasons, repeat[int64](10, 100), repeat(10, "bytes"))
	})
	t.Run("partitions", func(t *testing.T) {
		commits, reasons := runTriggers(t, 1000, 1000, 300, time.Millisecond, ingest.Options{Trigger: time.Hour, MaxBatchPartitions: 250})
		wantCommits(t, commits, reasons, repeat[int64](4, 250), repeat(4, "partitions"))
	})
	t.Run("memory", func(t *testing.T) {
		commits, reasons := runTriggers(t, 20000, 10, 1000, time.Millisecond, ingest.Options{Trigger: time.Hour, MaxBufferBytes: 256 << 10})
		if len(commits) < 3 || reasons[0] != "memory" {
			t.Errorf("commits %v (%v): want several, by memory", commits, reasons)
		}
		if sum(commits) != 20000 {
			t.Errorf("%d rows committed", sum(commits))
		}
	})
}

// TestIntervalWhileCommitting: when the interval passes while the previous
// batch is still being committed, consuming goes on into the next batch
// (handed over as soon as that commit lands) instead of stopping to wait
// for it; a size limit still waits.
func TestIntervalWhileCommitting(t *testing.T) {
	// The first commit is held until the source has served 30 more polls
	// (3 s of the test's clock, three intervals), or 3 s of real time,
	// which then moves the test's clock 3 s too: a loop that stops
	// consuming while it waits gets its next batch only from the timer,
	// with ~1,000 rows.
	block := func(src *fakeSource, w *fakeWriter) {
		started, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		open := func() { once.Do(func() { close(release) }) }
		polls, before := 0, 0
		src.onPoll = func() {
			if before++; before > 12 {
				// The interval (10 polls) has passed, so the first
				// commit has been handed over: give its goroutine a
				// moment to reach the writer, or on a loaded machine
				// the loop runs the source dry before the commit even
				// starts.
				select {
				case <-started:
				case <-time.After(2 * time.Second):
				}
			}
			select {
			case <-started:
				if polls++; polls == 30 {
					open()
				}
				select {
				case <-release:
					// Until the loop has seen the released commit land,
					// each poll gives the commit's goroutine a moment:
					// on a loaded machine the loop could otherwise run
					// the source dry first, leaving every row to the
					// shutdown commit.
					if w.landed.Load() == 0 {
						time.Sleep(time.Millisecond)
					}
				default:
				}
			default:
			}
		}
		w.onCommit = func(n int) {
			if n != 0 {
				return
			}
			close(started)
			timer := time.AfterFunc(3*time.Second, func() {
				src.clk.add(3 * time.Second)
				open()
			})
			defer timer.Stop()
			<-release
		}
	}
	t.Run("interval", func(t *testing.T) {
		commits, reasons, st := runTriggersWith(t, 8000, 10, 100, 100*time.Millisecond, ingest.Options{Trigger: time.Second}, block)
		if sum(commits) != 8000 {
			t.Fatalf("%d rows committed, want 8000", sum(commits))
		}
		if len(commits) < 2 || commits[1] < 3000 || reasons[1] != "interval" {
			t.Fatalf("commits %v (%v): the second wants the >= 3,000 rows consumed while the first was held, on the interval", commits, reasons)
		}
		if st.Stalled > time.Second {
			t.Errorf("consuming stalled %v waiting for commits; the held commit was released by polls", st.Stalled)
		}
	})
	t.Run("rows limit waits", func(t *testing.T) {
		commits, reasons, st := runTriggersWith(t, 8000, 10, 100, 100*time.Millisecond, ingest.Options{Trigger: time.Second, MaxBatchRows: 1500}, block)
		if sum(commits) != 8000 {
			t.Fatalf("%d rows committed, want 8000", sum(commits))
		}
		for i, c := range commits {
			if c > 1500 {
				t.Errorf("commit %d (%s): %d rows over --max-batch-rows 1500", i, reasons[i], c)
			}
		}
		// The batch filled to its limit before 30 polls, so the loop
		// waited for the held commit until the timer let it go.
		if st.Stalled < time.Second {
			t.Errorf("stalled %v: a full batch must wait for the commit in flight", st.Stalled)
		}
	})
}
