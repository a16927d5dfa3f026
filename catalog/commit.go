package catalog

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	icecatalog "github.com/apache/iceberg-go/catalog"
	icesql "github.com/apache/iceberg-go/catalog/sql"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
)

// CommitTableOn commits updates to the table ident as CommitTable does, but
// takes base, the metadata the caller holds for the table at baseLoc, for
// the table's current state instead of loading and parsing the table's
// metadata.json again: it checks reqs against base, writes the new
// metadata file with fsys, and moves the catalog row from baseLoc to it in
// one compare-and-set UPDATE (the same statement iceberg-go's CommitTable
// ends with).
//
// When base is not the table's current state (another process committed
// since, so the UPDATE matches no row), or reqs fail against it, or the
// table is one the shortcut does not handle (a namespace iceberg-go stores
// encoded, compressed metadata other than gzip), the commit goes through
// CommitTable, which loads the table (a file written for base is removed
// first): the outcome is CommitTable's either way, only its cost differs. An error of the UPDATE
// itself is returned as CommitTable returns it (the outcome is unknown).
//
// The new file is written with fsys, the held table's IO, where CommitTable
// builds an IO from the catalog's and the updated table's properties: a
// commit that changes the table's IO properties is written with the old
// ones (floe's commits do not change them).
//
// Loading is what a commit cost most once a table retained hundreds of
// snapshots (BENCHMARKS.md, "The commit path without loading").
func (c *sqlCatalog) CommitTableOn(ctx context.Context, ident table.Identifier, base table.Metadata, baseLoc string, fsys icebergio.IO,
	reqs []table.Requirement, updates []table.Update,
) (table.Metadata, string, error) {
	md, loc, err := c.commitOn(ctx, ident, base, baseLoc, fsys, reqs, updates)
	if errors.Is(err, errNotCurrent) {
		return c.CommitTable(ctx, ident, reqs, updates)
	}

	return md, loc, err
}

// errNotCurrent says the shortcut cannot commit on the base it was given;
// CommitTableOn takes CommitTable's way instead.
var errNotCurrent = errors.New("base is not the table's current metadata")

func (c *sqlCatalog) commitOn(ctx context.Context, ident table.Identifier, base table.Metadata, baseLoc string, fsys icebergio.IO,
	reqs []table.Requirement, updates []table.Update,
) (table.Metadata, string, error) {
	if base == nil || len(updates) == 0 || len(ident) < 2 {
		return nil, "", errNotCurrent
	}
	ns, name := ident[:len(ident)-1], ident[len(ident)-1]
	// iceberg-go stores a namespace whose parts hold a dot (or its marker)
	// JSON-encoded; only the plain key is computed here.
	if slices.ContainsFunc(ns, func(p string) bool {
		return strings.Contains(p, ".") || strings.Contains(p, "__iceberg_namespace_v1__")
	}) {
		return nil, "", errNotCurrent
	}
	version := metadataVersion(baseLoc)
	if version < 0 {
		return nil, "", errNotCurrent
	}
	wfs, ok := fsys.(icebergio.WriteFileIO)
	if !ok {
		return nil, "", errNotCurrent
	}
	for _, r := range reqs {
		if r.Validate(base) != nil {
			return nil, "", errNotCurrent
		}
	}
	updated, err := table.UpdateTableMetadata(base, updates, baseLoc)
	if err != nil {
		return nil, "", err
	}
	codec := updated.Properties().Get(table.MetadataCompressionKey, table.MetadataCompressionDefault)
	if codec != table.MetadataCompressionCodecNone && codec != table.MetadataCompressionCodecGzip {
		return nil, "", errNotCurrent
	}
	provider, err := table.LoadLocationProvider(updated.Location(), updated.Properties())
	if err != nil {
		return nil, "", err
	}
	loc, err := provider.NewTableMetadataFileLocation(version + 1)
	if err != nil {
		return nil, "", err
	}
	doc, err := c.metadataJSON.encode(updated)
	if err != nil {
		return nil, "", err
	}
	if err := writeMetadata(wfs, loc, codec, doc); err != nil {
		return nil, "", err
	}

	res, err := c.db.ExecContext(ctx, c.casUpdate,
		loc, baseLoc, Name, strings.Join(ns, "."), name, baseLoc)
	if err != nil {
		return nil, "", fmt.Errorf("error updating table information: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, "", fmt.Errorf("error updating table information: %w", err)
	} else if n == 0 {
		// Nothing points at the new file: another commit moved the row
		// (or the table is gone), CommitTable finds out which.
		_ = wfs.Remove(loc)
		return nil, "", errNotCurrent
	}

	return updated, loc, nil
}

// casStatement is the compare-and-set of a commit in dialect's placeholders.
func casStatement(dialect icesql.SupportedDialect) string {
	const q = `UPDATE iceberg_tables SET metadata_location = ?, previous_metadata_location = ?
 WHERE catalog_name = ? AND table_namespace = ? AND table_name = ? AND metadata_location = ?`
	if dialect != icesql.Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}

	return b.String()
}

func writeMetadata(wfs icebergio.WriteFileIO, loc, codec string, doc []byte) (err error) {
	out, err := wfs.Create(loc)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	var w io.Writer = out
	if codec == table.MetadataCompressionCodecGzip {
		gz := gzip.NewWriter(out)
		defer func() {
			if cerr := gz.Close(); err == nil {
				err = cerr
			}
		}()
		w = gz
	}

	_, err = w.Write(doc)
	return err
}

// metadataFileName matches the metadata file names iceberg-go (and Java)
// write: <version>-<uuid>[.<codec>].metadata.json, or the legacy
// v<version>[.gz].metadata.json.
var metadataFileName = regexp.MustCompile(`^(?:(\d+)-[\w-]{36}(?:\.\w+)?|v(\d+)(?:\.gz)?)\.metadata\.json$`)

// metadataVersion is the version in a metadata file's name, -1 when the name
// has none.
func metadataVersion(loc string) int {
	m := metadataFileName.FindStringSubmatch(path.Base(loc))
	if m == nil {
		return -1
	}
	v, err := strconv.Atoi(m[1] + m[2])
	if err != nil {
		return -1
	}

	return v
}

var _ interface {
	icecatalog.Catalog
	CommitTableOn(context.Context, table.Identifier, table.Metadata, string, icebergio.IO, []table.Requirement, []table.Update) (table.Metadata, string, error)
} = (*sqlCatalog)(nil)
