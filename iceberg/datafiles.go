package iceberg

import (
	"context"
	"fmt"
	"iter"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"
)

// dataFileWriter writes the records of one batch as Parquet data files of
// tbl, one or more per partition, named after writeID (a UUID). It takes
// ownership of recs; on error the files it wrote are removed.
type dataFileWriter interface {
	Write(ctx context.Context, tbl *table.Table, writeID string, recs *recordSet) ([]iceberggo.DataFile, error)
}

// dataFileWriterFor selects the writer of records of schema sc for tbl: the
// lean writer when the table allows it and iceberg-go's was not asked for,
// else iceberg-go's; with WithCoarseLayout, the lean writer in the table's
// coarse spec when it can. why says why the lean writer was not selected
// ("" when it was); coarseWhy why the coarse layout was asked for but not
// selected ("" when it was, or was not asked for).
func (c *writerConfig) dataFileWriterFor(tbl *table.Table, sc *arrow.Schema) (dfw dataFileWriter, why, coarseWhy string) {
	if c.icebergGoWriter {
		why = "iceberg-go's writer was selected"
		return icebergGoFiles{}, why, c.coarseFallback(why)
	}
	plan, why := planLean(tbl, sc)
	if plan == nil {
		return icebergGoFiles{}, why, c.coarseFallback("the lean writer cannot write this table: " + why)
	}
	if c.coarseRows <= 0 {
		return leanFiles{plan: plan}, "", ""
	}
	cs, ok := CoarseSpec(tbl.Metadata())
	if !ok {
		return leanFiles{plan: plan}, "", "the table has no coarse partition spec"
	}
	coarse, coarseWhy := plan.coarsen(cs, c.coarseRows)
	if coarse == nil {
		return leanFiles{plan: plan}, "", coarseWhy
	}
	plan.coarse, plan.coarseAbove = coarse, c.coarseAbove
	return leanFiles{plan: plan}, "", ""
}

// coarseFallback is why, when the coarse layout was asked for.
func (c *writerConfig) coarseFallback(why string) string {
	if c.coarseRows <= 0 {
		return ""
	}
	return why
}

// CoarseLayoutReason says why a Writer made WithCoarseLayout writes its
// batches in the table's default spec; "" when it writes the coarse spec
// or was not asked to.
func (w *Writer) CoarseLayoutReason() string {
	_, _, why := w.cfg.dataFileWriterFor(w.Table(), w.ArrowSchema())
	return why
}

// WritesCoarse reports whether the Writer writes batches (with
// WithAutoLayout, those over its threshold) in the table's coarse spec.
func (w *Writer) WritesCoarse() bool {
	return w.cfg.coarseRows > 0 && w.CoarseLayoutReason() == ""
}

// writeFiles writes the records as Parquet data files fanned out by the
// table's partition spec. The files are named after the commit id when it is
// a UUID, so a data file can be traced to its batch.
func (w *Writer) writeFiles(ctx context.Context, tbl *table.Table, commitID string, recs *recordSet) ([]iceberggo.DataFile, error) {
	sc := recs.schema()
	if sc == nil {
		recs.releaseRest()
		return nil, nil
	}
	writeID := commitID
	if _, err := uuid.Parse(commitID); err != nil {
		writeID = uuid.NewString()
	}
	dfw, _, _ := w.cfg.dataFileWriterFor(tbl, sc)
	return dfw.Write(ctx, tbl, writeID, recs)
}

// LeanWriterReason says why this table's batches are written by iceberg-go's
// Parquet writer rather than floe's lean writer; "" when the lean writer
// writes them.
func (w *Writer) LeanWriterReason() string {
	_, why, _ := w.cfg.dataFileWriterFor(w.Table(), w.ArrowSchema())
	return why
}

// leanFiles is floe's lean writer (leanwrite.go): one file per partition of
// each record, split when over the plan's target size (or the coarse
// layout's files, coarse.go).
type leanFiles struct{ plan *leanPlan }

func (l leanFiles) Write(ctx context.Context, tbl *table.Table, writeID string, recs *recordSet) ([]iceberggo.DataFile, error) {
	var files []iceberggo.DataFile
	for i := range recs.recs {
		rec := recs.take(i)
		if rec == nil {
			continue
		}
		dfs, err := writeLean(ctx, tbl, l.plan, rec, writeID, i, 0)
		rec.Release()
		if err != nil {
			recs.releaseRest()
			removeFiles(ctx, tbl, files)
			return nil, err
		}
		files = append(files, dfs...)
	}
	return files, nil
}

// icebergGoFiles is iceberg-go's writer (table.WriteRecords).
type icebergGoFiles struct{}

func (icebergGoFiles) Write(ctx context.Context, tbl *table.Table, writeID string, recs *recordSet) ([]iceberggo.DataFile, error) {
	defer recs.releaseRest()
	var opts []table.WriteRecordOption
	if id, err := uuid.Parse(writeID); err == nil {
		opts = append(opts, table.WithWriteUUID(id))
	}
	if recs.count() == 1 {
		// One record batch: the clustered writer sorts its rows by
		// partition and keeps a single Parquet writer open at a time.
		// The fanout writer opens one per partition at once, so its heap
		// grows with the partitions of a batch.
		opts = append(opts, table.WithClusteredWrite())
	}
	var files []iceberggo.DataFile
	for df, err := range table.WriteRecords(ctx, tbl, recs.schema(), recs.seq(), opts...) {
		if err != nil {
			removeFiles(ctx, tbl, files)
			return nil, err
		}
		files = append(files, df)
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
