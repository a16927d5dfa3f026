package compaction

import (
	"context"
	"fmt"

	"github.com/apache/iceberg-go/table"
)

// mergeManifests rewrites the current snapshot's manifests into few
// target-sized ones (one metadata-only replace snapshot) when there are more
// than ManifestMergeMin of them: a fast append adds a manifest per commit,
// and every commit and scan plan reads the whole list.
func (c *Compactor) mergeManifests(ctx context.Context, rep *Report) error {
	for attempt := 1; ; attempt++ {
		tbl, err := c.load(ctx)
		if err != nil {
			return err
		}
		head := tbl.CurrentSnapshot()
		if head == nil {
			return nil
		}
		fs, err := tbl.FS(ctx)
		if err != nil {
			return fmt.Errorf("table io: %w", err)
		}
		ms, err := head.Manifests(fs)
		if err != nil {
			return fmt.Errorf("read manifest list: %w", err)
		}
		rep.ManifestsBefore, rep.ManifestsAfter = len(ms), len(ms)
		if len(ms) <= c.opts.ManifestMergeMin || c.opts.DryRun {
			return nil
		}
		if attempt > c.opts.MaxAttempts {
			// Not an error: appends kept landing first; the next run tries again.
			rep.ManifestMergeDeferred = true
			return nil
		}
		var noop bool
		committed, err := c.commit(ctx, tbl, func(tx *table.Transaction) error {
			res, err := tx.RewriteManifests(ctx)
			if err != nil {
				return err
			}
			noop = res.IsNoOp()
			return nil
		})
		if noop {
			return nil
		}
		if err != nil {
			if _, _, rerr := c.resolve(ctx, err, ""); rerr != nil {
				return fmt.Errorf("commit manifest merge: %w", rerr)
			}
			continue
		}
		after, err := committed.CurrentSnapshot().Manifests(fs)
		if err != nil {
			return fmt.Errorf("read merged manifest list: %w", err)
		}
		rep.ManifestsAfter = len(after)
		return nil
	}
}
