package iceberg

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"runtime"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"
)

// writeFiles writes the records as Parquet data files fanned out by the
// table's partition spec. The files are named after the commit id when it is
// a UUID, so a data file can be traced to its batch.
func (w *Writer) writeFiles(ctx context.Context, tbl *table.Table, commitID string, recs *recordSet) ([]iceberggo.DataFile, error) {
	sc := recs.schema()
	if sc == nil {
		recs.releaseRest()
		return nil, nil
	}

	if !w.cfg.icebergGoWriter {
		if plan, _ := planLean(tbl, sc); plan != nil {
			return w.writeLeanRecords(ctx, tbl, plan, commitID, recs)
		}
	}

	var opts []table.WriteRecordOption
	if id, err := uuid.Parse(commitID); err == nil {
		opts = append(opts, table.WithWriteUUID(id))
	}
	if w.cfg.targetFileSize > 0 {
		opts = append(opts, table.WithTargetFileSize(w.cfg.targetFileSize))
	}

	if w.cfg.clustered && recs.count() == 1 {
		return w.writeClustered(ctx, tbl, sc, recs, opts)
	}
	if w.cfg.writeWorkers > 0 {
		opts = append(opts, table.WithMaxWriteWorkers(w.cfg.writeWorkers))
	} else if recs.count() == 1 {
		// One record batch: the clustered writer sorts its rows by
		// partition and keeps a single Parquet writer open at a time.
		// The fanout writer opens one per partition at once, so its heap
		// grows with the partitions of a batch.
		opts = append(opts, table.WithClusteredWrite())
	}

	var (
		files []iceberggo.DataFile
		err   error
	)
	for df, werr := range table.WriteRecords(ctx, tbl, sc, recs.seq(), opts...) {
		if werr != nil {
			err = werr
			break
		}
		files = append(files, df)
	}
	if err != nil {
		removeFiles(ctx, tbl, files)
		return nil, err
	}

	return files, nil
}

// LeanWriterReason says why this table's batches are written by iceberg-go's
// Parquet writer rather than floe's lean writer; "" when the lean writer
// writes them.
func (w *Writer) LeanWriterReason() string {
	if w.cfg.icebergGoWriter {
		return "iceberg-go's writer was selected"
	}
	_, why := planLean(w.Table(), w.ArrowSchema())
	return why
}

// writeLeanRecords writes every record of recs with the lean writer
// (leanwrite.go): one file per partition of each record.
func (w *Writer) writeLeanRecords(ctx context.Context, tbl *table.Table, plan *leanPlan, commitID string, recs *recordSet) ([]iceberggo.DataFile, error) {
	if w.cfg.targetFileSize > 0 {
		plan.target = w.cfg.targetFileSize // WithTargetFileSize overrides the table's
	}
	writeID := commitID
	if _, err := uuid.Parse(commitID); err != nil {
		writeID = uuid.NewString()
	}
	var files []iceberggo.DataFile
	for i := range recs.recs {
		rec := recs.take(i)
		if rec == nil {
			continue
		}
		dfs, err := writeLean(ctx, tbl, plan, rec, writeID, i, w.cfg.writeWorkers)
		rec.Release()
		if err != nil {
			removeFiles(ctx, tbl, files)
			return nil, err
		}
		files = append(files, dfs...)
	}
	return files, nil
}

// writeClustered writes the batch's one record with iceberg-go's clustered
// writer (one open file at a time), split into disjoint partition sets
// written in parallel by WithWriteWorkers goroutines (default GOMAXPROCS).
func (w *Writer) writeClustered(ctx context.Context, tbl *table.Table, sc *arrow.Schema, recs *recordSet, opts []table.WriteRecordOption) ([]iceberggo.DataFile, error) {
	n := w.cfg.writeWorkers
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	rec := recs.take(0)
	var parts []arrow.RecordBatch
	if n == 1 {
		parts = []arrow.RecordBatch{rec}
	} else {
		var err error
		if parts, err = splitByPartition(ctx, tbl, rec, n); err != nil {
			return nil, err
		}
	}
	opts = append(opts, table.WithClusteredWrite())
	var (
		mu    sync.Mutex
		files []iceberggo.DataFile
		errs  []error
		wg    sync.WaitGroup
	)
	for _, part := range parts {
		if part == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The clustered writer does not release its input (the
			// fanout writer does): release the part here.
			defer part.Release()
			one := func(yield func(arrow.RecordBatch, error) bool) { yield(part, nil) }
			for df, err := range table.WriteRecords(ctx, tbl, sc, one, opts...) {
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					files = append(files, df)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		removeFiles(ctx, tbl, files)
		return nil, err
	}
	return files, nil
}

// removeFiles deletes data files that are certainly not referenced by any
// snapshot. Best effort: a leftover is an orphan for DeleteOrphanFiles.
func removeFiles(ctx context.Context, tbl *table.Table, files []iceberggo.DataFile) {
	if len(files) == 0 {
		return
	}
	fs, err := tbl.FS(ctx)
	if err != nil {
		return
	}
	for _, df := range files {
		_ = fs.Remove(df.FilePath())
	}
}

// recordSet hands a batch's records to WriteRecords one at a time and
// releases whatever was not handed over. WriteRecords releases the records
// it consumes, possibly from its own goroutines, hence the lock.
type recordSet struct {
	mu   sync.Mutex
	recs []arrow.RecordBatch
}

func newRecordSet(recs []arrow.RecordBatch) *recordSet {
	// Copy: clearing slots must not touch the caller's slice.
	return &recordSet{recs: append([]arrow.RecordBatch(nil), recs...)}
}

func (r *recordSet) take(i int) arrow.RecordBatch {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.recs[i]
	r.recs[i] = nil

	return rec
}

func (r *recordSet) seq() iter.Seq2[arrow.RecordBatch, error] {
	return func(yield func(arrow.RecordBatch, error) bool) {
		for i := range r.recs {
			rec := r.take(i)
			if rec == nil {
				continue
			}
			if rec.NumRows() == 0 {
				rec.Release()
				continue
			}
			if !yield(rec, nil) {
				return
			}
		}
	}
}

// count is the number of records not yet handed over.
func (r *recordSet) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.recs {
		if rec != nil {
			n++
		}
	}
	return n
}

// rows counts the rows not yet handed over.
func (r *recordSet) rows() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n int64
	for _, rec := range r.recs {
		if rec != nil {
			n += rec.NumRows()
		}
	}

	return n
}

// schema returns the schema of the first non-empty record, or nil.
func (r *recordSet) schema() *arrow.Schema {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.recs {
		if rec != nil && rec.NumRows() > 0 {
			return rec.Schema()
		}
	}

	return nil
}

// checkSchemas reports records whose schema differs from the first one.
func (r *recordSet) checkSchemas() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var first *arrow.Schema
	for i, rec := range r.recs {
		if rec == nil {
			continue
		}
		if first == nil {
			first = rec.Schema()
			continue
		}
		if !first.Equal(rec.Schema()) {
			return fmt.Errorf("record %d: schema differs from record 0", i)
		}
	}

	return nil
}

func (r *recordSet) releaseRest() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, rec := range r.recs {
		if rec != nil {
			rec.Release()
			r.recs[i] = nil
		}
	}
}
