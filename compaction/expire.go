package compaction

import (
	"context"
	"fmt"

	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"
)

// expire removes the snapshots beyond the last ExpireKeepLast that are older
// than ExpireOlderThan, without losing any consumer group's offsets: when
// the snapshots kept would not yield the same offsets as the whole history,
// an empty checkpoint snapshot carrying them is committed first.
func (c *Compactor) expire(ctx context.Context, rep *Report) error {
	for attempt := 1; ; attempt++ {
		tbl, err := c.load(ctx)
		if err != nil {
			return err
		}
		md := tbl.Metadata()
		head := md.CurrentSnapshot()
		if head == nil {
			return nil
		}
		now := c.opts.Now()
		rep.SnapshotsToExpire = len(md.Snapshots()) - countKept(md, head, retained(now, c.opts.ExpireKeepLast, c.opts.ExpireOlderThan))
		if rep.SnapshotsToExpire <= 0 {
			rep.SnapshotsToExpire = 0
			return nil
		}
		all, err := groupOffsets(md, head, nil)
		if err != nil {
			return err
		}
		// Conservative: assume iceberg-go's clock reads later than ours.
		kept, err := groupOffsets(md, head, retained(now.Add(expiryMargin), c.opts.ExpireKeepLast, c.opts.ExpireOlderThan))
		if err != nil {
			return err
		}
		if c.opts.DryRun {
			return nil
		}
		if attempt > c.opts.MaxAttempts {
			return fmt.Errorf("gave up after %d attempts: the table keeps changing", c.opts.MaxAttempts)
		}

		if !equalGroupOffsets(all, kept) {
			if err := c.checkpoint(ctx, tbl); err != nil {
				return err
			}
			rep.Checkpointed = true
			continue // re-check on the table with the checkpoint
		}

		// Files are not deleted here: a Writer (or reader) holding an older
		// table state may still open the manifests of an expired snapshot.
		// Orphan cleanup deletes them once they are older than its window.
		committed, err := c.commit(ctx, tbl, func(tx *table.Transaction) error {
			return tx.ExpireSnapshots(table.WithRetainLast(c.opts.ExpireKeepLast),
				table.WithOlderThan(c.opts.ExpireOlderThan), table.WithPostCommit(false))
		})
		if err != nil {
			if _, _, rerr := c.resolve(ctx, err, ""); rerr != nil {
				return fmt.Errorf("commit expiry: %w", rerr)
			}
			continue // conflict
		}
		rep.SnapshotsExpired = len(md.Snapshots()) - len(committed.Metadata().Snapshots())
		return nil
	}
}

// checkpoint commits an empty append snapshot on tbl carrying every group's
// offsets as of tbl's head. A conflict is not an error: the caller re-checks.
func (c *Compactor) checkpoint(ctx context.Context, tbl *table.Table) error {
	runID := uuid.NewString()
	props, err := carryProps(tbl, "checkpoint", runID)
	if err != nil {
		return err
	}
	_, err = c.commit(ctx, tbl, func(tx *table.Transaction) error {
		// AddFiles with no paths commits an empty append carrying props
		// (AddDataFiles ignores an empty list).
		return tx.AddFiles(ctx, nil, props, true)
	})
	if err != nil {
		if _, _, rerr := c.resolve(ctx, err, runID); rerr != nil {
			return fmt.Errorf("commit offsets checkpoint: %w", rerr)
		}
	}
	return nil
}

// countKept counts the snapshots ExpireSnapshots would keep: the retained
// ancestors of head plus every snapshot outside head's ancestry (left to
// iceberg-go's own rules; counted as kept).
func countKept(md table.Metadata, head *table.Snapshot, keep func(*table.Snapshot, int) bool) int {
	ancestors := make(map[int64]struct{})
	for s := head; s != nil; {
		if _, seen := ancestors[s.SnapshotID]; seen {
			break
		}
		ancestors[s.SnapshotID] = struct{}{}
		if s.ParentSnapshotID == nil {
			break
		}
		s = md.SnapshotByID(*s.ParentSnapshotID)
	}
	n := 0
	for s, depth := head, 0; s != nil; depth++ {
		if !keep(s, depth) {
			break
		}
		n++
		if s.ParentSnapshotID == nil {
			break
		}
		s = md.SnapshotByID(*s.ParentSnapshotID)
	}
	for _, s := range md.Snapshots() {
		if _, ok := ancestors[s.SnapshotID]; !ok {
			n++
		}
	}
	return n
}
