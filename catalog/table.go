package catalog

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	iceberggo "github.com/apache/iceberg-go"
	icecatalog "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
)

// Metadata housekeeping set on the tables floe creates.
//
// A commit writes a new metadata.json; with write.metadata.* set,
// iceberg-go's commit (table.Transaction.Commit) deletes the metadata files
// that drop out of the metadata log, keeping the current one and the last
// DefaultPreviousVersionsMax before it.
//
// Every retained snapshot makes each metadata.json ~0.9 KB larger and each
// commit ~0.1 ms of CPU slower (BENCHMARKS.md, "Snapshot retention"): at one commit per
// second an hour of snapshots is 3.6k of them, ~3 MB written per commit. So
// the snapshot retention floe's compactor (and any engine's expire
// procedure) applies by default is 10 minutes, at least 100 snapshots.
const (
	DefaultPreviousVersionsMax = 20
	DefaultMaxSnapshotAge      = 10 * time.Minute
	DefaultMinSnapshotsToKeep  = 100
)

// DefaultTableProperties are set on every table EnsureTable creates; the
// caller's properties override them.
func DefaultTableProperties() iceberggo.Properties {
	return iceberggo.Properties{
		table.PropertyFormatVersion:               "2",
		"write.parquet.compression-codec":         "zstd",
		"write.parquet.compression-level":         "1",
		table.MetadataDeleteAfterCommitEnabledKey: "true",
		table.MetadataPreviousVersionsMaxKey:      strconv.Itoa(DefaultPreviousVersionsMax),
		table.MaxSnapshotAgeMsKey:                 strconv.FormatInt(DefaultMaxSnapshotAge.Milliseconds(), 10),
		table.MinSnapshotsToKeepKey:               strconv.Itoa(DefaultMinSnapshotsToKeep),
	}
}

// ErrNoTable: the table does not exist and EnsureTable was told not to
// create it (WithoutCreate).
var ErrNoTable = errors.New("table does not exist")

// EnsureOption changes what EnsureTable does.
type EnsureOption func(*ensureConfig)

type ensureConfig struct{ noCreate bool }

// WithCreate(false) makes EnsureTable refuse a missing table (ErrNoTable)
// instead of creating it; WithCreate(true) is the default.
func WithCreate(create bool) EnsureOption {
	return func(c *ensureConfig) { c.noCreate = !create }
}

// ParseIdentifier splits a dotted table name such as "payments.transactions"
// into namespace and table name. Every part must be non-empty and there must
// be at least a namespace and a table.
func ParseIdentifier(s string) (table.Identifier, error) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) < 2 {
		return nil, fmt.Errorf("table identifier %q: want <namespace>.<table>", s)
	}
	for _, p := range parts {
		if strings.TrimSpace(p) == "" {
			return nil, fmt.Errorf("table identifier %q: empty part", s)
		}
	}

	return table.Identifier(parts), nil
}

// EnsureTable loads the table ident, creating its namespace and the table
// (format version 2, zstd Parquet, plus props) when missing. A concurrent
// creation by another process is not an error: the winner's table is loaded.
//
// An existing table is returned as is: its schema and spec are not compared
// with sc and spec (schema changes go through iceberg.Writer.Evolve), and
// props do not apply to it.
func EnsureTable(ctx context.Context, cat icecatalog.Catalog, ident table.Identifier,
	sc *iceberggo.Schema, spec iceberggo.PartitionSpec, props iceberggo.Properties, opts ...EnsureOption,
) (*table.Table, error) {
	var cfg ensureConfig
	for _, o := range opts {
		o(&cfg)
	}
	if len(ident) < 2 {
		return nil, fmt.Errorf("ensure table %v: identifier needs a namespace and a name", ident)
	}
	if sc == nil {
		return nil, fmt.Errorf("ensure table %s: nil schema", joinIdent(ident))
	}

	tbl, err := cat.LoadTable(ctx, ident)
	if err == nil {
		return tbl, nil
	}
	if !errors.Is(err, icecatalog.ErrNoSuchTable) && !errors.Is(err, icecatalog.ErrNoSuchNamespace) {
		return nil, fmt.Errorf("load table %s: %w", joinIdent(ident), err)
	}
	if cfg.noCreate {
		return nil, fmt.Errorf("%w: %s is not in the catalog, and creating tables is off: create it, or turn --auto-create on", ErrNoTable, joinIdent(ident))
	}

	if err := ensureNamespace(ctx, cat, icecatalog.NamespaceFromIdent(ident)); err != nil {
		return nil, err
	}

	p := DefaultTableProperties()
	maps.Copy(p, props)

	tbl, err = cat.CreateTable(ctx, ident, sc,
		icecatalog.WithPartitionSpec(&spec),
		icecatalog.WithProperties(p))
	if err == nil {
		return tbl, nil
	}
	if !errors.Is(err, icecatalog.ErrTableAlreadyExists) {
		return nil, fmt.Errorf("create table %s: %w", joinIdent(ident), err)
	}

	// Another process created it between our load and create.
	tbl, err = cat.LoadTable(ctx, ident)
	if err != nil {
		return nil, fmt.Errorf("load table %s after concurrent create: %w", joinIdent(ident), err)
	}

	return tbl, nil
}

func ensureNamespace(ctx context.Context, cat icecatalog.Catalog, ns table.Identifier) error {
	ok, err := cat.CheckNamespaceExists(ctx, ns)
	if err != nil {
		return fmt.Errorf("check namespace %s: %w", joinIdent(ns), err)
	}
	if ok {
		return nil
	}
	err = cat.CreateNamespace(ctx, ns, nil)
	if err != nil && !errors.Is(err, icecatalog.ErrNamespaceAlreadyExists) {
		return fmt.Errorf("create namespace %s: %w", joinIdent(ns), err)
	}

	return nil
}

func joinIdent(ident table.Identifier) string { return strings.Join(ident, ".") }
