package coord

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	iceberggo "github.com/apache/iceberg-go"
	"github.com/google/uuid"

	"github.com/floe-io/floe/iceberg"
)

// Options configure a Worker and a Coordinator.
type Options struct {
	// Trigger is how often the coordinator commits (floe run --trigger).
	Trigger time.Duration
	// Timeout is how long a worker waits for its answer before looking
	// for its batch in the table and sending the request again (default
	// 2 × Trigger + 5 s).
	Timeout time.Duration
	// Rounds is how many times a worker sends one request before it
	// commits the batch itself (same fence; see Worker.Commit); default
	// 2.
	Rounds int
	// Sender names this process in its messages (default a UUID).
	Sender string
	// Log receives the log (nil: discarded).
	Log *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.Trigger <= 0 {
		o.Trigger = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 2*o.Trigger + 5*time.Second
	}
	if o.Rounds <= 0 {
		o.Rounds = 2
	}
	if o.Sender == "" {
		o.Sender = uuid.NewString()
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Worker is the ingest.Writer of a coordinated process: Commit writes the
// batch's data files and a pending manifest (iceberg.Writer.Stage), sends
// the coordinator one request and returns when the coordinator answers
// (or the table shows what became of the batch). Everything else is the
// iceberg.Writer's.
type Worker struct {
	w    *iceberg.Writer
	bus  Bus
	opts Options

	msgs  <-chan Message
	unsub func()

	mu      sync.Mutex
	waiters map[string]chan Result
	// unsettled is the last batch whose Commit gave up unanswered: the
	// same CommitID again resumes it with the same files.
	unsettled *iceberg.Staged

	done chan struct{}
}

// NewWorker returns a Worker committing through bus; Close it.
func NewWorker(w *iceberg.Writer, bus Bus, opts Options) *Worker {
	opts.defaults()
	k := &Worker{w: w, bus: bus, opts: opts, waiters: map[string]chan Result{}, done: make(chan struct{})}
	k.msgs, k.unsub = bus.Subscribe()
	go k.listen()
	return k
}

// Close ends the Worker's subscription.
func (k *Worker) Close() {
	k.unsub()
	<-k.done
}

func (k *Worker) listen() {
	defer close(k.done)
	for m := range k.msgs {
		if m.Kind != KindResults {
			continue
		}
		k.mu.Lock()
		for _, r := range m.Results {
			if ch, ok := k.waiters[r.CommitID]; ok {
				select {
				case ch <- r:
				default: // an answer is already waiting
				}
			}
		}
		k.mu.Unlock()
	}
}

// Schema implements ingest.Writer.
func (k *Worker) Schema() *iceberggo.Schema { return k.w.Schema() }

// ArrowSchema implements ingest.Writer.
func (k *Worker) ArrowSchema() *arrow.Schema { return k.w.ArrowSchema() }

// Offsets implements ingest.Writer.
func (k *Worker) Offsets(ctx context.Context, group string) (iceberg.Offsets, error) {
	return k.w.Offsets(ctx, group)
}

// Evolve implements ingest.Writer.
func (k *Worker) Evolve(ctx context.Context, ch []iceberg.Change) error { return k.w.Evolve(ctx, ch) }

// NameMapping implements ingest.NameMapper.
func (k *Worker) NameMapping() iceberggo.NameMapping { return k.w.NameMapping() }

// PartitionColumns implements ingest.PartitionColumner.
func (k *Worker) PartitionColumns() []string { return k.w.PartitionColumns() }

// Commit implements ingest.Writer: it stages b and has the coordinator
// commit it. With no answer in Timeout it looks for the batch in the table
// and sends it again; after Rounds unanswered requests it commits the batch
// itself (iceberg.Writer.CommitStaged of this one request: the same fence
// and commit-id lookup, so the batch lands once even if a coordinator
// commits it too). It returns an error wrapping iceberg.ErrFenced when the
// batch can never land (its files are removed), and one wrapping
// iceberg.ErrNotAnswered when neither worked (the commit's own error, or
// iceberg.ErrConflict): the same batch (same CommitID) committed again
// reuses its files.
func (k *Worker) Commit(ctx context.Context, b iceberg.Batch) (iceberg.CommitResult, error) {
	start := k.opts.Now()
	if b.CommitID == "" {
		b.CommitID = uuid.NewString()
	}
	res := iceberg.CommitResult{CommitID: b.CommitID}
	if len(b.Records) == 0 && len(b.To) == 0 {
		return res, nil
	}
	k.mu.Lock()
	prev := k.unsettled
	k.unsettled = nil
	k.mu.Unlock()
	var s iceberg.Staged
	if prev != nil && prev.CommitID == b.CommitID {
		s = *prev
		for _, r := range b.Records {
			r.Release()
		}
	} else {
		var err error
		if s, err = k.w.Stage(ctx, b); err != nil {
			return res, err
		}
	}
	res.Rows, res.Files, res.Bytes, res.WriteDuration = s.Rows, s.Files, s.Bytes, k.opts.Now().Sub(start)

	req, err := encodeRequest(s)
	if err != nil {
		k.w.Discard(ctx, s)
		return res, fmt.Errorf("%w: %w", iceberg.ErrInvalidBatch, err)
	}
	answer := make(chan Result, 1)
	k.mu.Lock()
	k.waiters[s.CommitID] = answer
	k.mu.Unlock()
	defer func() {
		k.mu.Lock()
		delete(k.waiters, s.CommitID)
		k.mu.Unlock()
	}()

	var out Result
	for round := 1; ; round++ {
		if err := k.bus.Send(ctx, Message{Kind: KindFiles, Sender: k.opts.Sender, Request: req}); err != nil {
			k.opts.Log.Warn("coordinated commit: sending the request failed", "commit_id", s.CommitID, "err", err)
		}
		timer := time.NewTimer(k.opts.Timeout)
		var answered bool
		select {
		case out = <-answer:
			answered = true
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
		if answered {
			break
		}
		// No answer: the coordinator may have moved or died, or the
		// answer was lost. The table says whether the batch landed or
		// can never land.
		where, werr := k.w.Where(ctx, s)
		if werr == nil && where.Status != iceberg.StagedDeferred {
			out = Result{CommitID: s.CommitID, Status: where.Status.String(), SnapshotID: where.SnapshotID, Reason: where.Reason}
			break
		}
		if round >= k.opts.Rounds || ctx.Err() != nil {
			// No coordinator: commit the batch from here, under the same
			// fence and commit-id lookup a coordinator applies, so it
			// lands once even if a coordinator commits it too. Without
			// this a rebalance could never end: every process commits
			// what it holds before giving its partitions up, and
			// partition 0, with the coordinator role, cannot move until
			// they have.
			k.opts.Log.Warn("coordinated commit: no answer; committing the batch from this process",
				"commit_id", s.CommitID, "requests", round)
			cres, cerr := k.w.CommitStaged(ctx, []iceberg.Staged{s})
			if cerr == nil && cres.Outcomes[0].Status != iceberg.StagedDeferred {
				o := cres.Outcomes[0]
				out = Result{CommitID: s.CommitID, Status: o.Status.String(), SnapshotID: o.SnapshotID, Attempts: cres.Attempts, Reason: o.Reason}
				break
			}
			k.mu.Lock()
			k.unsettled = &s
			k.mu.Unlock()
			res.Duration = k.opts.Now().Sub(start)
			if cerr != nil {
				return res, fmt.Errorf("commit %s: %w after %d requests: %w", s.CommitID, iceberg.ErrNotAnswered, round, cerr)
			}
			return res, fmt.Errorf("commit %s: %w after %d requests (%s): %w", s.CommitID, iceberg.ErrNotAnswered, round, cres.Outcomes[0].Reason, iceberg.ErrConflict)
		}
		k.opts.Log.Warn("coordinated commit: no answer; the batch is not in the table, sending it again",
			"commit_id", s.CommitID, "round", round, "waited", k.opts.Timeout.String())
	}
	res.Duration = k.opts.Now().Sub(start)
	res.Attempts = out.Attempts
	switch out.Status {
	case StatusCommitted:
		res.SnapshotID = out.SnapshotID
		k.w.Settle(ctx, s)
		return res, nil
	case StatusFenced:
		k.w.Discard(ctx, s)
		return res, fmt.Errorf("commit %s: %w: %s", s.CommitID, iceberg.ErrFenced, out.Reason)
	}
	k.mu.Lock()
	k.unsettled = &s
	k.mu.Unlock()
	return res, fmt.Errorf("commit %s: coordinator answered %q: %w", s.CommitID, out.Status, iceberg.ErrUnknownOutcome)
}
