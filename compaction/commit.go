package compaction

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/floe-io/floe/iceberg"
)

// ErrUnknownOutcome is iceberg.ErrUnknownOutcome: a commit may or may not
// have landed and the table could not be read back to tell. Files it wrote
// are left for orphan cleanup.
var ErrUnknownOutcome = iceberg.ErrUnknownOutcome

// commit runs req through the table's Committer (taking turns with the
// ingest Writer when they share it) and counts its conflicts.
func (c *Compactor) commit(ctx context.Context, req iceberg.CommitRequest) (iceberg.Result, error) {
	if req.Attempts == 0 {
		req.Attempts = c.opts.MaxAttempts
	}
	req.Backoff = func(int) time.Duration { return 0 }
	res, err := c.committer.Commit(ctx, req)
	if res.Conflicts > 0 {
		c.mu.Lock()
		c.stats.Conflicts += int64(res.Conflicts)
		c.mu.Unlock()
	}
	return res, err
}

// newCommitter returns opts.Committer, checked against ident, or a new one.
func newCommitter(opts Options, c *Compactor) (*iceberg.Committer, error) {
	if opts.Committer == nil {
		return iceberg.NewCommitter(c.cat, c.ident)
	}
	if !slices.Equal(opts.Committer.Ident(), c.ident) {
		return nil, fmt.Errorf("committer is for table %v, not %v", opts.Committer.Ident(), c.ident)
	}
	return opts.Committer, nil
}
