package compaction_test

import (
	"context"
	"testing"

	"github.com/floe-io/floe/compaction"
	"github.com/floe-io/floe/internal/tabletest"
)

// Bound keeps the groups that remove most files, within the limits, and
// always at least one group.
func TestBoundOrdersByWorthAndStopsAtTheLimits(t *testing.T) {
	g := func(part string, files int, bytes int64) compaction.Group {
		gr := compaction.Group{Partition: part, InputBytes: bytes, EstOutputFiles: 1}
		for range files {
			gr.Files = append(gr.Files, compaction.FileInfo{Partition: part, SizeBytes: bytes / int64(files)})
		}
		return gr
	}
	p := compaction.Plan{Groups: []compaction.Group{g("a", 2, 20), g("b", 9, 90), g("c", 5, 50), g("d", 5, 500)}}
	got, deferred := compaction.Bound(p, 15, 1<<20)
	if len(got.Groups) != 2 || got.Groups[0].Partition != "b" || got.Groups[1].Partition != "d" || deferred != 2 {
		t.Fatalf("want b, d kept and 2 deferred; got %v deferred %d", parts(got), deferred)
	}
	if got.InputFiles != 14 || got.InputBytes != 590 || got.EstOutputFiles != 2 {
		t.Fatalf("totals: %+v", got)
	}
	// A bound below the first group still keeps that group.
	got, deferred = compaction.Bound(p, 2, 1)
	if len(got.Groups) != 1 || got.Groups[0].Partition != "b" || deferred != 3 {
		t.Fatalf("want only b; got %v deferred %d", parts(got), deferred)
	}
}

func parts(p compaction.Plan) []string {
	var out []string
	for _, g := range p.Groups {
		out = append(out, g.Partition)
	}
	return out
}

// A run rewrites at most MaxRunFiles input files, commits a replace
// snapshot per CommitEveryFiles input files, reads only the manifests that
// are new since its previous run, and keeps every row.
func TestRunBoundAndBatchedCommits(t *testing.T) {
	ctx := context.Background()
	e := tabletest.NewContractEnv(t, nil)
	f := newFeed(t, e.Writer(nil, ident), "floe", topic, "a")
	mustCommit(t, f, 8, 30, 1) // 30 partitions, 8 files each: 240 files
	before := tabletest.Lines(t, e.Load(ident))

	opts := compaction.Options{SkipExpire: true, SkipOrphans: true, SkipManifests: true,
		MaxRunFiles: 100, CommitEveryFiles: 30}
	comp := newCompactor(t, e, opts)
	rep, err := comp.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// 12 groups of 8 files fit in 100; each commit takes 4 groups (32 >= 30).
	if rep.FilesRewritten != 96 || rep.FilesWritten != 12 || rep.GroupsDeferred != 18 || rep.Commits != 3 {
		t.Fatalf("want 96 files rewritten into 12 in 3 commits, 18 groups deferred; got %d -> %d in %d commits, %d deferred",
			rep.FilesRewritten, rep.FilesWritten, rep.Commits, rep.GroupsDeferred)
	}
	if rep.ManifestsRead != 8 {
		t.Fatalf("first run read %d manifests, want 8", rep.ManifestsRead)
	}
	if after := tabletest.Lines(t, e.Load(ident)); checksum(after) != checksum(before) {
		t.Fatalf("rows changed: %d before, %d after", len(before), len(after))
	}

	mustCommit(t, f, 1, 30, 1) // one more manifest
	rep, err = comp.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ManifestsRead == 0 {
		t.Fatalf("second run read no manifest, though the ingest added one")
	}
	if rep.FilesRewritten == 0 || rep.FilesRewritten > 100 {
		t.Fatalf("second run rewrote %d files", rep.FilesRewritten)
	}
	for {
		rep, err = comp.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.FilesRewritten == 0 {
			break
		}
	}
	// Nothing changed since the last run: nothing to read.
	if rep, err = comp.RunOnce(ctx); err != nil || rep.ManifestsRead != 0 {
		t.Fatalf("a run on an unchanged table read %d manifests (%v)", rep.ManifestsRead, err)
	}
	for p, n := range filesPerPartition(t, e.Load(ident)) {
		if n != 1 {
			t.Errorf("partition %s: %d files after the backlog was worked off", p, n)
		}
	}
	if after := tabletest.Lines(t, e.Load(ident)); len(after) != len(before)+30 || !isSubMultiset(before, after) {
		t.Fatalf("rows: %d before, %d after (want +30)", len(before), len(after))
	}
}

// With a memory limit below a partition's rows, the rewrite writes several
// files for it instead of holding them all.
func TestMemoryLimitSplitsOutputs(t *testing.T) {
	ctx := context.Background()
	e := tabletest.NewContractEnv(t, nil)
	f := newFeed(t, e.Writer(nil, ident), "floe", topic, "a")
	mustCommit(t, f, 6, 30, 1000) // 30 partitions, 6 files of 1,000 rows each
	before := tabletest.Lines(t, e.Load(ident))
	opts := compaction.Options{SkipExpire: true, SkipOrphans: true, SkipManifests: true, MemoryLimit: 1 << 20}
	rep, err := newCompactor(t, e, opts).RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.FilesRewritten != 180 || rep.FilesWritten < 60 || rep.FilesWritten >= 180 {
		t.Fatalf("want 180 files rewritten into 2-5 per partition; got %d -> %d", rep.FilesRewritten, rep.FilesWritten)
	}
	if after := tabletest.Lines(t, e.Load(ident)); checksum(after) != checksum(before) {
		t.Fatalf("rows changed")
	}
}
