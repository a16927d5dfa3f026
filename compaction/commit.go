package compaction

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/apache/iceberg-go/table"
)

// ErrUnknownOutcome means a commit may or may not have landed and the table
// could not be read back to tell. Files it wrote are left for orphan cleanup.
var ErrUnknownOutcome = errors.New("compaction: commit outcome unknown")

// errNotCommitted marks a failed commit that provably left the table
// unchanged, so the files written for it may be deleted at once.
var errNotCommitted = errors.New("not committed")

// buildError marks a failure staging a transaction, before the catalog was
// contacted: nothing was committed.
type buildError struct{ err error }

func (e buildError) Error() string { return e.err.Error() }
func (e buildError) Unwrap() error { return e.err }

// commitPinned stages one change on a transaction whose main branch is
// pinned to tbl's head and commits it. Any concurrent commit makes it fail
// with a clean conflict, never a replay onto a state nobody planned for.
func commitPinned(ctx context.Context, tbl *table.Table, stage func(tx *table.Transaction) error) (*table.Table, error) {
	tx := tbl.NewTransaction()
	if err := tx.AssertRefSnapshotID(""); err != nil {
		return nil, buildError{fmt.Errorf("pin branch: %w", err)}
	}
	if err := stage(tx); err != nil {
		return nil, buildError{err}
	}
	return tx.Commit(ctx)
}

// isConflict reports whether a Transaction.Commit error proves nothing was
// committed because the table changed underneath (see iceberg.classifyCommitErr:
// the SQL catalog reports failed requirements as plain errors).
func isConflict(err error) bool {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case errors.Is(err, table.ErrCommitFailed), errors.Is(err, table.ErrCommitDiverged):
		return true
	default:
		return strings.Contains(strings.ToLower(err.Error()), "requirement failed")
	}
}

// resolve decides what a failed commit attempt means. It reloads the table
// (even when ctx is done, for an unknown outcome) and reports whether the
// commit landed after all (a snapshot carries runID).
func (c *Compactor) resolve(ctx context.Context, commitErr error, runID string) (fresh *table.Table, landed bool, err error) {
	var be buildError
	if errors.As(commitErr, &be) {
		return nil, false, fmt.Errorf("%w: %w", errNotCommitted, be.err)
	}
	conflict := isConflict(commitErr)
	if !conflict {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), resolveTimeout)
		defer cancel()
	}
	fresh, err = c.load(ctx)
	if err != nil {
		if conflict {
			return nil, false, fmt.Errorf("%w (conflict: %w); reload: %w", errNotCommitted, commitErr, err)
		}
		return nil, false, fmt.Errorf("%w: %w; reload: %w", ErrUnknownOutcome, commitErr, err)
	}
	if !conflict {
		if findRun(fresh, runID) {
			return fresh, true, nil
		}
		// Not in the table now; files are left to orphan cleanup in case
		// a catalog still applies the request later.
		return nil, false, fmt.Errorf("commit failed, not found after reload: %w", commitErr)
	}
	c.addConflict()
	return fresh, false, nil
}
