package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/ingest"
	"github.com/floe-io/floe/internal/contract"
	"github.com/floe-io/floe/schema"
)

// tableWriter keeps one partition's offset as a table would and checks
// that every commit holds exactly the rows between its From and To. fail,
// when set, is asked before each commit whether it fails and how.
type tableWriter struct {
	*fakeWriter
	mu      sync.Mutex
	table   int64
	fail    func(n int, b iceberg.Batch) error
	n       int
	landed  []string // From-To of each commit that landed
	badRows []string
	ids     map[string]int // commits that landed, by CommitID
}

func (w *tableWriter) Offsets(context.Context, string) (iceberg.Offsets, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return iceberg.Offsets{{Topic: "t", Partition: 0}: w.table}, nil
}

func (w *tableWriter) Commit(_ context.Context, b iceberg.Batch) (iceberg.CommitResult, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var rows int64
	for _, r := range b.Records {
		rows += r.NumRows()
		r.Release()
	}
	n := w.n
	w.n++
	if w.fail != nil {
		if err := w.fail(n, b); err != nil {
			return iceberg.CommitResult{}, err
		}
	}
	tp := iceberg.TopicPartition{Topic: "t", Partition: 0}
	if w.ids == nil {
		w.ids = map[string]int{}
	}
	if w.ids[b.CommitID] > 0 {
		// Found by its CommitID, as Writer.Commit resumes one.
		return iceberg.CommitResult{Rows: rows}, nil
	}
	if b.From[tp] != w.table {
		return iceberg.CommitResult{}, fmt.Errorf("commit: %w", iceberg.ErrFenced)
	}
	if to := b.To[tp]; to-b.From[tp] != rows {
		w.badRows = append(w.badRows, fmt.Sprintf("offsets [%d,%d) with %d rows", b.From[tp], to, rows))
	}
	w.ids[b.CommitID]++
	w.landed = append(w.landed, fmt.Sprintf("[%d,%d)", b.From[tp], b.To[tp]))
	w.table = b.To[tp]
	return iceberg.CommitResult{Rows: rows}, nil
}

func newTableWriterPipeline(t *testing.T, n int64, w *tableWriter, opts ingest.Options) (*ingest.Pipeline, context.Context) {
	t.Helper()
	v1, err := schema.Compile(2, contract.PaymentV1)
	if err != nil {
		t.Fatal(err)
	}
	sc := schema.TableSchema()
	as, err := table.SchemaToArrowSchema(sc, nil, true, false)
	if err != nil {
		t.Fatal(err)
	}
	w.fakeWriter = &fakeWriter{sc: sc, arrow: as}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	src := &seekSource{n: n, per: 50, cancel: cancel}
	opts.Group = "g"
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p, err := ingest.New(src, fakeDecoder{v1}, plainOpener{}, w, nopDLQ{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p, ctx
}

// TestNoCommitAfterAFailedOne: once a batch's commit has failed, no later
// batch may be committed: it starts where the failed one did, so its
// offsets would cover the failed batch's rows, which are not in the table.
// The failure here wraps context.Canceled (as a commit cut short does)
// while the run itself goes on, which once made Run take it for a shutdown
// and commit the next batch in its final flush.
func TestNoCommitAfterAFailedOne(t *testing.T) {
	w := &tableWriter{fail: func(n int, _ iceberg.Batch) error {
		if n == 1 {
			return fmt.Errorf("not committed: waiting for the commit turn: %w", context.Canceled)
		}
		return nil
	}}
	p, ctx := newTableWriterPipeline(t, 400, w, ingest.Options{MaxBatchRows: 100, Trigger: time.Hour})
	err := p.Run(ctx)
	if err == nil {
		t.Fatal("Run returned nil after a failed commit")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.landed) != 1 || w.landed[0] != "[0,100)" {
		t.Errorf("commits that landed: %v, want only [0,100) (nothing after the failed one)", w.landed)
	}
	if w.table != 100 {
		t.Errorf("table offset %d, want 100", w.table)
	}
	if len(w.badRows) > 0 {
		t.Errorf("batches whose rows do not match their offsets: %v", w.badRows)
	}
}

// outageObserver records OutageBegan and OutageEnded.
type outageObserver struct {
	nopTestObserver
	mu     sync.Mutex
	began  []string
	ended  []string
	lasted []time.Duration
}

func (o *outageObserver) OutageBegan(what string, _ error) {
	o.mu.Lock()
	o.began = append(o.began, what)
	o.mu.Unlock()
}

func (o *outageObserver) OutageEnded(what string, d time.Duration) {
	o.mu.Lock()
	o.ended = append(o.ended, what)
	o.lasted = append(o.lasted, d)
	o.mu.Unlock()
}

func (o *outageObserver) counts() (began, ended []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string{}, o.began...), append([]string{}, o.ended...)
}

type nopTestObserver struct{}

func (nopTestObserver) Consumed(int)                     {}
func (nopTestObserver) DeadLettered(string)              {}
func (nopTestObserver) Committed(ingest.CommitInfo)      {}
func (nopTestObserver) Fenced()                          {}
func (nopTestObserver) Lag(ingest.TopicPartition, int64) {}
func (nopTestObserver) Assigned([]ingest.TopicPartition) {}
func (nopTestObserver) SchemaSeen(uint32)                {}

// TestCommitRetriedThroughAnOutage: a catalog that refuses connections for
// 1.5 s, whose first failure hides a commit that landed: the pipeline
// retries the same batch (same CommitID, found as Writer.Commit finds it)
// until the catalog answers; every batch lands once, every row once.
func TestCommitRetriedThroughAnOutage(t *testing.T) {
	refused := fmt.Errorf("load table: %w", &netErr{syscall.ECONNREFUSED})
	var down time.Time
	w := &tableWriter{}
	w.fail = func(n int, b iceberg.Batch) error {
		switch {
		case n == 1:
			// Lands, but the answer is lost with the connection.
			tp := iceberg.TopicPartition{Topic: "t", Partition: 0}
			w.ids = map[string]int{b.CommitID: 1}
			w.landed = append(w.landed, fmt.Sprintf("[%d,%d)", b.From[tp], b.To[tp]))
			w.table = b.To[tp]
			down = time.Now()
			return fmt.Errorf("%w: %w", iceberg.ErrUnknownOutcome, refused)
		case n > 1 && time.Since(down) < 1500*time.Millisecond:
			return refused
		}
		return nil
	}
	obs := &outageObserver{}
	p, ctx := newTableWriterPipeline(t, 400, w, ingest.Options{MaxBatchRows: 100, Trigger: time.Hour, Observer: obs})
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.table != 400 || len(w.badRows) > 0 || len(w.landed) != 4 {
		t.Errorf("table offset %d (want 400), bad batches %v; commits %v (want 4)", w.table, w.badRows, w.landed)
	}
	for id, n := range w.ids {
		if n != 1 {
			t.Errorf("commit %s landed %d times", id, n)
		}
	}
	began, ended := obs.counts()
	if strings.Join(began, ",") != "catalog" || strings.Join(ended, ",") != "catalog" {
		t.Errorf("outages began %v ended %v, want one catalog outage", began, ended)
	}
}

// TestOutageTimeout: a catalog down for longer than OutageTimeout ends Run
// with an *OutageError naming it and how long; nothing after the last
// committed batch is committed.
func TestOutageTimeout(t *testing.T) {
	refused := fmt.Errorf("load table: %w", &netErr{syscall.ECONNREFUSED})
	w := &tableWriter{fail: func(n int, _ iceberg.Batch) error {
		if n >= 1 {
			return refused
		}
		return nil
	}}
	p, ctx := newTableWriterPipeline(t, 400, w, ingest.Options{MaxBatchRows: 100, Trigger: time.Hour, OutageTimeout: time.Second})
	start := time.Now()
	err := p.Run(ctx)
	var oe *ingest.OutageError
	if !errors.As(err, &oe) {
		t.Fatalf("Run: %v, want an *OutageError", err)
	}
	if oe.What != "catalog" || oe.Lasted < time.Second || !strings.Contains(err.Error(), "catalog unavailable for 1") ||
		!strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error %q (what %q, lasted %v)", err, oe.What, oe.Lasted)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Run took %v with a 1s outage timeout", d)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.table != 100 || len(w.landed) != 1 {
		t.Errorf("table offset %d, commits %v: want only [0,100)", w.table, w.landed)
	}
}

type netErr struct{ err error }

func (e *netErr) Error() string { return "dial tcp 127.0.0.1:5432: " + e.err.Error() }
func (e *netErr) Unwrap() error { return e.err }

// TestCommitContendsThroughConflicts: a batch whose commit loses every
// attempt to other writers twice (ErrConflict: nothing committed) is tried
// again, the same batch under the same CommitID, instead of ending Run;
// every batch lands once and no outage is reported. With a negative
// outage timeout the first ErrConflict ends Run.
func TestCommitContendsThroughConflicts(t *testing.T) {
	t.Run("contends", func(t *testing.T) {
		ids := map[string]int{}
		w := &tableWriter{}
		w.fail = func(n int, b iceberg.Batch) error {
			if n == 1 || n == 2 {
				ids[b.CommitID]++
				return fmt.Errorf("commit %s: %w after 10 attempts", b.CommitID, iceberg.ErrConflict)
			}
			if n == 3 && ids[b.CommitID] != 2 {
				t.Errorf("commit after two conflicts has CommitID %s, not the batch's", b.CommitID)
			}
			return nil
		}
		obs := &outageObserver{}
		p, ctx := newTableWriterPipeline(t, 400, w, ingest.Options{MaxBatchRows: 100, Trigger: time.Hour, Observer: obs})
		if err := p.Run(ctx); err != nil {
			t.Fatal(err)
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.table != 400 || len(w.badRows) > 0 || strings.Join(w.landed, "") != "[0,100)[100,200)[200,300)[300,400)" {
			t.Errorf("table offset %d (want 400), bad batches %v; commits %v", w.table, w.badRows, w.landed)
		}
		if began, _ := obs.counts(); len(began) > 0 {
			t.Errorf("outages reported for contention: %v", began)
		}
	})
	t.Run("no contention allowed", func(t *testing.T) {
		w := &tableWriter{fail: func(n int, _ iceberg.Batch) error {
			if n == 1 {
				return fmt.Errorf("commit: %w after 10 attempts", iceberg.ErrConflict)
			}
			return nil
		}}
		p, ctx := newTableWriterPipeline(t, 400, w, ingest.Options{MaxBatchRows: 100, Trigger: time.Hour, OutageTimeout: -1})
		if err := p.Run(ctx); !errors.Is(err, iceberg.ErrConflict) {
			t.Fatalf("Run: %v, want ErrConflict", err)
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.table != 100 {
			t.Errorf("table offset %d, want 100", w.table)
		}
	})
}
