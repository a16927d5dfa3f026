package compaction

import (
	"context"
	"errors"
	"fmt"

	iceberggo "github.com/apache/iceberg-go"
	iceio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/iceberg"
)

// dead reports whether m is a data manifest with DELETED entries only.
func dead(m iceberggo.ManifestFile) bool {
	return m.ManifestContent() == iceberggo.ManifestContentData && !m.HasAddedFiles() && !m.HasExistingFiles()
}

// mergeManifests rewrites the current snapshot's manifests into few
// target-sized ones (one metadata-only replace snapshot) when there are more
// than ManifestMergeMin of them: a fast append adds a manifest per commit,
// and every commit and scan plan reads the whole list.
func (c *Compactor) mergeManifests(ctx context.Context, rep *Report) error {
	tbl, err := c.load(ctx)
	if err != nil {
		return err
	}
	var fs iceio.IO
	count := func(base *table.Table) error {
		head := base.CurrentSnapshot()
		if head == nil {
			return iceberg.ErrNoChange
		}
		if fs, err = base.FS(ctx); err != nil {
			return fmt.Errorf("table io: %w", err)
		}
		ms, err := head.Manifests(fs)
		if err != nil {
			return fmt.Errorf("read manifest list: %w", err)
		}
		rep.ManifestsBefore, rep.ManifestsAfter = len(ms), len(ms)
		live := 0
		for _, m := range ms {
			if !dead(m) {
				live++
			}
		}
		if live <= c.opts.ManifestMergeMin {
			return iceberg.ErrNoChange
		}
		return nil
	}
	if c.opts.DryRun {
		if err := count(tbl); err != nil && !errors.Is(err, iceberg.ErrNoChange) {
			return err
		}
		return nil
	}
	res, err := c.commit(ctx, iceberg.CommitRequest{
		Stage: func(ctx context.Context, base *table.Table, tx *table.Transaction) error {
			if err := count(base); err != nil {
				return err
			}
			// Manifests left with DELETED entries only (a rewrite's, of
			// files it replaced) are passed by: iceberg-go's merge drops
			// an earlier snapshot's DELETED entries, so a bin of such
			// manifests alone would be an empty manifest, which it
			// refuses. floe's next replace snapshot drops them.
			r, err := tx.RewriteManifests(ctx, table.WithRewriteManifestPredicate(func(m iceberggo.ManifestFile) bool { return !dead(m) }))
			if err != nil {
				return err
			}
			if r.IsNoOp() {
				return iceberg.ErrNoChange
			}
			return nil
		},
	})
	if errors.Is(err, iceberg.ErrConflict) {
		// Not an error: appends kept landing first; the next run tries again.
		rep.ManifestMergeDeferred = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("commit manifest merge: %w", err)
	}
	if !res.Committed {
		return nil
	}
	snap := res.Table.SnapshotByID(res.SnapshotID)
	if snap == nil {
		return fmt.Errorf("merged manifests: snapshot %d not in the committed table", res.SnapshotID)
	}
	after, err := snap.Manifests(fs)
	if err != nil {
		return fmt.Errorf("read merged manifest list: %w", err)
	}
	rep.ManifestsAfter = len(after)
	return nil
}
