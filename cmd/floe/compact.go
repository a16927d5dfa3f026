package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/floe-io/floe/catalog"
	"github.com/floe-io/floe/compaction"
)

// compactConfig is every setting of `floe compact`.
type compactConfig struct {
	Catalog, Warehouse, Table string
	TargetFileSize            int64
	DryRun                    bool
	ExpireKeepLast            int64
	ExpireOlderThan           time.Duration
	OrphanOlderThan           time.Duration
	CPUProfile                string
	// Storage: S3 and remote catalog settings, as in floe run.
	Storage storageConfig
}

func defaultCompactConfig() compactConfig {
	d := defaultConfig()
	return compactConfig{
		Catalog: d.Catalog, Warehouse: d.Warehouse, Table: d.Table,
		TargetFileSize: compaction.DefaultTargetFileSize,
		// Expiry and orphan settings stay 0: the table's history.expire.*
		// properties apply, else the compactor's defaults.
	}
}

func (c *compactConfig) options() []option {
	return append([]option{
		stringOpt("catalog", "catalog URI: sqlite:///path/catalog.db", &c.Catalog),
		stringOpt("warehouse", "warehouse location: file:///path/warehouse", &c.Warehouse),
		stringOpt("table", "table identifier, namespace.name", &c.Table),
		sizeOpt("target-file-size", "size compacted data files aim at", &c.TargetFileSize),
		boolOpt("dry-run", "print the plan and change nothing", &c.DryRun),
		intOpt("expire-keep-last", fmt.Sprintf("snapshots always kept (0: the table's history.expire.min-snapshots-to-keep, else %d)", compaction.DefaultExpireKeepLast), &c.ExpireKeepLast),
		durationOpt("expire-older-than", fmt.Sprintf("older snapshots beyond the last --expire-keep-last are expired (0: the table's history.expire.max-snapshot-age-ms, else %s)", compaction.DefaultExpireOlderThan), &c.ExpireOlderThan),
		durationOpt("orphan-older-than", fmt.Sprintf("unreferenced files younger than this are never deleted (0: %s; at least %s)", compaction.DefaultOrphanOlderThan, compaction.MinOrphanOlderThan), &c.OrphanOlderThan),
		stringOpt("cpuprofile", "write a CPU profile of the pass to this file", &c.CPUProfile),
	}, c.Storage.options()...)
}

// cmdCompact runs one compaction and maintenance pass over a table and
// prints what it planned and did.
func cmdCompact(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg := defaultCompactConfig()
	rest, err := load("floe compact", cfg.options(), args, getenv, stderr)
	var ue usageError
	if errors.As(err, &ue) {
		return err
	}
	if len(rest) > 0 {
		err = errors.Join(err, fmt.Errorf("unexpected arguments: %v", rest))
	}
	dry := cfg.DryRun
	ident, perr := catalog.ParseIdentifier(cfg.Table)
	if perr != nil {
		err = errors.Join(err, fmt.Errorf("--table: %w", perr))
	}
	opts := compaction.Options{
		TargetFileSize: cfg.TargetFileSize, ExpireKeepLast: int(cfg.ExpireKeepLast),
		ExpireOlderThan: cfg.ExpireOlderThan, OrphanOlderThan: cfg.OrphanOlderThan, DryRun: dry,
	}
	err = errors.Join(err, opts.Validate(), cfg.Storage.validate())
	if err != nil {
		return usageError{err}
	}
	if cfg.CPUProfile != "" {
		stop, err := startCPUProfile(cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer stop(newLogger(stderr, "info", "text"))
	}
	cat, closeCat, err := cfg.Storage.openCatalog(ctx, getenv, cfg.Catalog, cfg.Warehouse)
	if err != nil {
		return err
	}
	defer closeCat()
	comp, err := compaction.New(cat, ident, opts)
	if err != nil {
		return usageError{err}
	}
	rep, err := comp.RunOnce(ctx)
	printReport(stdout, cfg.Table, rep)
	return err
}

func printReport(w io.Writer, tbl string, r compaction.Report) {
	verb := "did"
	if r.DryRun {
		verb = "would do (dry run)"
	}
	fmt.Fprintf(w, "table %s: %s\n", tbl, verb)
	fmt.Fprintf(w, "rewrite plan: %d partitions, %s\n", r.Plan.Partitions, r.Plan)
	for _, g := range r.Groups {
		fmt.Fprintf(w, "  %-40s %4d files %10d bytes -> %3d files %10d bytes  %s\n",
			g.Partition, g.FilesIn, g.BytesIn, g.FilesOut, g.BytesOut, g.Status)
	}
	if !r.DryRun {
		fmt.Fprintf(w, "rewrote %d files (%d bytes) into %d files (%d bytes); snapshot %d; %d conflicts, %d groups given up\n",
			r.FilesRewritten, r.BytesRewritten, r.FilesWritten, r.BytesWritten, r.RewriteSnapshotID, r.Conflicts, r.GroupsGivenUp)
		fmt.Fprintf(w, "%d replace commits; %d groups left for the next run, %d skipped; %d manifests read to plan\n",
			r.Commits, r.GroupsDeferred, r.GroupsSkipped, r.ManifestsRead)
	}
	fmt.Fprintf(w, "manifests: %d before, %d after\n", r.ManifestsBefore, r.ManifestsAfter)
	fmt.Fprintf(w, "snapshots to expire: %d; expired: %d (offsets checkpoint: %v)\n", r.SnapshotsToExpire, r.SnapshotsExpired, r.Checkpointed)
	fmt.Fprintf(w, "orphan files: %d (%d bytes); removed: %d\n", len(r.Orphans), r.OrphanBytes, r.OrphansRemoved)
	for _, o := range r.Orphans {
		fmt.Fprintf(w, "  %s\n", o)
	}
	fmt.Fprintf(w, "took %s\n", r.Duration.Round(time.Millisecond))
}
