package compaction

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	iceberggo "github.com/apache/iceberg-go"

	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/floe-io/floe/iceberg"
)

// errNeedCheckpoint: the snapshots expiry keeps would lose offsets.
var errNeedCheckpoint = errors.New("offsets checkpoint needed before expiry")

// expire removes the snapshots beyond the last ExpireKeepLast that are older
// than ExpireOlderThan, without losing any consumer group's offsets: when
// the snapshots kept would not yield the same offsets as the whole history,
// an empty checkpoint snapshot carrying them is committed first.
func (c *Compactor) expire(ctx context.Context, rep *Report) error {
	tbl, err := c.load(ctx)
	if err != nil {
		return err
	}
	if c.opts.DryRun {
		if _, err := c.planExpiry(tbl, rep); err != nil && !errors.Is(err, iceberg.ErrNoChange) {
			return err
		}
		return nil
	}
	for round := 1; ; round++ {
		if round > c.opts.MaxAttempts {
			return fmt.Errorf("gave up after %d attempts: the table keeps changing", c.opts.MaxAttempts)
		}
		var before int
		// Files are not deleted here: a Writer (or reader) holding an
		// older table state may still open the manifests of an expired
		// snapshot. Orphan cleanup deletes them once older than its window.
		res, err := c.commit(ctx, iceberg.CommitRequest{
			Stage: func(_ context.Context, base *table.Table, tx *table.Transaction) error {
				checkpoint, err := c.planExpiry(base, rep)
				if err != nil {
					return err
				}
				if checkpoint {
					return errNeedCheckpoint
				}
				before = len(base.Metadata().Snapshots())
				return tx.ExpireSnapshots(table.WithRetainLast(rep.ExpireKeepLast),
					table.WithOlderThan(rep.ExpireOlderThan), table.WithPostCommit(false))
			},
		})
		if errors.Is(err, errNeedCheckpoint) {
			if err := c.checkpoint(ctx); err != nil {
				return err
			}
			rep.Checkpointed = true
			continue // re-check on the table with the checkpoint
		}
		if err != nil {
			return fmt.Errorf("commit expiry: %w", err)
		}
		if res.Committed {
			rep.SnapshotsExpired = before - len(res.Table.Metadata().Snapshots())
		}
		return nil
	}
}

// planExpiry sets rep.SnapshotsToExpire for tbl and reports whether the
// snapshots expiry keeps would lose offsets or event-time maxima (a
// checkpoint is needed first). It records the retention used in rep and
// returns iceberg.ErrNoChange when nothing is to expire.
func (c *Compactor) planExpiry(tbl *table.Table, rep *Report) (bool, error) {
	md := tbl.Metadata()
	head := md.CurrentSnapshot()
	rep.SnapshotsToExpire = 0
	if head == nil {
		return false, iceberg.ErrNoChange
	}
	now := c.opts.Now()
	keepLast, olderThan := c.expiry(md.Properties())
	rep.ExpireKeepLast, rep.ExpireOlderThan = keepLast, olderThan
	n := len(md.Snapshots()) - countKept(md, head, retained(now, keepLast, olderThan))
	if n <= 0 {
		return false, iceberg.ErrNoChange
	}
	rep.SnapshotsToExpire = n
	all, err := groupOffsets(md, head, nil)
	if err != nil {
		return false, err
	}
	// Conservative: assume iceberg-go's clock reads later than ours.
	keep := retained(now.Add(expiryMargin), keepLast, olderThan)
	kept, err := groupOffsets(md, head, keep)
	if err != nil {
		return false, err
	}
	allEvents, err := groupEventTimes(md, head, nil)
	if err != nil {
		return false, err
	}
	keptEvents, err := groupEventTimes(md, head, keep)
	if err != nil {
		return false, err
	}
	return !equalGroupOffsets(all, kept) || !equalGroupOffsets(allEvents, keptEvents), nil
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

// checkpoint commits an empty append snapshot carrying every group's
// offsets as of the table's head. Conflicts exhausting the attempts are not
// an error: the caller re-checks.
func (c *Compactor) checkpoint(ctx context.Context) error {
	runID := uuid.NewString()
	_, err := c.commit(ctx, iceberg.CommitRequest{
		IDKey: RunIDKey, ID: runID,
		Stage: func(ctx context.Context, base *table.Table, tx *table.Transaction) error {
			props, err := carryProps(base, "checkpoint", runID)
			if err != nil {
				return err
			}
			// AddFiles with no paths commits an empty append carrying
			// props (AddDataFiles ignores an empty list).
			return tx.AddFiles(ctx, nil, props, true)
		},
	})
	if err != nil && !errors.Is(err, iceberg.ErrConflict) {
		return fmt.Errorf("commit offsets checkpoint: %w", err)
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
