package compaction

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"

	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/internal/fileio"
)

// orphans lists the files under the table location that no snapshot,
// metadata file or statistics file references and that are older than
// OrphanOlderThan, and deletes them unless this is a dry run. Files younger
// than the window are never touched, so a commit in flight keeps its files.
//
// iceberg-go plans the candidates; floe then drops every candidate that is
// a referenced file under another spelling (keepReferenced): its location
// taken literally, or the percent-decoded path where old floe versions put
// it. No live file is deleted because iceberg-go and floe disagree on how
// a location maps to a path.
func (c *Compactor) orphans(ctx context.Context, rep *Report) error {
	tbl, err := c.load(ctx)
	if err != nil {
		return err
	}
	plan, err := tbl.DeleteOrphanFiles(ctx,
		table.WithFilesOlderThan(c.opts.OrphanOlderThan),
		table.WithDryRun(true))
	if err != nil {
		return fmt.Errorf("plan orphan files: %w", err)
	}
	refs, err := iceberg.ReferencedFiles(ctx, tbl)
	if err != nil {
		return fmt.Errorf("orphan files: %w", err)
	}
	guard := newReferencedSet(refs)
	for _, f := range plan.OrphanFiles {
		if guard.has(f.Path) {
			rep.OrphansKept++
			continue
		}
		rep.Orphans = append(rep.Orphans, f.Path)
		rep.OrphanBytes += f.SizeBytes
	}
	if c.opts.DryRun || len(rep.Orphans) == 0 {
		return nil
	}
	fs, err := tbl.FS(ctx)
	if err != nil {
		return fmt.Errorf("table io: %w", err)
	}
	var errs []error
	for _, p := range rep.Orphans {
		if err := fs.Remove(p); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		rep.OrphansRemoved++
	}
	if len(errs) > 0 {
		return fmt.Errorf("delete orphan files: %w", errors.Join(errs...))
	}
	return nil
}

// referencedSet holds every spelling of the referenced files' paths.
type referencedSet map[string]struct{}

func newReferencedSet(refs []iceberg.ReferencedFile) referencedSet {
	s := referencedSet{}
	for _, r := range refs {
		s[pathKey(r.Location)] = struct{}{}
		if l, ok := fileio.LegacyLocation(r.Location); ok {
			s[pathKey(l)] = struct{}{}
		}
	}
	return s
}

// has reports whether the listed file p is a referenced file.
func (s referencedSet) has(p string) bool {
	_, ok := s[pathKey(p)]
	return ok
}

// pathKey is what a location names: for a local one its literal path (so
// "file:///x", "file:/x" and "/x" agree), else the location itself.
func pathKey(loc string) string {
	if p, ok := fileio.LocalPath(loc); ok {
		return "file:" + p
	}
	return loc
}
