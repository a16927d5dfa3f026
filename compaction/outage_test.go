package compaction_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floe-io/floe/compaction"
	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/internal/tabletest"
	"github.com/floe-io/floe/internal/testserver"
	"github.com/floe-io/floe/schema"
)

// TestCatalogOutageDuringReplaceCommit stops the PostgreSQL catalog just
// as floe's own replace snapshot is about to be sent: the run fails
// naming the commit, the table is unchanged, and once the catalog is back
// the next run compacts it to one file per partition with every row
// intact. The table holds files of both layouts floe run writes (the auto
// layout: commits over 10 partitions in the coarse spec), so the replace
// moves coarse files into the default spec too.
func TestCatalogOutageDuringReplaceCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	pg := testserver.StartPostgres(t)
	ctx := context.Background()
	e := tabletest.NewEnv(t)
	e.URI = pg.NewDatabase(t)
	sc := schema.TableSchema()
	e.CreateTable(ident, sc, schema.PartitionSpec(sc), nil)
	if _, err := iceberg.EnsureCoarseSpec(ctx, e.Open(), ident); err != nil {
		t.Fatal(err)
	}
	f := newFeed(t, e.Writer(nil, ident, iceberg.WithAutoLayout(0, 10)), "floe", topic, "o")
	for i := range 6 {
		parts, rowsPer := 30, 5 // coarse
		if i%2 == 1 {
			parts, rowsPer = 6, 25 // partitioned
		}
		if _, err := f.commit(ctx, parts, rowsPer); err != nil {
			t.Fatal(err)
		}
	}
	if n := coarseFiles(t, e.Load(ident)); n == 0 {
		t.Fatal("no coarse files written: the test would not cover moving them")
	}
	before := tabletest.Lines(t, e.Load(ident))

	var stopped atomic.Bool
	comp := newCompactor(t, e, compaction.Options{SkipExpire: true, SkipOrphans: true, SkipManifests: true,
		OnStage: func(stage, _ string) {
			if stage == "rewrite-commit" && !stopped.Swap(true) {
				pg.Stop(t)
			}
		}})
	rep, err := comp.RunOnce(ctx)
	if err == nil || !stopped.Load() {
		t.Fatalf("the run with the catalog stopped at its commit: err %v (stopped %v), report %+v", err, stopped.Load(), rep)
	}
	t.Logf("run during the outage: %v", err)
	pg.Start(t)
	up := time.Now()

	rep, err = comp.RunOnce(ctx)
	if err != nil {
		t.Fatalf("the run after the catalog came back: %v", err)
	}
	t.Logf("after the catalog came back: %d files rewritten into %d in %v", rep.FilesRewritten, rep.FilesWritten, time.Since(up).Round(time.Millisecond))
	tbl := e.Load(ident)
	if n := coarseFiles(t, tbl); n != 0 {
		t.Errorf("%d coarse files left after the run", n)
	}
	for p, n := range filesPerPartition(t, tbl) {
		if n != 1 {
			t.Errorf("partition %s: %d files, want 1", p, n)
		}
	}
	after := tabletest.Lines(t, tbl)
	if len(after) != len(before) || checksum(after) != checksum(before) {
		t.Fatalf("rows changed: %d before, %d after", len(before), len(after))
	}
	if got := tbl.CurrentSnapshot().Summary.Properties["total-records"]; got != strconv.Itoa(len(before)) {
		t.Fatalf("total-records %s, want %d", got, len(before))
	}
}
