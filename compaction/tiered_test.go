package compaction_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/floe-io/floe/compaction"
	"github.com/floe-io/floe/internal/tabletest"
)

// TestTieredWhileAppending: a run after appends plans size-tiered in the
// partitions that got fresh files (they merge, the partition's earlier
// output, much larger, stays) and merges the others whole; a run with
// nothing appended since the previous one merges every partition into one
// file.
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
	// run compacts once; wantFiles(partition) is how many files each
	// partition must hold after it.
	run := func(wantTiered bool, wantFiles func(p string) int) {
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
			if want := wantFiles(p); n != want {
				t.Errorf("partition %s: %d files, want %d", p, n, want)
			}
		}
		if got := tbl.CurrentSnapshot().Summary.Properties["total-records"]; got != strconv.Itoa(rows) {
			t.Fatalf("%s rows, want %d", got, rows)
		}
		t.Logf("tiered=%v: %d files rewritten into %d, %d small files left", rep.Tiered, rep.FilesRewritten, rep.FilesWritten, rep.Plan.SkippedSmallFiles)
	}
	all := func(n int) func(string) int { return func(string) int { return n } }
	commit(10, 1000)
	run(false, all(1)) // the compactor's first run: everything merges
	commit(2, 1)
	run(true, all(2)) // the two fresh files merge; the 10,000-row output stays
	// One commit reaching half of the partitions (15 of 30): those merge
	// their fresh file tiered (it joins the earlier small output, the
	// large one stays); the other half, which got nothing new, merge whole.
	reached := map[string]bool{}
	for p := range 15 {
		cur, mer := partitionOf(f.n*15 + p)
		reached[cur+"/"+mer] = true
	}
	if _, err := f.commit(ctx, 15, 1); err != nil {
		t.Fatal(err)
	}
	rows += 15
	run(true, func(p string) int {
		if reached[p] {
			return 2
		}
		return 1
	})
	run(false, all(1)) // nothing appended since: one file per partition
}
