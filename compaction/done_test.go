package compaction_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/compaction"
	"github.com/floe-io/floe/internal/tabletest"
)

// TestCompactionWhileIngesting is issue 5's "done means": at least 300 small
// appends over 30 partitions, compaction while a pipeline keeps appending,
// then expiry and orphan cleanup.
func TestCompactionWhileIngesting(t *testing.T) {
	commits := 300
	if testing.Short() {
		commits = 90
	}
	ctx := context.Background()
	e := tabletest.NewContractEnv(t, nil)
	f := newFeed(t, e.Writer(nil, ident), "floe", topic, "a")
	t0 := time.Now()
	mustCommit(t, f, commits, 4, 2) // 4 files per commit, 30 partitions
	t.Logf("%d commits in %s", commits, time.Since(t0))

	tbl := e.Load(ident)
	preSnap := tbl.CurrentSnapshot().SnapshotID
	before := tabletest.Lines(t, tbl)
	filesBefore := filesPerPartition(t, tbl)
	if len(filesBefore) != 30 {
		t.Fatalf("partitions: %d, want 30", len(filesBefore))
	}

	// A pipeline keeps appending (its own catalog connection) while the
	// compactor runs.
	app := newFeed(t, e.Writer(nil, ident), "floe", topic, "c")
	app.n = f.n
	var (
		stop      atomic.Bool
		appended  atomic.Int64
		appendErr error
		wg        sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			if _, err := app.commit(ctx, 2, 2); err != nil {
				appendErr = err
				return
			}
			appended.Add(1)
			time.Sleep(time.Second) // floe's default trigger
		}
	}()
	comp := newCompactor(t, e, compaction.Options{})
	startAppended := appended.Load()
	rep, err := comp.RunOnce(ctx)
	duringRun := appended.Load() - startAppended
	for appended.Load() < startAppended+2 && appendErr == nil { // and a few more after
		time.Sleep(5 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	if appendErr != nil {
		t.Fatalf("ingest failed while compacting: %v", appendErr)
	}
	if err != nil {
		t.Fatalf("compaction: %v", err)
	}
	if rep.RewriteSnapshotID == 0 || duringRun == 0 {
		t.Fatalf("want a rewrite committed while appends landed (%d during the run): %+v", duringRun, rep)
	}
	t.Logf("run 1 (%d appends during it): %s; rewrote %d files into %d, %d conflicts, %d groups given up, %s",
		duringRun, rep.Plan, rep.FilesRewritten, rep.FilesWritten, rep.Conflicts, rep.GroupsGivenUp, rep.Duration)

	// Compact what landed meanwhile too, then check.
	rep2, err := comp.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tbl = e.Load(ident)
	after := tabletest.Lines(t, tbl)
	filesAfter := filesPerPartition(t, tbl)
	for p, n := range filesBefore {
		if filesAfter[p]*10 > n {
			t.Errorf("partition %s: %d files before, %d after: want at least 10x fewer", p, n, filesAfter[p])
		}
	}
	t.Logf("run 2: %s; files per partition before %v, after %v", rep2.Plan, filesBefore, filesAfter)

	// Rows: the old ones unchanged (checksum over every column), the
	// concurrent ones all there once.
	var old, added []string
	for _, r := range after {
		if strings.HasPrefix(r, "transaction_id=c-") {
			added = append(added, r)
		} else {
			old = append(old, r)
		}
	}
	if checksum(old) != checksum(before) || len(old) != len(before) {
		t.Fatalf("rows present before compaction changed: %d before, %d after", len(before), len(old))
	}
	if want := int(appended.Load()) * 4; len(added) != want {
		t.Fatalf("concurrent rows: %d, want %d", len(added), want)
	}
	for i := 1; i < len(after); i++ {
		if after[i] == after[i-1] {
			t.Fatalf("duplicate row after compaction")
		}
	}

	// The pre-compaction snapshot stays readable until it is expired.
	if got := tabletest.Lines(t, tbl, table.WithSnapshotID(preSnap)); checksum(got) != checksum(before) {
		t.Fatalf("snapshot %d read %d rows after compaction, want %d", preSnap, len(got), len(before))
	}
	offsetsBefore, err := e.Writer(nil, ident).Offsets(ctx, "floe")
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Now()
	exp := newCompactor(t, e, compaction.Options{SkipRewrite: true, SkipManifests: true,
		ExpireKeepLast: 2, ExpireOlderThan: time.Nanosecond, OrphanOlderThan: time.Hour,
		Now: func() time.Time { return clock }})
	agePastWindow(t, tbl.Location()) // every file existing now is 2 hours old
	planted := filepath.Join(strings.TrimPrefix(tbl.Location(), "file://"), "data", "planted-orphan.parquet")
	if err := os.WriteFile(planted, []byte("not referenced"), 0o644); err != nil {
		t.Fatal(err)
	}
	old2h := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(planted, old2h, old2h); err != nil {
		t.Fatal(err)
	}
	rep3, err := exp.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tbl = e.Load(ident)
	if tbl.SnapshotByID(preSnap) != nil || rep3.SnapshotsExpired == 0 {
		t.Fatalf("snapshot %d not expired: %+v", preSnap, rep3)
	}
	if _, err := os.Stat(planted); !os.IsNotExist(err) {
		t.Fatalf("planted orphan still there (err %v); orphans %d", err, len(rep3.Orphans))
	}
	// Nothing referenced was removed: the table reads the same rows and the
	// group resumes from the same offsets.
	if got := tabletest.Lines(t, tbl); checksum(got) != checksum(after) {
		t.Fatalf("rows changed by expiry and orphan cleanup")
	}
	assertReferencedExist(t, tbl)
	offsetsAfter, err := e.Writer(nil, ident).Offsets(ctx, "floe")
	if err != nil {
		t.Fatal(err)
	}
	if len(offsetsAfter) != len(offsetsBefore) {
		t.Fatalf("offsets after expiry %v, before %v", offsetsAfter, offsetsBefore)
	}
	for tp, n := range offsetsBefore {
		if offsetsAfter[tp] != n {
			t.Fatalf("offsets after expiry %v, before %v", offsetsAfter, offsetsBefore)
		}
	}
	// Orphan removal runs in the first run and then once per OrphansEvery
	// (default 1h): an orphan planted now stays through a run a minute
	// later and goes in the run an hour after the first.
	if !rep3.OrphansSwept {
		t.Fatal("the compactor's first run did not look for orphans")
	}
	planted2 := planted + ".2"
	if err := os.WriteFile(planted2, []byte("not referenced"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(planted2, old2h, old2h); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		after time.Duration
		swept bool
	}{{time.Minute, false}, {compaction.DefaultOrphansEvery, true}} {
		clock = clock.Add(step.after)
		rep, err := exp.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, statErr := os.Stat(planted2)
		if rep.OrphansSwept != step.swept || os.IsNotExist(statErr) != step.swept {
			t.Fatalf("run %s later: swept %v (want %v), planted orphan removed %v", step.after, rep.OrphansSwept, step.swept, os.IsNotExist(statErr))
		}
	}
	st := comp.Stats()
	if st.Runs != 2 || st.FilesRewritten == 0 || st.BytesRewritten == 0 {
		t.Fatalf("stats %+v", st)
	}
	t.Logf("expiry and orphans: %d snapshots expired, %d orphans removed (checkpoint %v); stats %+v",
		rep3.SnapshotsExpired, rep3.OrphansRemoved, rep3.Checkpointed, st)
}

func agePastWindow(t *testing.T, location string) {
	t.Helper()
	old := time.Now().Add(-2 * time.Hour)
	err := filepath.WalkDir(strings.TrimPrefix(location, "file://"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		return os.Chtimes(p, old, old)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// assertReferencedExist checks the current metadata, manifest list,
// manifests and data files of every snapshot are still on disk.
func assertReferencedExist(t *testing.T, tbl *table.Table) {
	t.Helper()
	check := func(p string) {
		if _, err := os.Stat(strings.TrimPrefix(p, "file://")); err != nil {
			t.Fatalf("referenced file removed: %v", err)
		}
	}
	check(tbl.MetadataLocation())
	fsys, err := tbl.FS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range tbl.Metadata().Snapshots() {
		check(s.ManifestList)
		ms, err := s.Manifests(fsys)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			check(m.FilePath())
		}
		tasks, err := tbl.Scan(table.WithSnapshotID(s.SnapshotID)).PlanFiles(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			check(task.File.FilePath())
		}
	}
}
