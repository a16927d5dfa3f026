package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/floe-io/floe/catalog"
	"github.com/floe-io/floe/iceberg"
)

// doctorConfig is every setting of `floe doctor`.
type doctorConfig struct {
	Catalog, Warehouse, Table string
	Repair                    bool
	Storage                   storageConfig
}

func (c *doctorConfig) options() []option {
	return append([]option{
		stringOpt("catalog", "catalog URI: sqlite:///path/catalog.db", &c.Catalog),
		stringOpt("warehouse", "warehouse location: file:///path/warehouse", &c.Warehouse),
		stringOpt("table", "table identifier, namespace.name", &c.Table),
		boolOpt("repair", "move files found at their old, percent-decoded path to the location the metadata names", &c.Repair),
	}, c.Storage.options()...)
}

// cmdDoctor checks that every file the table's metadata references is at
// its location taken literally (where Spark and Trino read it) and, with
// --repair, moves the ones old floe versions left at the decoded path.
func cmdDoctor(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	d := defaultConfig()
	cfg := doctorConfig{Catalog: d.Catalog, Warehouse: d.Warehouse, Table: d.Table}
	rest, err := load("floe doctor", cfg.options(), args, getenv, stderr)
	var ue usageError
	if errors.As(err, &ue) {
		return err
	}
	if len(rest) > 0 {
		err = errors.Join(err, fmt.Errorf("unexpected arguments: %v", rest))
	}
	ident, perr := catalog.ParseIdentifier(cfg.Table)
	if perr != nil {
		err = errors.Join(err, fmt.Errorf("--table: %w", perr))
	}
	if err = errors.Join(err, cfg.Storage.validate()); err != nil {
		return usageError{err}
	}
	cat, closeCat, err := cfg.Storage.openCatalog(ctx, getenv, cfg.Catalog, cfg.Warehouse)
	if err != nil {
		return err
	}
	defer closeCat()
	tbl, err := cat.LoadTable(ctx, ident)
	if err != nil {
		return fmt.Errorf("load table %s: %w", cfg.Table, err)
	}
	rep, err := iceberg.CheckLocations(ctx, tbl, cfg.Repair)
	fmt.Fprintf(stdout, "table %s: %d referenced files checked\n", cfg.Table, rep.Files)
	for _, m := range rep.Misplaced {
		fmt.Fprintf(stdout, "misplaced %s: %s\n  is at %s\n", m.Kind, m.Location, m.At)
	}
	for _, m := range rep.Missing {
		fmt.Fprintf(stdout, "missing %s: %s\n", m.Kind, m.Location)
	}
	switch {
	case cfg.Repair:
		fmt.Fprintf(stdout, "misplaced: %d; moved to their location: %d; missing: %d\n", len(rep.Misplaced), rep.Repaired, len(rep.Missing))
	case len(rep.Misplaced) > 0:
		fmt.Fprintf(stdout, "misplaced: %d (run floe doctor --repair to move them); missing: %d\n", len(rep.Misplaced), len(rep.Missing))
	default:
		fmt.Fprintf(stdout, "misplaced: 0; missing: %d\n", len(rep.Missing))
	}
	if err != nil {
		return err
	}
	if n := len(rep.Misplaced) - rep.Repaired + len(rep.Missing); n > 0 {
		return fmt.Errorf("%d referenced files are not at their location", n)
	}
	return nil
}
