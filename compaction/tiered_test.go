package compaction_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/floe-io/floe/compaction"
	"github.com/floe-io/floe/internal/tabletest"
)

// TestTieredWhileAppending: a run after appends plans size-tiered (the
// fresh files of each partition merge, the partition's earlier output,
// much larger, stays); a run with nothing appended since the previous one
// merges every partition into one file.
func TestTieredWhileAppending(t *testing.T) {
	ctx := context.Background()
	e := tabletest.NewContractEnv(t, nil)
	w := e.Writer(nil, ident)
	f := newFeed(t, w, "floe", topic, "t")
	const parts = 30
	rows := 0
	commit := func(n, rowsPer int) {
		t.Helper()
		for range n {
			if _, err := f.commit(ctx, parts, rowsPer); err != nil {
				t.Fatal(err)
			}
			rows += parts * rowsPer
		}
	}
	comp := newCompactor(t, e, compaction.Options{SkipExpire: true, SkipOrphans: true, SkipManifests: true})
	run := func(wantTiered bool, wantFiles int) {
		t.Helper()
		rep, err := comp.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Tiered != wantTiered {
			t.Errorf("run planned tiered=%v, want %v", rep.Tiered, wantTiered)
		}
		tbl := e.Load(ident)
		for p, n := range filesPerPartition(t, tbl) {
			if n != wantFiles {
				t.Errorf("partition %s: %d files, want %d", p, n, wantFiles)
			}
		}
		if got := tbl.CurrentSnapshot().Summary.Properties["total-records"]; got != strconv.Itoa(rows) {
			t.Fatalf("%s rows, want %d", got, rows)
		}
		t.Logf("tiered=%v: %d files rewritten into %d, %d small files left", rep.Tiered, rep.FilesRewritten, rep.FilesWritten, rep.Plan.SkippedSmallFiles)
	}
	commit(10, 1000)
	run(false, 1) // the compactor's first run: everything merges
	commit(2, 1)
	run(true, 2)  // the two fresh files merge; the 10,000-row output stays
	run(false, 1) // nothing appended since: one file per partition
}
