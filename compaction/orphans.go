package compaction

import (
	"context"
	"fmt"

	"github.com/apache/iceberg-go/table"
)

// orphans lists the files under the table location that no snapshot,
// metadata file or statistics file references and that are older than
// OrphanOlderThan, and deletes them unless this is a dry run. Files younger
// than the window are never touched, so a commit in flight keeps its files.
func (c *Compactor) orphans(ctx context.Context, rep *Report) error {
	tbl, err := c.load(ctx)
	if err != nil {
		return err
	}
	res, err := tbl.DeleteOrphanFiles(ctx,
		table.WithFilesOlderThan(c.opts.OrphanOlderThan),
		table.WithDryRun(c.opts.DryRun))
	if err != nil {
		return fmt.Errorf("delete orphan files: %w", err)
	}
	rep.Orphans = res.OrphanFileLocations
	rep.OrphanBytes = res.TotalSizeBytes
	rep.OrphansRemoved = len(res.DeletedFiles)
	return nil
}
