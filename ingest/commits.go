package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/google/uuid"

	"github.com/floe-io/floe/iceberg"
)

// commits is the pipeline's side of committing: at most one batch's commit
// in flight (the Writer commits it in the background while the loop fills
// the next batch), its await, and every assigned partition's offsets (the
// next to process and the next the table records). Offsets recorded in the
// table only advance when a commit has landed. The loop's goroutine alone
// uses it; the commit itself runs on a goroutine of its own.
type commits struct {
	w     Writer
	src   Source
	opts  *Options // Group, Now, Observer, OnCommit
	log   *slog.Logger
	stats *statsCounter

	parts    map[TopicPartition]*partState
	inflight *inflight
	retry    outageRetry
	// failed is the error of a commit that did not land: every later
	// batch starts where that one did, so none may be committed (its
	// offsets would cover rows never written).
	failed error
}

type partState struct {
	next           int64 // the next offset to process
	nextKnown      bool
	committed      int64 // the next offset the table records
	committedKnown bool
	end            int64 // exclusive end (Until)
	hasEnd         bool
	eof            int64 // the last end-of-partition offset seen, -1 if none
	done           bool
	// maxEvent is the largest event_time (Unix ms) of the rows of this
	// partition in the batch being filled; hasEvent says there is one.
	maxEvent int64
	hasEvent bool
}

// inflight is a commit running in the background.
type inflight struct {
	done      chan struct{}
	res       iceberg.CommitResult
	err       error
	committed time.Time
	to        iceberg.Offsets
	reason    string
	opened    time.Time
	dead      int64
	rows      int64
}

// landed says whether the commit has finished (successfully or not).
func (in *inflight) landed() bool {
	select {
	case <-in.done:
		return true
	default:
		return false
	}
}

// running says whether a commit is in flight and has not landed yet.
func (c *commits) running() bool { return c.inflight != nil && !c.inflight.landed() }

// landed says whether a commit in flight has landed and awaits its await.
func (c *commits) landed() bool { return c.inflight != nil && c.inflight.landed() }

// span is the offsets a batch handed off now covers: From (what the table
// records, for partitions it knows) and To (the next offset to process),
// for every partition that moved since the last commit.
func (c *commits) span() (from, to, maxEvent iceberg.Offsets) {
	from, to, maxEvent = iceberg.Offsets{}, iceberg.Offsets{}, iceberg.Offsets{}
	for tp, st := range c.parts {
		if st.hasEvent {
			// Collected whether or not the commit lands: a failed batch is
			// dropped and its partitions re-read from the table.
			maxEvent[tp], st.hasEvent = st.maxEvent, false
		}
		if !st.nextKnown || (st.committedKnown && st.next == st.committed) {
			continue
		}
		to[tp] = st.next
		if st.committedKnown {
			from[tp] = st.committed
		}
	}
	return from, to, maxEvent
}

// start commits rec (ownership passes) with the offsets from -> in.to and
// the partitions' event-time maxima in the background; in describes the batch (to, reason, opened, dead, rows).
// The previous commit must have been awaited.
func (c *commits) start(ctx context.Context, rec arrow.RecordBatch, from, maxEvent iceberg.Offsets, in *inflight) {
	in.done = make(chan struct{})
	batch := iceberg.Batch{Group: c.opts.Group, From: from, To: in.to,
		MaxEventTime: maxEvent, Assigned: c.assigned(), CommitID: uuid.NewString()}
	// The commit outlives a cancelled Run context: shutdown waits for it
	// rather than abandoning files half committed. Retries after an
	// outage stop ShutdownTimeout after ctx is done.
	cctx := context.WithoutCancel(ctx)
	stop, cancel := afterShutdown(ctx, c.opts.ShutdownTimeout)
	go func() {
		defer close(in.done)
		defer cancel()
		defer rec.Release()
		// Every attempt commits the same batch (CommitID, offsets, rows):
		// the Writer resumes one whose outcome an outage left unknown
		// instead of committing it twice. The rows stay held (and
		// counted against the buffer) until the batch lands or fails.
		in.err = c.retry.do(stop, "commit", func(int) error {
			return c.contend(stop, func() error {
				rec.Retain()
				b := batch
				b.Records = []arrow.RecordBatch{rec}
				var err error
				in.res, err = c.w.Commit(cctx, b)
				return err
			})
		})
		in.committed = c.opts.Now()
	}()
	c.inflight = in
}

// contend calls commit again, after a random wait, while it fails because
// every one of its catalog attempts lost to another writer's commit
// (iceberg.ErrConflict): contention from other processes on the table is
// not a reason to stop, and the same batch (same CommitID and files) is
// staged again on the table they left. It gives up when stop is done or
// contention has lasted the outage timeout (at once when that is negative).
func (c *commits) contend(stop context.Context, commit func() error) error {
	start := c.opts.Now()
	for round := 1; ; round++ {
		err := commit()
		if !errors.Is(err, iceberg.ErrConflict) || stop.Err() != nil || c.opts.Now().Sub(start) >= c.opts.OutageTimeout {
			return err
		}
		wait := contentionWaitMin + rand.N(contentionWaitMin)
		msg := "commit lost every attempt to other writers' commits; trying the same batch again"
		if errors.Is(err, iceberg.ErrNotAnswered) {
			msg = "coordinated commit: the coordinator did not answer and the batch could not land from here; trying the same batch again"
		}
		c.retry.log.Warn(msg, "round", round, "wait", wait.String(), "err", err)
		select {
		case <-stop.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// contentionWaitMin is the least wait before a batch that lost every
// attempt to other writers is tried again (up to twice as long, at random,
// so the contenders spread out).
const contentionWaitMin = 500 * time.Millisecond

// errFenced reports from await that another writer committed the batch's
// offsets first: the pipeline must drop what it holds and resume from the
// table.
var errFenced = errors.New("fenced")

// await waits for the commit in flight, if any, and applies its outcome:
// the partitions' recorded offsets advance, the group offsets are reported
// to Kafka, observers are told. It returns errFenced if another writer had
// committed the same range (nothing else changed).
func (c *commits) await() error {
	in := c.inflight
	if in == nil {
		return nil
	}
	var waited time.Duration
	if !in.landed() {
		// The commit is still running: consuming stops until it lands.
		t := c.opts.Now()
		<-in.done
		waited = c.opts.Now().Sub(t)
		c.stats.stalled(waited)
	}
	c.inflight = nil
	if errors.Is(in.err, iceberg.ErrFenced) {
		c.stats.fenced()
		c.opts.Observer.Fenced()
		c.log.Warn("another writer committed these offsets first; dropping the batch and resuming from the table", "rows", in.rows, "err", in.err)
		return errFenced
	}
	if in.err != nil {
		c.failed = fmt.Errorf("commit: %w", in.err)
		return c.failed
	}
	for tp, off := range in.to {
		if st := c.parts[tp]; st != nil {
			st.committed, st.committedKnown = off, true
		}
	}
	if err := c.src.CommitGroupOffsets(in.to); err != nil {
		c.log.Warn("committing consumer group offsets (for lag monitoring only)", "err", err)
	}
	res := in.res
	info := CommitInfo{CommitResult: res, Reason: in.reason, DeadLetter: in.dead, Opened: in.opened, Committed: in.committed, Offsets: in.to, Waited: waited}
	c.stats.committed(info)
	c.opts.Observer.Committed(info)
	c.log.Info("commit", "snapshot_id", res.SnapshotID, "rows", res.Rows, "files", res.Files,
		"bytes", res.Bytes, "dead_letter", in.dead, "duration_ms", res.Duration.Milliseconds(),
		"write_ms", res.WriteDuration.Milliseconds(),
		"attempts", res.Attempts, "trigger", in.reason)
	if c.opts.OnCommit != nil {
		c.opts.OnCommit(info)
	}
	return nil
}

// recorded reads the group's offsets from the table. No commit may be in
// flight (it would move them).
func (c *commits) recorded(ctx context.Context) (iceberg.Offsets, error) {
	var o iceberg.Offsets
	err := c.retry.do(ctx, "read offsets", func(int) error {
		var err error
		o, err = c.w.Offsets(ctx, c.opts.Group)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading offsets from the table: %w", err)
	}
	return o, nil
}

// reportLag tells the observer how far each partition's table offset is
// from the partition's end, using the source's cached watermarks.
func (c *commits) reportLag() {
	wm, ok := c.src.(CachedWatermarkSource)
	if !ok {
		return
	}
	for tp, st := range c.parts {
		high, ok := wm.CachedHighWatermark(tp)
		if !ok {
			continue
		}
		pos := st.committed
		if !st.committedKnown {
			if !st.nextKnown {
				continue
			}
			pos = st.next
		}
		c.opts.Observer.Lag(tp, max(0, high-pos))
	}
}

func (c *commits) assigned() []TopicPartition {
	out := make([]TopicPartition, 0, len(c.parts))
	for tp := range c.parts {
		out = append(out, tp)
	}
	return out
}
