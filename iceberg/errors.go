package iceberg

import (
	"context"
	"errors"
	"strings"

	"github.com/apache/iceberg-go/table"
)

var (
	// ErrFenced means another writer already committed past batch.From for
	// at least one partition. Nothing was committed; the caller must re-read
	// Offsets and resume from there (typically after a rebalance).
	ErrFenced = errors.New("iceberg: fenced: offsets in the table moved past the batch start")

	// ErrConflict means every commit attempt met a concurrent commit and the
	// retry budget ran out. Nothing was committed; the batch may be retried
	// from its From offsets.
	ErrConflict = errors.New("iceberg: commit conflict: retries exhausted")

	// ErrUnknownOutcome means a commit may or may not have landed and the
	// table could not be read back to find out. The caller must re-read
	// Offsets before going on; it must not assume either outcome.
	ErrUnknownOutcome = errors.New("iceberg: commit outcome unknown")

	// ErrInvalidBatch means the batch itself is malformed (no group, To
	// before From, records with the wrong schema). Retrying cannot help.
	ErrInvalidBatch = errors.New("iceberg: invalid batch")
)

// commitErrKind classifies an error returned by Transaction.Commit.
type commitErrKind int

const (
	// commitConflict: the catalog refused the commit because the table
	// changed underneath; nothing was committed. Reload, fence, re-add.
	commitConflict commitErrKind = iota + 1
	// commitUnknown: anything else (timeouts, I/O, 5xx). The catalog may
	// have applied the commit; resolve by looking for the commit id.
	commitUnknown
)

// classifyCommitErr sorts a Transaction.Commit error into a clean conflict or
// an unknown outcome.
//
// iceberg-go wraps catalog CAS failures in table.ErrCommitFailed, but the SQL
// catalog reports a failed requirement (for example "requirement failed:
// branch "main" has changed: expected id 1, found 2") as a plain error. Those
// requirements are validated before anything is written, so they are clean
// conflicts too. table.ErrCommitDiverged (the base snapshot left the branch)
// also committed nothing.
func classifyCommitErr(err error) commitErrKind {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return commitUnknown
	case errors.Is(err, table.ErrCommitFailed), errors.Is(err, table.ErrCommitDiverged):
		return commitConflict
	case strings.Contains(strings.ToLower(err.Error()), "requirement failed"):
		return commitConflict
	default:
		return commitUnknown
	}
}

// IsRetryable reports whether err leaves nothing committed and the same batch
// (re-read from its From offsets) may be tried again: a conflict with retries
// exhausted. ErrFenced, ErrUnknownOutcome and ErrInvalidBatch are not
// retryable as such.
func IsRetryable(err error) bool {
	return errors.Is(err, ErrConflict)
}
