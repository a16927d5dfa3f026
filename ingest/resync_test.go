package ingest_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/ingest"
	"github.com/floe-io/floe/internal/contract"
	"github.com/floe-io/floe/schema"
)

// seekSource delivers offsets 0..n-1 of one partition in polls of per and
// honours Seek, as librdkafka does after a resync.
type seekSource struct {
	mu      sync.Mutex
	next, n int64
	per     int64
	started bool
	cancel  context.CancelFunc
	idle    int
}

func (s *seekSource) Poll(ctx context.Context, rb ingest.Rebalancer, _ int, _ time.Duration) ([]ingest.Record, error) {
	if !s.started {
		s.started = true
		starts, err := rb.Assigned(ctx, []ingest.TopicPartition{{Topic: "t", Partition: 0}})
		if err != nil {
			return nil, err
		}
		s.next = starts[ingest.TopicPartition{Topic: "t", Partition: 0}]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next >= s.n {
		if s.idle++; s.idle > 20 {
			s.cancel()
		}
		time.Sleep(time.Millisecond)
		return nil, nil
	}
	var out []ingest.Record
	for ; s.next < s.n && int64(len(out)) < s.per; s.next++ {
		out = append(out, ingest.Record{Topic: "t", Partition: 0, Offset: s.next, Value: []byte(fmt.Sprintf("m-%05d", s.next%7))})
	}
	return out, nil
}

func (s *seekSource) Seek(_ context.Context, offs map[ingest.TopicPartition]int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, off := range offs {
		s.next = off
	}
	return nil
}
func (s *seekSource) Pause([]ingest.TopicPartition) error                      { return nil }
func (s *seekSource) Resume([]ingest.TopicPartition) error                     { return nil }
func (s *seekSource) CommitGroupOffsets(map[ingest.TopicPartition]int64) error { return nil }
func (s *seekSource) Close() error                                             { return nil }

// fencingWriter: its first commit finds that another writer recorded
// offset `other` for the partition (ErrFenced); later commits must start
// where the table's offsets stand and hold exactly the rows between From
// and To.
type fencingWriter struct {
	*fakeWriter
	mu      sync.Mutex
	table   int64 // the offset the table records
	other   int64
	fenced  bool
	badRows []string
}

func (w *fencingWriter) Offsets(context.Context, string) (iceberg.Offsets, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.fenced {
		return iceberg.Offsets{}, nil
	}
	return iceberg.Offsets{{Topic: "t", Partition: 0}: w.table}, nil
}

func (w *fencingWriter) Commit(_ context.Context, b iceberg.Batch) (iceberg.CommitResult, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var rows int64
	for _, r := range b.Records {
		rows += r.NumRows()
		r.Release()
	}
	tp := iceberg.TopicPartition{Topic: "t", Partition: 0}
	if !w.fenced {
		w.fenced, w.table = true, w.other
		return iceberg.CommitResult{}, fmt.Errorf("commit: %w", iceberg.ErrFenced)
	}
	from, ok := b.From[tp]
	if !ok {
		from = 0
	}
	if from != w.table {
		return iceberg.CommitResult{}, fmt.Errorf("commit: %w", iceberg.ErrFenced)
	}
	if to := b.To[tp]; to-from != rows {
		w.badRows = append(w.badRows, fmt.Sprintf("offsets [%d,%d) with %d rows", from, to, rows))
	}
	w.table = b.To[tp]
	return iceberg.CommitResult{Rows: rows}, nil
}

// TestFencedCommitDropsTheRestOfThePoll: when a commit started inside a
// poll's records is fenced, the pipeline seeks to the table's offsets; the
// records left in that poll must not be taken, or the batch that follows
// claims offsets whose rows it never had.
func TestFencedCommitDropsTheRestOfThePoll(t *testing.T) {
	v1, err := schema.Compile(2, contract.PaymentV1)
	if err != nil {
		t.Fatal(err)
	}
	sc := schema.TableSchema()
	as, err := table.SchemaToArrowSchema(sc, nil, true, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &seekSource{n: 400, per: 200, cancel: cancel}
	w := &fencingWriter{fakeWriter: &fakeWriter{sc: sc, arrow: as}, other: 30}
	opts := ingest.Options{Group: "g", MaxBatchRows: 20, Trigger: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	p, err := ingest.New(src, fakeDecoder{v1}, plainOpener{}, w, nopDLQ{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(w.badRows) > 0 {
		t.Errorf("batches whose rows do not match their offsets (rows lost): %v", w.badRows)
	}
	if w.table != 400 {
		t.Errorf("table offset %d at the end, want 400", w.table)
	}
}
