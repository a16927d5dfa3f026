package compaction

import (
	"context"
	"fmt"
	"strconv"
	"time"

	iceberggo "github.com/apache/iceberg-go"

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
		keepLast, olderThan := c.expiry(md.Properties())
		rep.ExpireKeepLast, rep.ExpireOlderThan = keepLast, olderThan
		rep.SnapshotsToExpire = len(md.Snapshots()) - countKept(md, head, retained(now, keepLast, olderThan))
		if rep.SnapshotsToExpire <= 0 {
			rep.SnapshotsToExpire = 0
			return nil
		}
		all, err := groupOffsets(md, head, nil)
		if err != nil {
			return err
		}
		// Conservative: assume iceberg-go's clock reads later than ours.
		kept, err := groupOffsets(md, head, retained(now.Add(expiryMargin), keepLast, olderThan))
		if err != nil {
			return err
		}
		if c.opts.DryRun {
			return nil
		}
		if attempt > c.opts.MaxAttempts {
			return fmt.Errorf("gave up after %d attempts: the table keeps changing", c.opts.MaxAttempts)
		}

		allEvents, err := groupEventTimes(md, head, nil)
		if err != nil {
			return err
		}
		keptEvents, err := groupEventTimes(md, head, retained(now.Add(expiryMargin), keepLast, olderThan))
		if err != nil {
			return err
		}
		if !equalGroupOffsets(all, kept) || !equalGroupOffsets(allEvents, keptEvents) {
			if err := c.checkpoint(ctx, tbl); err != nil {
				return err
			}
			rep.Checkpointed = true
			continue // re-check on the table with the checkpoint
		}

		// Files are not deleted here: a Writer (or reader) holding an older
		// table state may still open the manifests of an expired snapshot.
		// Orphan cleanup deletes them once they are older than its window.
		committed, err := commitPinned(ctx, tbl, func(tx *table.Transaction) error {
			return tx.ExpireSnapshots(table.WithRetainLast(keepLast),
				table.WithOlderThan(olderThan), table.WithPostCommit(false))
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

// expiry is the snapshot retention of one run: the Options' values when
// the caller set them, else the table's standard Iceberg properties
// history.expire.min-snapshots-to-keep and
// history.expire.max-snapshot-age-ms, else the defaults. Unusable property
// values (not a number, below 1) are ignored.
func (c *Compactor) expiry(props iceberggo.Properties) (keepLast int, olderThan time.Duration) {
	keepLast, olderThan = c.opts.ExpireKeepLast, c.opts.ExpireOlderThan
	if !c.keepLastSet {
		if n, err := strconv.Atoi(props[table.MinSnapshotsToKeepKey]); err == nil && n >= 1 {
			keepLast = n
		}
	}
	if !c.olderThanSet {
		if ms, err := strconv.ParseInt(props[table.MaxSnapshotAgeMsKey], 10, 64); err == nil && ms >= 1 {
			olderThan = time.Duration(ms) * time.Millisecond
		}
	}
	return keepLast, olderThan
}

// checkpoint commits an empty append snapshot on tbl carrying every group's
// offsets as of tbl's head. A conflict is not an error: the caller re-checks.
func (c *Compactor) checkpoint(ctx context.Context, tbl *table.Table) error {
	runID := uuid.NewString()
	props, err := carryProps(tbl, "checkpoint", runID)
	if err != nil {
		return err
	}
	_, err = commitPinned(ctx, tbl, func(tx *table.Transaction) error {
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
