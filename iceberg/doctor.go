package iceberg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/internal/fileio"
)

// Misplaced is a referenced file that is not at its location taken
// literally but at the percent-decoded path where floe versions before the
// literal-location fix (and iceberg-go's local IO) put it.
type Misplaced struct {
	ReferencedFile
	At string // the decoded location holding the bytes
}

// LocationReport is what CheckLocations found and did.
type LocationReport struct {
	Files     int              // referenced files checked
	Misplaced []Misplaced      // at their decoded path
	Missing   []ReferencedFile // at neither path
	Repaired  int              // misplaced files moved to their literal location
}

// CheckLocations checks that every file tbl's metadata references is at
// its location taken literally, as Spark, Trino and Java Iceberg read it.
// With repair, each misplaced file is moved there (a rename on a local
// warehouse; copy then delete on object stores); table metadata is not
// changed. Readers of floe find a file at either path meanwhile.
func CheckLocations(ctx context.Context, tbl *table.Table, repair bool) (LocationReport, error) {
	var rep LocationReport
	refs, err := ReferencedFiles(ctx, tbl)
	if err != nil {
		return rep, err
	}
	fsys, err := tbl.FS(ctx)
	if err != nil {
		return rep, fmt.Errorf("table io: %w", err)
	}
	var errs []error
	for _, r := range refs {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		rep.Files++
		ok, err := existsLiteral(fsys, r.Location)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			continue
		}
		legacy, hasLegacy := fileio.LegacyLocation(r.Location)
		if hasLegacy {
			if ok, err = existsLiteral(fsys, legacy); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if !hasLegacy || !ok {
			rep.Missing = append(rep.Missing, r)
			continue
		}
		rep.Misplaced = append(rep.Misplaced, Misplaced{ReferencedFile: r, At: legacy})
		if !repair {
			continue
		}
		if err := moveFile(fsys, legacy, r.Location); err != nil {
			errs = append(errs, fmt.Errorf("move %s to %s: %w", legacy, r.Location, err))
			continue
		}
		rep.Repaired++
	}
	return rep, errors.Join(errs...)
}

// existsLiteral reports whether a file is at loc taken literally (no
// fallback to a decoded path).
func existsLiteral(fsys icebergio.IO, loc string) (bool, error) {
	var err error
	if p, ok := fileio.LocalPath(loc); ok {
		_, err = os.Stat(filepath.FromSlash(p))
	} else if st, ok := fsys.(icebergio.StatIO); ok {
		_, err = st.Stat(loc)
	} else {
		var f icebergio.File
		if f, err = fsys.Open(loc); err == nil {
			f.Close()
		}
	}
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("stat %s: %w", loc, err)
}

func moveFile(fsys icebergio.IO, from, to string) error {
	src, sok := fileio.LocalPath(from)
	dst, dok := fileio.LocalPath(to)
	if sok && dok {
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.Rename(filepath.FromSlash(src), filepath.FromSlash(dst))
	}
	rf, ok := fsys.(icebergio.ReadFileIO)
	if !ok {
		return fmt.Errorf("table io %T cannot read whole files", fsys)
	}
	b, err := rf.ReadFile(from)
	if err != nil {
		return err
	}
	if err := storeFile(fsys, to, b); err != nil {
		return err
	}
	return fsys.Remove(from)
}
