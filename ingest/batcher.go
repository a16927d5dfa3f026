package ingest

import (
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/floe-io/floe/schema"
)

// batcher fills one batch at a time and decides when it is committed: the
// triggers (interval, rows, bytes, memory, partitions) and the count of the
// batch's distinct table partitions live here. The loop's goroutine alone
// uses it.
type batcher struct {
	cur   *batch
	opts  *Options           // Trigger, MaxBatch*, MaxBufferBytes, Now
	alloc *countingAllocator // opts.Allocator, measuring the rows buffered
	// handedOff is what the batch being committed held when handed off;
	// its buffers are freed once the commit has written them.
	handedOff int64
	partCols  []string // the table's partition source columns
	keyBuf    []byte
}

func newBatcher(opts *Options, alloc *countingAllocator, sc *arrow.Schema, partCols []string) *batcher {
	return &batcher{cur: newBatch(opts.Allocator, sc), opts: opts, alloc: alloc, partCols: partCols}
}

// deferPoll is how long a poll waits for records while an overdue batch
// waits for the commit in flight.
const deferPoll = 5 * time.Millisecond

// pollWait is how long the next poll may wait for records: until the
// interval trigger, at most 100 ms. commitRunning says a commit is in
// flight (an overdue batch then waits for it, polling briefly).
func (b *batcher) pollWait(commitRunning bool) time.Duration {
	const idle = 100 * time.Millisecond
	if b.cur.opened.IsZero() {
		return idle
	}
	left := b.opts.Trigger - b.opts.Now().Sub(b.cur.opened)
	switch {
	case left < time.Millisecond && commitRunning:
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

// full says which size limit the batch has reached, or "".
func (b *batcher) full() string {
	c := b.cur
	switch {
	case c.rows >= b.opts.MaxBatchRows:
		return "rows"
	case c.bytes >= b.opts.MaxBatchBytes:
		return "bytes"
	case b.alloc.Allocated()-b.handedOff >= b.opts.MaxBufferBytes:
		// Only this batch's share: the batch being committed in the
		// background holds at most as much again, so buffered rows never
		// take more than twice --max-buffer-bytes; and flushing waits for
		// that commit first, which pauses fetching.
		return "memory"
	case len(c.partitions) >= b.opts.MaxBatchPartitions:
		return "partitions"
	}
	return ""
}

// due says why the batch must be committed now, or "".
func (b *batcher) due() string {
	c := b.cur
	if c.empty() {
		return ""
	}
	if reason := b.full(); reason != "" {
		return reason
	}
	if !c.opened.IsZero() && b.opts.Now().Sub(c.opened) >= b.opts.Trigger {
		return "interval"
	}
	return ""
}

// open starts the interval of the batch if it is not running yet.
func (b *batcher) open() { b.cur.open(b.opts.Now()) }

// advanced notes that a partition's offset moved by r (a row or a dead
// letter): the batch must be committed even without rows.
func (b *batcher) advanced(r *Record) {
	b.cur.touched = true
	b.cur.bytes += int64(len(r.Value) + len(r.Key))
}

// appended counts one row appended for rec.
func (b *batcher) appended(rec *schema.PayloadRecord) {
	b.cur.rows++
	b.cur.addPartition(b.partitionKey(rec))
}

// partitionKey identifies the table partition a payload's row lands in,
// from the values of the partition source columns. The result is only
// valid until the next call.
func (b *batcher) partitionKey(rec *schema.PayloadRecord) []byte {
	b.keyBuf = b.keyBuf[:0]
	for _, c := range b.partCols {
		// The contract's partition columns are strings: no formatting.
		b.keyBuf = rec.AppendKeyValue(b.keyBuf, c)
		b.keyBuf = append(b.keyBuf, 0)
	}
	return b.keyBuf
}

// handOff returns the batch's rows as one record in the table schema
// (_ingested_at set now) and starts an empty batch; the caller owns the
// record. What the builders still hold counts as the handed-off batch's
// until handedBack.
func (b *batcher) handOff() (arrow.RecordBatch, error) {
	rec, err := b.cur.build(b.opts.Now())
	if err != nil {
		return nil, err
	}
	b.handedOff = b.alloc.Allocated()
	return rec, nil
}

// handedBack notes that the handed-off batch's commit is over.
func (b *batcher) handedBack() { b.handedOff = 0 }

// rebuild drops the batch (it must be empty or committed) and starts one
// for the table schema sc.
func (b *batcher) rebuild(sc *arrow.Schema) {
	b.cur.release()
	b.cur = newBatch(b.opts.Allocator, sc)
}

func (b *batcher) release() { b.cur.release() }
