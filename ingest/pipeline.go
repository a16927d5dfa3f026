package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/floe-io/floe/schema"
)

// Pipeline is the run loop: poll, decode, decrypt, append, hand batches
// over. It orchestrates three parts, each used from the loop's goroutine
// only: the batcher (the batch and its triggers), commits (the commit in
// flight and every partition's offsets) and the schema tracker (appenders
// per writer schema, table evolution). Create it with New and call Run
// once.
type Pipeline struct {
	src    Source
	dec    Decoder
	recDec RecordDecoder // dec's hot path, if it has one
	rec    schema.PayloadRecord
	keys   Opener
	dlq    DeadLetterSink
	opts   Options
	log    *slog.Logger

	batcher *batcher
	cur     *partState // the partition of the record being handled
	commits *commits
	schemas *schemaTracker
	stats   statsCounter
	lagAt   time.Time
	ptBuf   []byte
	aadBuf  []byte
	// resyncs counts resyncs (fenced commits): records polled before
	// one are stale.
	resyncs int
}

// New wires a pipeline. None of the arguments is closed by it.
func New(src Source, dec Decoder, keys Opener, w Writer, dlq DeadLetterSink, opts Options) (*Pipeline, error) {
	var errs []error
	if src == nil {
		errs = append(errs, errors.New("ingest: no source"))
	}
	if dec == nil {
		errs = append(errs, errors.New("ingest: no decoder"))
	}
	if keys == nil {
		errs = append(errs, errors.New("ingest: no keyring"))
	}
	if w == nil {
		errs = append(errs, errors.New("ingest: no writer"))
	}
	if dlq == nil {
		errs = append(errs, errors.New("ingest: no dead-letter sink"))
	}
	if opts.Group == "" {
		errs = append(errs, errors.New("ingest: no group"))
	}
	if opts.OnError != "" && opts.OnError != OnErrorDLQ && opts.OnError != OnErrorFail {
		errs = append(errs, fmt.Errorf("ingest: OnError %q: want %q or %q", opts.OnError, OnErrorDLQ, OnErrorFail))
	}
	switch opts.OnIncompatible {
	case "", OnIncompatibleDLQ, OnIncompatibleFail:
	default:
		errs = append(errs, fmt.Errorf("ingest: OnIncompatible %q: want %q or %q", opts.OnIncompatible, OnIncompatibleDLQ, OnIncompatibleFail))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	opts.setDefaults()
	alloc := newCountingAllocator(opts.Allocator)
	opts.Allocator = alloc
	p := &Pipeline{
		src: src, dec: dec, keys: keys, dlq: dlq, opts: opts, log: opts.Logger,
		stats: newStatsCounter(),
	}
	p.recDec, _ = dec.(RecordDecoder)
	var partCols []string
	if pc, ok := w.(PartitionColumner); ok {
		partCols = pc.PartitionColumns()
	}
	p.batcher = newBatcher(&p.opts, alloc, w.ArrowSchema(), partCols)
	retry := outageRetry{opts: &p.opts, log: p.log}
	p.commits = &commits{w: w, src: src, opts: &p.opts, log: p.log, stats: &p.stats, parts: map[TopicPartition]*partState{}, retry: retry}
	p.schemas = &schemaTracker{w: w, opts: &p.opts, log: p.log, appenders: map[uint32]appenderEntry{}, retry: retry}
	return p, nil
}

// Stats returns a copy of the pipeline's counters. Safe to call from any
// goroutine.
func (p *Pipeline) Stats() Stats { return p.stats.snapshot() }

// fatal marks an error that stops the pipeline (as opposed to a record's
// class, which dead-letters it, or a transient error, which is retried).
type fatal struct{ err error }

func (f fatal) Error() string { return f.err.Error() }
func (f fatal) Unwrap() error { return f.err }

// Run consumes until ctx is cancelled (then flushes what it holds, commits
// and returns nil), until every partition of Options.Until is done, or
// until an error it cannot get past.
func (p *Pipeline) Run(ctx context.Context) error {
	defer p.batcher.release()
	err := p.loop(ctx)
	if err != nil && (ctx.Err() == nil || !errors.Is(err, context.Canceled)) {
		// An error that only wraps context.Canceled while ctx is live
		// (a commit cut short) is a failure, not a shutdown.
		// Let a commit in flight finish (it may well succeed) so no
		// goroutine outlives Run; its error adds nothing to err.
		_ = p.await(context.WithoutCancel(ctx))
		return err
	}
	if err == nil && ctx.Err() == nil {
		// Until reached: the final flush already ran.
		return nil
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.opts.ShutdownTimeout)
	defer cancel()
	if err := p.flush(fctx, "shutdown"); err != nil {
		return fmt.Errorf("final commit: %w", err)
	}
	return nil
}

func (p *Pipeline) loop(ctx context.Context) error {
	for ctx.Err() == nil {
		recs, err := p.src.Poll(ctx, p, p.opts.PollMax, p.batcher.pollWait(p.commits.running()))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		gen := p.resyncs
		for i := range recs {
			if err := p.handle(ctx, &recs[i]); err != nil {
				return err
			}
			// Size thresholds hold per record, not per poll.
			if reason := p.batcher.full(); reason != "" {
				if err := p.flushAsync(ctx, reason); err != nil {
					return err
				}
			}
			if p.resyncs != gen {
				// A fenced commit re-read the table's offsets and sought
				// there: the rest of this poll predates the seek. Taking
				// it would jump over the records between the table's
				// offset and these (they come again after the seek, and
				// would then be skipped as already seen): rows lost with
				// their offsets committed.
				break
			}
		}
		p.checkEnds()
		// Apply a background commit's outcome as soon as it is known, not
		// only at the next flush: offsets, metrics and the log stay current
		// when no more records come.
		if p.commits.landed() {
			if err := p.await(ctx); err != nil {
				return err
			}
		}
		if now := p.opts.Now(); now.Sub(p.lagAt) >= time.Second {
			p.lagAt = now
			p.commits.reportLag()
		}
		if reason := p.batcher.due(); reason != "" && !p.deferred(reason) {
			if err := p.flushAsync(ctx, reason); err != nil {
				return err
			}
		}
		if p.finished() {
			return p.flush(ctx, "end")
		}
	}
	return ctx.Err()
}

// deferred says whether a batch due for reason keeps filling instead:
// when the interval has passed but the previous batch's commit is still
// running. Flushing would only wait for that commit with consuming
// stopped; consuming on, the batch is handed over the moment the commit
// lands, and holds what arrived meanwhile. Size limits never wait.
func (p *Pipeline) deferred(reason string) bool {
	return reason == "interval" && p.commits.running()
}

func (p *Pipeline) finished() bool {
	if p.opts.Until == nil {
		return false
	}
	for tp := range p.opts.Until {
		st := p.commits.parts[tp]
		if st == nil || !st.done {
			return false
		}
	}
	return true
}

func (p *Pipeline) handle(ctx context.Context, r *Record) error {
	tp := r.TP()
	st := p.commits.parts[tp]
	if st == nil || st.done {
		return nil // revoked, or past the end of a bounded run
	}
	if st.nextKnown && r.Offset < st.next {
		return nil // already processed (redelivery after a seek)
	}
	if st.hasEnd && r.Offset >= st.end {
		p.markDone(tp, st)
		return nil
	}
	p.batcher.open()
	p.cur = st
	p.stats.consumed(1)
	p.opts.Observer.Consumed(1)
	backoff := 100 * time.Millisecond
	var outage string // what is down while this record is retried
	var outageSince time.Time
	for {
		err := p.ingest(ctx, r)
		if outage != "" && (err == nil || Classify(err) != "") {
			p.opts.Observer.(OutageObserver).OutageEnded(outage, p.opts.Now().Sub(outageSince))
			outage = ""
		}
		if err == nil {
			break
		}
		var f fatal
		if errors.As(err, &f) {
			return f.err
		}
		if class := Classify(err); class != "" {
			if p.opts.OnError == OnErrorFail {
				// Everything before this record is committed; the
				// record itself is not, so a restart meets it again.
				if ferr := p.flush(ctx, "error"); ferr != nil {
					return ferr
				}
				return &RecordError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Class: class, Err: err}
			}
			if err := p.deadLetter(ctx, r, class, err); err != nil {
				return err
			}
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if oo, ok := p.opts.Observer.(OutageObserver); ok && outage == "" {
			outage, outageSince = OutageOf(err), p.opts.Now()
			oo.OutageBegan(outage, err)
		}
		p.log.Warn("transient error, retrying the record", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	st.next, st.nextKnown = r.Offset+1, true
	p.batcher.advanced(r)
	if st.hasEnd && st.next >= st.end {
		p.markDone(tp, st)
	}
	return nil
}

// ingest appends r as one row, or returns why it cannot.
func (p *Pipeline) ingest(ctx context.Context, r *Record) error {
	if err := CheckRecord(r, p.opts.MaxRecordBytes); err != nil {
		return err
	}
	env, err := p.dec.Envelope(ctx, r.Value)
	if err != nil {
		return err
	}
	p.aadBuf = append(p.aadBuf[:0], env.TransactionID...) // AAD = transaction_id, no allocation per record
	pt, err := p.keys.Open(p.ptBuf[:0], env.KeyID, env.Payload, p.aadBuf)
	if err != nil {
		return err
	}
	p.ptBuf = pt
	err = p.ingestPlaintext(ctx, r, &env, pt)
	// The decoded values (strings and bytes of the compiled reader, bytes
	// of goavro) alias the plaintext until appended: clear it only now,
	// and keep no plaintext around.
	clear(pt)
	return err
}

// ingestPlaintext decodes the decrypted payload and appends the row.
func (p *Pipeline) ingestPlaintext(ctx context.Context, r *Record, env *schema.Envelope, pt []byte) error {
	rec := &p.rec
	if p.recDec != nil {
		if err := p.recDec.DecodePayload(ctx, pt, rec); err != nil {
			return err
		}
	} else {
		pl, err := p.dec.Payload(ctx, pt)
		if err != nil {
			return err
		}
		rec.SetPayload(pl)
	}
	app, err := p.schemas.appender(ctx, rec.Schema(), p.batcher, func(ctx context.Context) error {
		return p.flush(ctx, "schema")
	})
	if err != nil {
		if p.opts.OnIncompatible == OnIncompatibleFail && errors.Is(err, schema.ErrIncompatibleSchema) {
			return fatal{fmt.Errorf("%s[%d]@%d (--on-incompatible-schema=fail): %w", r.Topic, r.Partition, r.Offset, err)}
		}
		return err
	}
	app.AppendRecord(p.batcher.cur.b, env, rec, schema.RowMeta{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset})
	p.batcher.appended(rec)
	if st := p.cur; st != nil {
		if ms := env.EventTime.UnixMilli(); !st.hasEvent || ms > st.maxEvent {
			st.maxEvent, st.hasEvent = ms, true
		}
	}
	return nil
}

func (p *Pipeline) deadLetter(ctx context.Context, r *Record, class string, cause error) error {
	dl := DeadLetter{Record: *r, Class: class, Reason: cause.Error()}
	if err := p.dlq.Send(ctx, dl); err != nil {
		return fmt.Errorf("dead-letter %s[%d]@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	p.batcher.cur.dead++
	p.stats.dead(class)
	p.opts.Observer.DeadLettered(class)
	return nil
}

func (p *Pipeline) markDone(tp TopicPartition, st *partState) {
	if st.done {
		return
	}
	st.done = true
	if err := p.src.Pause([]TopicPartition{tp}); err != nil {
		p.log.Debug("pause", "topic", tp.Topic, "partition", tp.Partition, "err", err)
	}
}

// EOF implements [EOFListener]. The records before the end-of-partition
// marker may still be waiting in the current poll's result, so the end is
// only noted here and acted on by checkEnds once they are handled.
func (p *Pipeline) EOF(tp TopicPartition, offset int64) {
	if st := p.commits.parts[tp]; st != nil && offset > st.eof {
		st.eof = offset
	}
}

// checkEnds finishes the bounded partitions whose end the broker reported
// reached (read_committed may end a partition on a control record, so the
// next offset alone cannot tell).
func (p *Pipeline) checkEnds() {
	for tp, st := range p.commits.parts {
		if st.hasEnd && !st.done && st.eof >= st.end {
			p.markDone(tp, st)
		}
	}
}

// flush commits the batch and waits for the commit: dead letters made
// durable first, then one snapshot with the rows and the offsets.
func (p *Pipeline) flush(ctx context.Context, reason string) error {
	return p.flushMode(ctx, reason, true)
}

// flushAsync hands the batch to a commit running in the background and
// returns: the loop consumes the next batch while this one's Parquet files
// are written and committed. At most one commit is in flight; the next
// flush (or anything that needs the table's offsets) waits for it first.
func (p *Pipeline) flushAsync(ctx context.Context, reason string) error {
	return p.flushMode(ctx, reason, false)
}

func (p *Pipeline) flushMode(ctx context.Context, reason string, wait bool) error {
	// The previous commit must have landed before this batch's From can be
	// known (it starts where that one ends).
	if err := p.await(ctx); err != nil {
		return err
	}
	if p.commits.failed != nil {
		return p.commits.failed
	}
	b := p.batcher.cur
	if b.empty() {
		b.opened = time.Time{}
		return nil
	}
	if err := p.commits.retry.do(ctx, "flush dead letters", func(int) error { return p.dlq.Flush(ctx) }); err != nil {
		return fmt.Errorf("dead letters not acknowledged, not committing: %w", err)
	}
	from, to, maxEvent := p.commits.span()
	in := &inflight{to: to, reason: reason, opened: b.opened, dead: b.dead, rows: b.rows}
	rec, err := p.batcher.handOff()
	if err != nil {
		return err
	}
	p.commits.start(ctx, rec, from, maxEvent, in)
	if wait {
		return p.await(ctx)
	}
	return nil
}

// await waits for the commit in flight, if any, and applies its outcome:
// offsets advance, or, if another writer had committed the same range,
// everything held is dropped and the partitions resume from the table.
func (p *Pipeline) await(ctx context.Context) error {
	if p.commits.inflight == nil {
		return nil
	}
	err := p.commits.await()
	p.batcher.handedBack()
	if errors.Is(err, errFenced) {
		return p.resync(ctx)
	}
	return err
}

// resync drops what the pipeline holds and restarts every assigned
// partition at the offset the table records.
func (p *Pipeline) resync(ctx context.Context) error {
	p.resyncs++
	p.batcher.cur.discard()
	tps := p.commits.assigned()
	starts, err := p.startOffsets(ctx, tps)
	if err != nil {
		return err
	}
	return p.src.Seek(ctx, starts)
}

// Assigned implements [Rebalancer]: start offsets come from the table.
func (p *Pipeline) Assigned(ctx context.Context, tps []TopicPartition) (map[TopicPartition]int64, error) {
	starts, err := p.startOffsets(ctx, tps)
	if err != nil {
		return nil, err
	}
	p.log.Info("partitions assigned", "partitions", len(tps), "group", p.opts.Group)
	p.opts.Observer.Assigned(p.commits.assigned())
	return starts, nil
}

func (p *Pipeline) startOffsets(ctx context.Context, tps []TopicPartition) (map[TopicPartition]int64, error) {
	// A commit in flight would move the table's offsets under our feet.
	if err := p.await(ctx); err != nil {
		return nil, err
	}
	recorded, err := p.commits.recorded(ctx)
	if err != nil {
		return nil, err
	}
	starts := make(map[TopicPartition]int64, len(tps))
	for _, tp := range tps {
		st := &partState{eof: -1}
		if off, ok := recorded[tp]; ok {
			st.committed, st.committedKnown = off, true
			st.next, st.nextKnown = off, true
			starts[tp] = off
		} else if off, ok := p.opts.Start[tp]; ok {
			st.next, st.nextKnown = off, true
			starts[tp] = off
			p.batcher.cur.touched = true // record the explicit start at the next trigger
			p.batcher.open()
		} else {
			starts[tp] = p.opts.StartFrom
			if p.opts.StartFrom == StartLatest {
				if wm, ok := p.src.(WatermarkSource); ok {
					_, high, err := wm.Watermarks(tp)
					if err != nil {
						return nil, fmt.Errorf("latest offset of %s[%d]: %w", tp.Topic, tp.Partition, err)
					}
					st.next, st.nextKnown = high, true
					starts[tp] = high
					// Record the resolved start at the next trigger even
					// if no record comes: a restart must not resolve
					// "latest" again and skip what arrived meanwhile.
					p.batcher.cur.touched = true
					p.batcher.open()
				}
			}
		}
		if end, ok := p.opts.Until[tp]; ok {
			st.end, st.hasEnd = end, true
			if st.nextKnown && st.next >= end {
				st.done = true
			}
		}
		p.commits.parts[tp] = st
	}
	return starts, nil
}

// Revoked implements [Rebalancer]: everything held is committed before
// the partitions go.
func (p *Pipeline) Revoked(ctx context.Context, tps []TopicPartition) error {
	err := p.flush(ctx, "revoke")
	for _, tp := range tps {
		delete(p.commits.parts, tp)
	}
	p.log.Info("partitions revoked", "partitions", len(tps))
	p.opts.Observer.Assigned(p.commits.assigned())
	return err
}
