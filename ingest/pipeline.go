package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iceberggo "github.com/apache/iceberg-go"

	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/schema"
)

// Writer commits batches to the table. *iceberg.Writer implements it.
type Writer interface {
	Schema() *iceberggo.Schema
	ArrowSchema() *arrow.Schema
	Commit(ctx context.Context, b iceberg.Batch) (iceberg.CommitResult, error)
	Offsets(ctx context.Context, group string) (iceberg.Offsets, error)
	Evolve(ctx context.Context, ch []iceberg.Change) error
}

// Decoder turns framed Avro into envelopes and payloads. *schema.Decoder
// implements it.
type Decoder interface {
	Envelope(ctx context.Context, value []byte) (schema.Envelope, error)
	Payload(ctx context.Context, plaintext []byte) (schema.Payload, error)
}

// recordDecoder is a Decoder's optional hot path: it decodes a payload
// into a reusable record, with no map per record when the writer schema
// allows (see schema.PayloadRecord), and accepts and refuses exactly what
// Payload does. *schema.Decoder implements it; a Decoder without it is
// used through Payload.
type recordDecoder interface {
	DecodePayload(ctx context.Context, plaintext []byte, r *schema.PayloadRecord) error
}

// Opener decrypts payloads. *keys.Keyring implements it.
type Opener interface {
	Open(dst []byte, keyID string, payload, aad []byte) ([]byte, error)
}

// Options tune a [Pipeline]. The zero value of each field means its default.
type Options struct {
	// Group names whose offsets the snapshots record.
	Group string
	// Trigger is the longest a row waits before its batch is committed
	// (default 1s).
	Trigger time.Duration
	// MaxBatchRows commits early when this many rows are buffered
	// (default 1,000,000).
	MaxBatchRows int64
	// MaxBatchBytes commits early when this many record bytes are buffered
	// (default 128 MiB).
	MaxBatchBytes int64
	// StartFrom is where a partition the table has never recorded starts:
	// StartEarliest (default) or StartLatest.
	StartFrom int64
	// Until, when set, makes Run return after every listed partition has
	// been read up to (excluding) its offset: the backfill mode.
	Until map[TopicPartition]int64
	// PollMax is the most records taken from the source at once
	// (default 10,000).
	PollMax int
	// ShutdownTimeout bounds the final flush after ctx is cancelled
	// (default 30s).
	ShutdownTimeout time.Duration
	// Logger receives one line per commit and the warnings (default:
	// slog.Default()). It never receives decrypted data.
	Logger *slog.Logger
	// Allocator for the Arrow builders (default memory.DefaultAllocator).
	Allocator memory.Allocator
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnCommit, when set, is called after every committed snapshot.
	OnCommit func(CommitInfo)
	// Observer receives the pipeline's events for metrics (default: none).
	Observer Observer
	// Start gives, for partitions the table has never recorded for the
	// group, an explicit start offset (backfill --from); it takes
	// precedence over StartFrom.
	Start map[TopicPartition]int64
	// MaxRecordBytes dead-letters, as too_large, a record whose key and
	// value together are larger (default 8 MiB; negative: no limit).
	MaxRecordBytes int
	// MaxBatchPartitions commits early when the batch holds rows of this
	// many distinct table partitions (default 10,000). Each partition is a
	// data file, and each data file's metadata stays in memory until the
	// commit: this bounds a commit's size with many merchants.
	MaxBatchPartitions int
	// MaxBufferBytes bounds the memory the buffered rows take (Arrow
	// builders, measured by the allocator): reaching it commits at once.
	// One batch may be committing in the background while the next one
	// fills, so the rows held take at most twice this; a flush waits for
	// the commit before, which pauses fetching (default 256 MiB).
	MaxBufferBytes int64
	// OnError is what a record that cannot be ingested does:
	// OnErrorDLQ (default) dead-letters it, OnErrorFail commits what came
	// before it and stops Run with a *RecordError.
	OnError string
	// OnIncompatible is what a record whose writer schema cannot be
	// applied to the table does: OnIncompatibleDLQ (default) dead-letters
	// it as incompatible_schema, OnIncompatibleFail stops the pipeline.
	OnIncompatible string
}

// Values of Options.OnError.
const (
	OnErrorDLQ  = "dlq"
	OnErrorFail = "fail"
)

// RecordError stops a pipeline run with OnErrorFail: the record at
// Topic[Partition]@Offset has error class Class. Its message holds no
// decrypted data.
type RecordError struct {
	Topic     string
	Partition int32
	Offset    int64
	Class     string
	Err       error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("record %s[%d]@%d cannot be ingested (%s): %v", e.Topic, e.Partition, e.Offset, e.Class, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// Values of Options.OnIncompatible.
const (
	OnIncompatibleDLQ  = "dlq"
	OnIncompatibleFail = "fail"
)

func (o *Options) setDefaults() {
	if o.Trigger <= 0 {
		o.Trigger = time.Second
	}
	if o.MaxBatchRows <= 0 {
		o.MaxBatchRows = 1_000_000
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 128 << 20
	}
	if o.StartFrom != StartLatest {
		o.StartFrom = StartEarliest
	}
	if o.PollMax <= 0 {
		o.PollMax = 10_000
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Allocator == nil {
		o.Allocator = memory.DefaultAllocator
	}
	if o.MaxRecordBytes == 0 {
		o.MaxRecordBytes = 8 << 20
	}
	if o.MaxBufferBytes <= 0 {
		o.MaxBufferBytes = 256 << 20
	}
	if o.MaxBatchPartitions <= 0 {
		o.MaxBatchPartitions = 10_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
}

// CommitInfo describes one committed snapshot.
type CommitInfo struct {
	iceberg.CommitResult
	Reason     string
	DeadLetter int64
	Opened     time.Time // when the batch's first record was taken
	Committed  time.Time
	Offsets    iceberg.Offsets
	// Waited is how long consuming stood still waiting for this commit
	// (0 when it landed before the next batch was due).
	Waited time.Duration
}

// Pipeline is the run loop: poll, decode, decrypt, batch, commit. Create it
// with New and call Run once.
type Pipeline struct {
	src    Source
	dec    Decoder
	recDec recordDecoder // dec's hot path, if it has one
	rec    schema.PayloadRecord
	keys   Opener
	w      Writer
	dlq    DeadLetterSink
	opts   Options
	log    *slog.Logger

	parts     map[TopicPartition]*partState
	batch     *batch
	appenders map[uint32]appenderEntry
	ptBuf     []byte
	stats     statsCounter
	lagAt     time.Time
	inflight  *inflight
	alloc     *countingAllocator // opts.Allocator, measuring the batch
	// inflightBytes is what the batch being committed held when handed
	// off; its buffers are freed once the commit has written them.
	inflightBytes int64
	partCols      []string
	keyBuf        []byte
	aadBuf        []byte
	// resyncs counts resyncs (fenced commits): records polled before
	// one are stale.
	resyncs int
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
}

type appenderEntry struct {
	app *schema.Appender
	err error
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
		alloc: alloc,
		src:   src, dec: dec, keys: keys, w: w, dlq: dlq, opts: opts, log: opts.Logger,
		parts:     map[TopicPartition]*partState{},
		appenders: map[uint32]appenderEntry{},
		stats:     newStatsCounter(),
	}
	p.recDec, _ = dec.(recordDecoder)
	p.batch = newBatch(opts.Allocator, w.ArrowSchema())
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
	defer p.batch.release()
	err := p.loop(ctx)
	if err != nil && !errors.Is(err, context.Canceled) {
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
		recs, err := p.src.Poll(ctx, p, p.opts.PollMax, p.pollWait())
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
			if reason := p.full(); reason != "" {
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
				// their offsets committed. The likely cause of rows lost
				// with 8 processes on one table (issue 14, h14's report).
				break
			}
		}
		p.checkEnds()
		// Apply a background commit's outcome as soon as it is known, not
		// only at the next flush: offsets, metrics and the log stay current
		// when no more records come.
		if in := p.inflight; in != nil && in.landed() {
			if err := p.await(ctx); err != nil {
				return err
			}
		}
		if now := p.opts.Now(); now.Sub(p.lagAt) >= time.Second {
			p.lagAt = now
			p.reportLag()
		}
		if reason := p.due(); reason != "" && !p.deferred(reason) {
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

func (p *Pipeline) pollWait() time.Duration {
	const idle = 100 * time.Millisecond
	if p.batch.opened.IsZero() {
		return idle
	}
	left := p.opts.Trigger - p.opts.Now().Sub(p.batch.opened)
	switch {
	case left < time.Millisecond && p.deferred("interval"):
		// Overdue, waiting for the commit in flight: poll briefly so the
		// batch is handed over soon after that commit lands.
		return deferPoll
	case left < time.Millisecond:
		return 0
	case left < idle:
		return left
	}
	return idle
}

// deferPoll is how long a poll waits for records while an overdue batch
// waits for the commit in flight.
const deferPoll = 5 * time.Millisecond

// deferred says whether a batch due for reason keeps filling instead:
// when the interval has passed but the previous batch's commit is still
// running. Flushing would only wait for that commit with consuming
// stopped; consuming on, the batch is handed over the moment the commit
// lands, and holds what arrived meanwhile. Size limits never wait.
func (p *Pipeline) deferred(reason string) bool {
	return reason == "interval" && p.inflight != nil && !p.inflight.landed()
}

// full says which size limit the batch has reached, or "".
func (p *Pipeline) full() string {
	b := p.batch
	switch {
	case b.rows >= p.opts.MaxBatchRows:
		return "rows"
	case b.bytes >= p.opts.MaxBatchBytes:
		return "bytes"
	case p.alloc.Allocated()-p.inflightBytes >= p.opts.MaxBufferBytes:
		// Only this batch's share: the batch being committed in the
		// background holds at most as much again, so buffered rows never
		// take more than twice --max-buffer-bytes; and flushing waits for
		// that commit first, which pauses fetching.
		return "memory"
	case len(b.partitions) >= p.opts.MaxBatchPartitions:
		return "partitions"
	}
	return ""
}

// due says why the batch must be committed now, or "".
func (p *Pipeline) due() string {
	b := p.batch
	if b.empty() {
		return ""
	}
	if reason := p.full(); reason != "" {
		return reason
	}
	if !b.opened.IsZero() && p.opts.Now().Sub(b.opened) >= p.opts.Trigger {
		return "interval"
	}
	return ""
}

func (p *Pipeline) finished() bool {
	if p.opts.Until == nil {
		return false
	}
	for tp := range p.opts.Until {
		st := p.parts[tp]
		if st == nil || !st.done {
			return false
		}
	}
	return true
}

func (p *Pipeline) handle(ctx context.Context, r *Record) error {
	tp := r.TP()
	st := p.parts[tp]
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
	p.batch.open(p.opts.Now())
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
	p.batch.touched = true
	p.batch.bytes += int64(len(r.Value) + len(r.Key))
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
	app, err := p.appender(ctx, rec.Schema())
	if err != nil {
		if p.opts.OnIncompatible == OnIncompatibleFail && errors.Is(err, schema.ErrIncompatibleSchema) {
			return fatal{fmt.Errorf("%s[%d]@%d (--on-incompatible-schema=fail): %w", r.Topic, r.Partition, r.Offset, err)}
		}
		return err
	}
	app.AppendRecord(p.batch.b, env, rec, schema.RowMeta{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset})
	p.batch.rows++
	p.batch.addPartition(p.partitionKey(rec))
	return nil
}

// appender returns the compiled appender for a payload writer schema,
// evolving the table first when the schema brings a safe change.
func (p *Pipeline) appender(ctx context.Context, ps *schema.Schema) (*schema.Appender, error) {
	if e, ok := p.appenders[ps.ID]; ok {
		return e.app, e.err
	}
	changes, err := schema.Plan(p.w.Schema(), ps, p.matchOptions()...)
	if err != nil {
		p.appenders[ps.ID] = appenderEntry{err: err}
		p.log.Warn("incompatible writer schema", "schema_id", ps.ID, "class", ClassIncompatibleSchema, "err", err)
		return nil, err
	}
	stale := !p.batch.full.Equal(p.w.ArrowSchema()) // another writer evolved the table
	if len(changes) > 0 || stale {
		// Rows already buffered belong to the old schema: commit them,
		// then evolve, then build for the new schema.
		if err := p.flush(ctx, "schema"); err != nil {
			return nil, fatal{err}
		}
		if len(changes) > 0 {
			if err := p.w.Evolve(ctx, toWriterChanges(changes)); err != nil {
				return nil, fatal{fmt.Errorf("evolving the table for schema %d: %w", ps.ID, err)}
			}
			p.log.Info("table schema evolved", "schema_id", ps.ID, "changes", changes.String())
		}
		p.batch.release()
		p.batch = newBatch(p.opts.Allocator, p.w.ArrowSchema())
		clear(p.appenders)
	}
	app, err := schema.NewAppender(p.batch.row, ps, p.matchOptions()...)
	if err != nil {
		return nil, fatal{fmt.Errorf("compiling an appender for schema %d: %w", ps.ID, err)}
	}
	p.appenders[ps.ID] = appenderEntry{app: app}
	p.opts.Observer.SchemaSeen(ps.ID)
	return app, nil
}

// matchOptions passes the table's name mapping (former names of renamed
// columns) to Plan and NewAppender when the writer has one.
func (p *Pipeline) matchOptions() []schema.MatchOption {
	if nm, ok := p.w.(interface{ NameMapping() iceberggo.NameMapping }); ok {
		if m := nm.NameMapping(); m != nil {
			return []schema.MatchOption{schema.WithNameMapping(m)}
		}
	}
	return nil
}

func (p *Pipeline) deadLetter(ctx context.Context, r *Record, class string, cause error) error {
	dl := DeadLetter{Record: *r, Class: class, Reason: cause.Error()}
	if err := p.dlq.Send(ctx, dl); err != nil {
		return fmt.Errorf("dead-letter %s[%d]@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	p.batch.dead++
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
	if st := p.parts[tp]; st != nil && offset > st.eof {
		st.eof = offset
	}
}

// checkEnds finishes the bounded partitions whose end the broker reported
// reached (read_committed may end a partition on a control record, so the
// next offset alone cannot tell).
func (p *Pipeline) checkEnds() {
	for tp, st := range p.parts {
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

func (p *Pipeline) flushMode(ctx context.Context, reason string, wait bool) error {
	// The previous commit must have landed before this batch's From can be
	// known (it starts where that one ends).
	if err := p.await(ctx); err != nil {
		return err
	}
	b := p.batch
	if b.empty() {
		b.opened = time.Time{}
		return nil
	}
	if err := p.dlq.Flush(ctx); err != nil {
		return fmt.Errorf("dead letters not acknowledged, not committing: %w", err)
	}
	from, to := iceberg.Offsets{}, iceberg.Offsets{}
	for tp, st := range p.parts {
		if !st.nextKnown || (st.committedKnown && st.next == st.committed) {
			continue
		}
		to[tp] = st.next
		if st.committedKnown {
			from[tp] = st.committed
		}
	}
	in := &inflight{done: make(chan struct{}), to: to, reason: reason, opened: b.opened, dead: b.dead, rows: b.rows}
	rec, err := b.build(p.opts.Now())
	if err != nil {
		return err
	}
	batch := iceberg.Batch{Records: []arrow.RecordBatch{rec}, Group: p.opts.Group, From: from, To: to}
	// The commit outlives a cancelled Run context: shutdown waits for it
	// rather than abandoning files half committed.
	cctx := context.WithoutCancel(ctx)
	go func() {
		defer close(in.done)
		in.res, in.err = p.w.Commit(cctx, batch)
		in.committed = time.Now()
	}()
	p.inflight = in
	p.inflightBytes = p.alloc.Allocated()
	if wait {
		return p.await(ctx)
	}
	return nil
}

// await waits for the commit in flight, if any, and applies its outcome:
// offsets advance, or, if another writer had committed the same range,
// everything held is dropped and the partitions resume from the table.
func (p *Pipeline) await(ctx context.Context) error {
	in := p.inflight
	if in == nil {
		return nil
	}
	var waited time.Duration
	if !in.landed() {
		// The commit is still running: consuming stops until it lands.
		t := time.Now()
		<-in.done
		waited = time.Since(t)
		p.stats.stalled(waited)
	}
	p.inflight, p.inflightBytes = nil, 0
	if errors.Is(in.err, iceberg.ErrFenced) {
		p.stats.fenced()
		p.opts.Observer.Fenced()
		p.log.Warn("another writer committed these offsets first; dropping the batch and resuming from the table", "rows", in.rows, "err", in.err)
		return p.resync(ctx)
	}
	if in.err != nil {
		return fmt.Errorf("commit: %w", in.err)
	}
	for tp, off := range in.to {
		if st := p.parts[tp]; st != nil {
			st.committed, st.committedKnown = off, true
		}
	}
	if err := p.src.CommitGroupOffsets(in.to); err != nil {
		p.log.Warn("committing consumer group offsets (for lag monitoring only)", "err", err)
	}
	res := in.res
	info := CommitInfo{CommitResult: res, Reason: in.reason, DeadLetter: in.dead, Opened: in.opened, Committed: in.committed, Offsets: in.to, Waited: waited}
	p.stats.committed(info)
	p.opts.Observer.Committed(info)
	p.log.Info("commit", "snapshot_id", res.SnapshotID, "rows", res.Rows, "files", res.Files,
		"bytes", res.Bytes, "dead_letter", in.dead, "duration_ms", res.Duration.Milliseconds(),
		"write_ms", res.WriteDuration.Milliseconds(),
		"attempts", res.Attempts, "trigger", in.reason)
	if p.opts.OnCommit != nil {
		p.opts.OnCommit(info)
	}
	return nil
}

// resync drops what the pipeline holds and restarts every assigned
// partition at the offset the table records.
func (p *Pipeline) resync(ctx context.Context) error {
	p.resyncs++
	p.batch.discard()
	tps := make([]TopicPartition, 0, len(p.parts))
	for tp := range p.parts {
		tps = append(tps, tp)
	}
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
	p.opts.Observer.Assigned(p.assignedList())
	return starts, nil
}

func (p *Pipeline) startOffsets(ctx context.Context, tps []TopicPartition) (map[TopicPartition]int64, error) {
	// A commit in flight would move the table's offsets under our feet.
	if err := p.await(ctx); err != nil {
		return nil, err
	}
	recorded, err := p.w.Offsets(ctx, p.opts.Group)
	if err != nil {
		return nil, fmt.Errorf("reading offsets from the table: %w", err)
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
			p.batch.touched = true // record the explicit start at the next trigger
			p.batch.open(p.opts.Now())
		} else {
			starts[tp] = p.opts.StartFrom
			if p.opts.StartFrom == StartLatest {
				if wm, ok := p.src.(interface {
					Watermarks(TopicPartition) (int64, int64, error)
				}); ok {
					_, high, err := wm.Watermarks(tp)
					if err != nil {
						return nil, fmt.Errorf("latest offset of %s[%d]: %w", tp.Topic, tp.Partition, err)
					}
					st.next, st.nextKnown = high, true
					starts[tp] = high
					// Record the resolved start at the next trigger even
					// if no record comes: a restart must not resolve
					// "latest" again and skip what arrived meanwhile.
					p.batch.touched = true
					p.batch.open(p.opts.Now())
				}
			}
		}
		if end, ok := p.opts.Until[tp]; ok {
			st.end, st.hasEnd = end, true
			if st.nextKnown && st.next >= end {
				st.done = true
			}
		}
		p.parts[tp] = st
	}
	return starts, nil
}

// Revoked implements [Rebalancer]: everything held is committed before
// the partitions go.
func (p *Pipeline) Revoked(ctx context.Context, tps []TopicPartition) error {
	err := p.flush(ctx, "revoke")
	for _, tp := range tps {
		delete(p.parts, tp)
	}
	p.log.Info("partitions revoked", "partitions", len(tps))
	p.opts.Observer.Assigned(p.assignedList())
	return err
}

// toWriterChanges translates the schema package's plan into the writer's
// vocabulary (the two packages do not import each other's types).
func toWriterChanges(cs schema.Changes) []iceberg.Change {
	out := make([]iceberg.Change, len(cs))
	for i, c := range cs {
		var k iceberg.ChangeKind
		switch c.Kind {
		case schema.AddColumn:
			k = iceberg.AddColumn
		case schema.Widen:
			k = iceberg.Widen
		case schema.MakeOptional:
			k = iceberg.MakeOptional
		case schema.Rename:
			k = iceberg.Rename
		}
		out[i] = iceberg.Change{Kind: k, Name: c.Name, Path: c.Path, Type: c.Type, Doc: c.Doc, NewName: c.NewName, Before: c.Before}
	}
	return out
}

func (p *Pipeline) assignedList() []TopicPartition {
	out := make([]TopicPartition, 0, len(p.parts))
	for tp := range p.parts {
		out = append(out, tp)
	}
	return out
}

// reportLag tells the observer how far each partition's table offset is
// from the partition's end, using the source's cached watermarks.
func (p *Pipeline) reportLag() {
	wm, ok := p.src.(interface {
		CachedHighWatermark(TopicPartition) (int64, bool)
	})
	if !ok {
		return
	}
	for tp, st := range p.parts {
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
		p.opts.Observer.Lag(tp, max(0, high-pos))
	}
}

// partitionKey identifies the table partition a payload's row lands in,
// from the values of the partition source columns. The result is only
// valid until the next call.
func (p *Pipeline) partitionKey(rec *schema.PayloadRecord) []byte {
	if p.partCols == nil {
		p.partCols = []string{}
		if pc, ok := p.w.(interface{ PartitionColumns() []string }); ok {
			p.partCols = pc.PartitionColumns()
		}
	}
	p.keyBuf = p.keyBuf[:0]
	for _, c := range p.partCols {
		// The contract's partition columns are strings: no formatting.
		p.keyBuf = rec.AppendKeyValue(p.keyBuf, c)
		p.keyBuf = append(p.keyBuf, 0)
	}
	return p.keyBuf
}
