package compaction_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/floe-io/floe/compaction"
	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/internal/tabletest"
)

func mustCommit(t *testing.T, f *feed, n, parts, rowsPer int) {
	t.Helper()
	for range n {
		if _, err := f.commit(context.Background(), parts, rowsPer); err != nil {
			t.Fatalf("ingest commit %d: %v", f.n, err)
		}
	}
}

func newCompactor(t *testing.T, e *tabletest.Env, opts compaction.Options) *compaction.Compactor {
	t.Helper()
	c, err := compaction.New(e.Open(), ident, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// isSubMultiset reports whether every row of small is in big (both sorted).
func isSubMultiset(small, big []string) bool {
	i := 0
	for _, r := range big {
		if i < len(small) && small[i] == r {
			i++
		}
	}
	return i == len(small)
}

// An append landing while a rewrite is in flight succeeds untouched; the
// rewrite then commits against the new state (its inputs are still live).
func TestRewriteCommitsAfterConcurrentAppend(t *testing.T) {
	ctx := context.Background()
	e := tabletest.NewContractEnv(t, nil)
	f := newFeed(t, e.Writer(nil, ident), "floe", topic, "a")
	mustCommit(t, f, 12, 3, 2)
	before := tabletest.Lines(t, e.Load(ident))

	other := newFeed(t, e.Writer(nil, ident), "floe", topic, "a")
	other.n = f.n
	opts := compaction.Options{SkipExpire: true, SkipOrphans: true, SkipManifests: true}
	var appendErr error
	compaction.SetBeforeCommit(&opts, func(attempt int) {
		if attempt == 1 {
			_, appendErr = other.commit(ctx, 3, 2)
		}
	})
	rep, err := newCompactor(t, e, opts).RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if appendErr != nil {
		t.Fatalf("append during the rewrite failed: %v", appendErr)
	}
	if rep.Conflicts < 1 || rep.RewriteSnapshotID == 0 || rep.GroupsGivenUp != 0 || rep.FilesRewritten == 0 {
		t.Fatalf("want a conflict then a committed rewrite, got %+v", rep)
	}
	after := tabletest.Lines(t, e.Load(ident))
	if len(after) != len(before)+6 || !isSubMultiset(before, after) {
		t.Fatalf("rows: before %d, after %d (want +6, all old rows kept)", len(before), len(after))
	}
	if got := slices.Compact(slices.Clone(after)); len(got) != len(after) {
		t.Fatalf("duplicated rows after the rewrite")
	}
	o, err := e.Writer(nil, ident).Offsets(ctx, "floe")
	if err != nil {
		t.Fatal(err)
	}
	for tp, next := range other.next {
		if o[tp] != next {
			t.Fatalf("offsets %v: want %v (the concurrent append's)", o, other.next)
		}
	}
}

// A rewrite whose input files were rewritten by someone else meanwhile gives
// its groups up instead of duplicating rows.
func TestRewriteGivesUpGroupsWhoseInputsAreGone(t *testing.T) {
	ctx := context.Background()
	e := tabletest.NewContractEnv(t, nil)
	f := newFeed(t, e.Writer(nil, ident), "floe", topic, "a")
	mustCommit(t, f, 30, 2, 1) // 30 partitions, 2 files each
	before := tabletest.Lines(t, e.Load(ident))

	opts := compaction.Options{SkipExpire: true, SkipOrphans: true, SkipManifests: true}
	rival := newCompactor(t, e, opts)
	var rivalRep compaction.Report
	var rivalErr error
	compaction.SetBeforeCommit(&opts, func(attempt int) {
		if attempt == 1 {
			rivalRep, rivalErr = rival.RunOnce(ctx)
		}
	})
	rep, err := newCompactor(t, e, opts).RunOnce(ctx)
	if err != nil || rivalErr != nil {
		t.Fatal(err, rivalErr)
	}
	if rivalRep.RewriteSnapshotID == 0 {
		t.Fatalf("rival did not rewrite: %+v", rivalRep)
	}
	if rep.RewriteSnapshotID != 0 || rep.GroupsGivenUp != len(rep.Plan.Groups) || rep.GroupsGivenUp == 0 {
		t.Fatalf("want every group given up, got %+v", rep)
	}
	if after := tabletest.Lines(t, e.Load(ident)); checksum(after) != checksum(before) {
		t.Fatalf("rows changed: %d before, %d after", len(before), len(after))
	}
}

// A Writer whose commit meets compaction commits between its attempts is not
// fenced: the compaction snapshots carry the offsets forward unchanged.
func TestWriterNotFencedByCompactionCommits(t *testing.T) {
	ctx := context.Background()
	e := tabletest.NewContractEnv(t, nil)
	comp := newCompactor(t, e, compaction.Options{SkipExpire: true, SkipOrphans: true, SkipManifests: true})
	sleeps := 0
	var hookErr error
	w := e.Writer(nil, ident, iceberg.WithSleep(func(ctx context.Context, _ time.Duration) error {
		sleeps++
		if sleeps == 1 { // between attempt 1 and 2: another compaction lands
			var rep compaction.Report
			rep, hookErr = comp.RunOnce(ctx)
			if hookErr == nil && rep.RewriteSnapshotID == 0 {
				hookErr = errNoRewrite
			}
		}
		return ctx.Err()
	}))
	f := newFeed(t, w, "floe", topic, "a")
	mustCommit(t, f, 6, 2, 2)
	g := newFeed(t, e.Writer(nil, ident), "g2", "other.topic", "b")
	mustCommit(t, g, 4, 2, 2)

	// Compaction lands while w's cached table is stale.
	if rep, err := comp.RunOnce(ctx); err != nil || rep.RewriteSnapshotID == 0 {
		t.Fatalf("first compaction: %v %+v", err, rep)
	}
	mustCommit(t, g, 4, 2, 2) // new small files for the second compaction

	res, err := f.commit(ctx, 2, 2)
	if err != nil {
		t.Fatalf("ingest commit after compactions: %v", err)
	}
	if hookErr != nil {
		t.Fatal(hookErr)
	}
	if res.Attempts != 3 {
		t.Fatalf("attempts %d: want 3 (stale, compaction between, success)", res.Attempts)
	}
	o, err := e.Writer(nil, ident).Offsets(ctx, "floe")
	if err != nil {
		t.Fatal(err)
	}
	if len(o) != len(f.next) {
		t.Fatalf("offsets %v, want %v", o, f.next)
	}
	for tp, n := range f.next {
		if o[tp] != n {
			t.Fatalf("offsets %v, want %v", o, f.next)
		}
	}
}

type sentinel string

func (s sentinel) Error() string { return string(s) }

const errNoRewrite = sentinel("compaction between attempts committed nothing")
