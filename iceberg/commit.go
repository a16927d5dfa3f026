package iceberg

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"

	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"
)

// Commit writes b's records as Parquet data files and commits them, with
// b.To recorded for b.Group, as one snapshot. It takes ownership of
// b.Records and releases them whatever happens.
//
// The data files are written once; on a concurrent commit the table is
// reloaded, the batch fenced again (ErrFenced if another writer moved the
// group's offsets away from b.From) and the same files added to a new
// transaction, up to the configured number of attempts (ErrConflict after).
// A commit error that does not prove the commit failed is resolved by
// looking for b.CommitID in the reloaded table (ErrUnknownOutcome if the
// table cannot be read).
//
// A batch without rows but with offsets commits an empty snapshot that only
// records the offsets. A batch without rows and without offsets is a no-op.
//
// An error wrapping ErrUnknownOutcome, ErrCatalogUnavailable,
// ErrStorageUnavailable or ErrConflict may be followed by a Commit of the
// same batch (the
// same CommitID, From and To; Records may be the same rows again or none):
// it reuses the data files already written, and first looks for the
// CommitID in the table, so the batch lands once. On any other error, or
// to give the batch up, the caller must re-read Offsets before consuming
// again.
func (w *Writer) Commit(ctx context.Context, b Batch) (CommitResult, error) {
	recs := newRecordSet(b.Records)
	defer recs.releaseRest()

	start := w.cfg.now()
	if err := validateBatch(&b, recs); err != nil {
		return CommitResult{}, err
	}
	if b.CommitID == "" {
		b.CommitID = uuid.NewString()
	}
	res := CommitResult{CommitID: b.CommitID}
	if recs.rows() == 0 && len(b.To) == 0 {
		recs.releaseRest()
		return res, nil
	}
	props, err := summaryProps(&b)
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrInvalidBatch, err)
	}

	w.commitMu.Lock()
	defer w.commitMu.Unlock()

	tbl := w.Table()
	var files []iceberggo.DataFile
	resume := w.unsettled.id == b.CommitID
	if resume {
		// The same batch again after an outcome left unknown: its files
		// are written, and may already be committed.
		files = w.unsettled.files
		recs.releaseRest()
	} else {
		w.cfg.stage("write", b.CommitID)
		files, err = w.writeFiles(ctx, tbl, b.CommitID, recs)
		if err != nil {
			return res, fmt.Errorf("commit %s: write data files: %w", b.CommitID, markUnavailable(err, true))
		}
	}
	for _, df := range files {
		res.Rows += df.Count()
		res.Bytes += df.FileSizeBytes()
	}
	res.Files = len(files)
	res.WriteDuration = w.cfg.now().Sub(start)

	snap, attempts, err := w.commitFiles(ctx, &b, files, props, resume)
	res.Attempts = attempts
	res.Duration = w.cfg.now().Sub(start)
	w.unsettled = unsettled{}
	if err != nil {
		switch {
		case errors.Is(err, ErrFenced):
			// Provably not committed: the fence failed against a table
			// whose head moved past every earlier attempt's base.
			removeFiles(ctx, tbl, files)
		case errors.Is(err, ErrUnknownOutcome) || Unavailable(err) != nil || errors.Is(err, ErrConflict):
			// Possibly committed, or lost to other writers: the same
			// CommitID again resumes with these files (and looks for the
			// commit first).
			w.unsettled = unsettled{id: b.CommitID, files: files}
		}
		return res, err
	}
	res.SnapshotID = snap

	return res, nil
}

// commitFiles fences and commits files through the Committer. It returns the
// id of the snapshot holding the batch and the number of catalog attempts.
func (w *Writer) commitFiles(ctx context.Context, b *Batch, files []iceberggo.DataFile, props iceberggo.Properties, resume bool) (int64, int, error) {
	res, err := w.c.Commit(ctx, CommitRequest{
		IDKey: CommitIDKey, ID: b.CommitID, Attempts: w.cfg.maxAttempts, Resume: resume,
		Stage: func(ctx context.Context, base *table.Table, tx *table.Transaction) error {
			recorded, err := w.offsetsAt(base, b.Group)
			if err != nil {
				return err
			}
			if bad := fence(recorded, b); len(bad) > 0 {
				return fmt.Errorf("%w: group %q: %s", ErrFenced, b.Group, strings.Join(bad, "; "))
			}
			props, err := w.watermarkProps(base, b, recorded, props)
			if err != nil {
				return err
			}
			w.cfg.stage("commit", b.CommitID)
			return stageAppend(ctx, tx, files, props)
		},
	})
	if err != nil {
		return 0, res.Attempts, fmt.Errorf("commit %s: %w", b.CommitID, err)
	}
	if !res.Committed {
		return 0, res.Attempts, fmt.Errorf("commit %s: nothing staged", b.CommitID)
	}

	return res.SnapshotID, res.Attempts, nil
}

// stageAppend stages files as a fast append carrying props; without files,
// an empty append snapshot that only carries props (AddDataFiles ignores an
// empty list; AddFiles with no paths commits one).
func stageAppend(ctx context.Context, tx *table.Transaction, files []iceberggo.DataFile, props iceberggo.Properties) error {
	if len(files) > 0 {
		if err := tx.AddDataFiles(ctx, files, props, table.WithoutDuplicateCheck()); err != nil {
			return fmt.Errorf("stage data files: %w", err)
		}
		return nil
	}
	if err := tx.AddFiles(ctx, nil, props, true); err != nil {
		return fmt.Errorf("stage empty append: %w", err)
	}
	return nil
}

func summaryProps(b *Batch) (iceberggo.Properties, error) {
	enc, err := EncodeOffsets(b.To)
	if err != nil {
		return nil, err
	}

	return iceberggo.Properties{
		OffsetsKey(b.Group): enc,
		CommitIDKey:         b.CommitID,
	}, nil
}

// watermarkProps returns props plus the group's per-partition event-time
// maxima for the batch's partitions (each the larger of the table's and the
// batch's) and the group's valid-through as of this commit (see
// ValidThroughKeyPrefix); a batch without rows (dead letters only) still
// records the valid-through. recorded are the group's offsets as of tbl.
func (w *Writer) watermarkProps(tbl *table.Table, b *Batch, recorded Offsets, props iceberggo.Properties) (iceberggo.Properties, error) {
	had, err := w.mergedAt(tbl, MaxEventTimeKey(b.Group))
	if err != nil {
		return nil, err
	}
	if len(b.MaxEventTime) == 0 && len(had) == 0 {
		return props, nil // the group has never recorded event times
	}
	mine := make(Offsets, len(b.MaxEventTime))
	for tp, ms := range b.MaxEventTime {
		if prev, ok := had[tp]; ok && prev > ms {
			ms = prev
		}
		mine[tp] = ms
	}
	out := make(iceberggo.Properties, len(props)+2)
	maps.Copy(out, props)
	if len(mine) > 0 {
		enc, err := EncodeOffsets(mine)
		if err != nil {
			return nil, err
		}
		out[MaxEventTimeKey(b.Group)] = enc
	}

	after := make(Offsets, len(recorded)+len(b.To)+len(b.Assigned))
	for _, tp := range b.Assigned {
		after[tp] = -1 // only the keys matter
	}
	maps.Copy(after, recorded)
	maps.Copy(after, b.To)
	maxes := make(Offsets, len(had)+len(mine))
	maps.Copy(maxes, had)
	maps.Copy(maxes, mine)
	if vt, ok := ValidThrough(after, maxes); ok {
		out[ValidThroughKey(b.Group)] = strconv.FormatInt(vt, 10)
	}
	return out, nil
}

func validateBatch(b *Batch, recs *recordSet) error {
	var errs []error
	if b.Group == "" {
		errs = append(errs, errors.New("empty consumer group"))
	}
	for tp, to := range b.To {
		if tp.Topic == "" || tp.Partition < 0 || to < 0 {
			errs = append(errs, fmt.Errorf("bad offset %s[%d]=%d", tp.Topic, tp.Partition, to))
			continue
		}
		if from, ok := b.From[tp]; ok && to < from {
			errs = append(errs, fmt.Errorf("%s[%d]: To %d before From %d", tp.Topic, tp.Partition, to, from))
		}
	}
	if err := recs.checkSchemas(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidBatch, errors.Join(errs...))
	}

	return nil
}
