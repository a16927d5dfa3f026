package iceberg_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/internal/tabletest"
)

// stage stages rs for group on w (From/To from the rows, as batch does).
func stage(t *testing.T, w *iceberg.Writer, b iceberg.Batch) iceberg.Staged {
	t.Helper()
	s, err := w.Stage(t.Context(), b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func snapshots(w *iceberg.Writer) int { return len(w.Table().Metadata().Snapshots()) }

// Two workers' batches land in one snapshot committed by a third process
// (the coordinator), with the merged offsets; every batch is found by its
// own commit id afterwards.
func TestCommitStagedOneSnapshotForTwoWorkers(t *testing.T) {
	mem := checkedMem(t)
	e := tabletest.NewContractEnv(t, nil)
	ctx := t.Context()
	w1, w2, coord := e.Writer(nil, ident), e.Writer(nil, ident), e.Writer(nil, ident)

	b1 := batch(t, mem, w1, "g", rows(0, 0, 40, currencies, merchants))
	b1.From = nil // nothing recorded yet
	b1.MaxEventTime = iceberg.Offsets{tp(0): 1000}
	b1.Assigned = []iceberg.TopicPartition{tp(0)}
	b2 := batch(t, mem, w2, "g", rows(1, 0, 25, currencies, merchants))
	b2.From = nil
	b2.MaxEventTime = iceberg.Offsets{tp(1): 2000}
	b2.Assigned = []iceberg.TopicPartition{tp(1)}
	s1, s2 := stage(t, w1, b1), stage(t, w2, b2)
	if s1.Manifest == "" || s1.Files == 0 || s1.Rows != 40 {
		t.Fatalf("staged %+v", s1)
	}
	before := snapshots(coord)

	res, err := coord.CommitStaged(ctx, []iceberg.Staged{s1, s2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 2 || res.SnapshotID == 0 || res.Attempts != 1 {
		t.Fatalf("result %+v", res)
	}
	for _, o := range res.Outcomes {
		if o.Status != iceberg.StagedCommitted || o.SnapshotID != res.SnapshotID {
			t.Fatalf("outcome %+v, want committed in %d", o, res.SnapshotID)
		}
	}
	if got := snapshots(coord) - before; got != 1 {
		t.Fatalf("%d snapshots added, want 1", got)
	}
	snap := coord.Table().CurrentSnapshot()
	if got, want := snap.Summary.Properties[iceberg.OffsetsKey("g")], `{"payments.transactions":{"0":40,"1":25}}`; got != want {
		t.Errorf("summary offsets %s, want %s", got, want)
	}
	if got := snap.Summary.Properties[iceberg.ValidThroughKey("g")]; got != "1000" {
		t.Errorf("valid-through %q, want 1000 (the smaller partition maximum)", got)
	}
	ids := strings.Split(snap.Summary.Properties[iceberg.CommitIDsKey], ",")
	if !slices.Equal(ids, []string{s1.CommitID, s2.CommitID}) {
		t.Errorf("commit ids %v", ids)
	}
	// Every reader of the offsets sees both partitions.
	if off, err := w1.Offsets(ctx, "g"); err != nil || off[tp(0)] != 40 || off[tp(1)] != 25 {
		t.Fatalf("offsets %v, %v", off, err)
	}
	if n := len(tabletest.Rows(t, coord.Table())); n != 65 {
		t.Fatalf("%d rows, want 65", n)
	}

	// The unknown-outcome lookup finds a batch inside the list: a worker
	// that lost its answer, and the Committer resuming a request by id.
	for _, s := range []iceberg.Staged{s1, s2} {
		where, err := w2.Where(ctx, s)
		if err != nil || where.Status != iceberg.StagedCommitted || where.SnapshotID != res.SnapshotID {
			t.Fatalf("Where(%s) = %+v, %v", s.CommitID, where, err)
		}
		cres, err := w1.Committer().Commit(ctx, iceberg.CommitRequest{
			IDKey: iceberg.CommitIDKey, ID: s.CommitID, Resume: true,
			Stage: func(context.Context, *table.Table, *table.Transaction) error {
				t.Error("a committed batch was staged again")
				return iceberg.ErrNoChange
			},
		})
		if err != nil || !cres.Committed || cres.SnapshotID != res.SnapshotID {
			t.Fatalf("resume %s: %+v, %v", s.CommitID, cres, err)
		}
	}
	// A single-id snapshot is still found (self mode).
	b3 := batch(t, mem, w1, "g", rows(0, 40, 5, currencies, merchants))
	r3, err := w1.Commit(ctx, b3)
	if err != nil {
		t.Fatal(err)
	}
	cres, err := w2.Committer().Commit(ctx, iceberg.CommitRequest{IDKey: iceberg.CommitIDKey, ID: r3.CommitID, Resume: true,
		Stage: func(context.Context, *table.Table, *table.Transaction) error { return iceberg.ErrNoChange }})
	if err != nil || !cres.Committed || cres.SnapshotID != r3.SnapshotID {
		t.Fatalf("resume single id: %+v, %v", cres, err)
	}
}

// A batch whose From the table has moved past is fenced and its files stay
// out of the table; a good batch of the same round still lands; one whose
// From is ahead of the table is deferred.
func TestCommitStagedFencesStaleFrom(t *testing.T) {
	mem := checkedMem(t)
	e := tabletest.NewContractEnv(t, nil)
	ctx := t.Context()
	w1, coord := e.Writer(nil, ident), e.Writer(nil, ident)
	if _, err := w1.Commit(ctx, batch(t, mem, w1, "g", rows(0, 0, 10, currencies, merchants))); err != nil {
		t.Fatal(err)
	}
	// The table records p0=10 and p1=10. stale starts p0 at 5 (a zombie's
	// view), good at 10; ahead starts p1 at 30.
	if _, err := w1.Commit(ctx, batch(t, mem, w1, "g", rows(1, 0, 10, currencies, merchants))); err != nil {
		t.Fatal(err)
	}
	stale := stage(t, w1, batch(t, mem, w1, "g", rows(0, 5, 20, currencies, merchants)))
	good := stage(t, w1, batch(t, mem, w1, "g", rows(0, 10, 7, currencies, merchants)))
	ahead := stage(t, w1, batch(t, mem, w1, "g", rows(1, 30, 3, currencies, merchants)))
	if err := coord.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	before := snapshots(coord)

	res, err := coord.CommitStaged(ctx, []iceberg.Staged{stale, good, ahead})
	if err != nil {
		t.Fatal(err)
	}
	want := []iceberg.StagedStatus{iceberg.StagedFenced, iceberg.StagedCommitted, iceberg.StagedDeferred}
	for i, o := range res.Outcomes {
		if o.Status != want[i] {
			t.Errorf("request %d: %v (%s), want %v", i, o.Status, o.Reason, want[i])
		}
	}
	if got := snapshots(coord) - before; got != 1 {
		t.Fatalf("%d snapshots added, want 1", got)
	}
	if off, _ := coord.Offsets(ctx, "g"); off[tp(0)] != 17 || off[tp(1)] != 10 {
		t.Fatalf("offsets %v", off)
	}
	ids := map[string]int{}
	for _, r := range tabletest.Rows(t, coord.Table()) {
		ids[r["transaction_id"]]++
	}
	if len(ids) != 27 {
		t.Errorf("%d distinct rows, want 27 (10+10+7)", len(ids))
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("row %s %d times", id, n)
		}
	}
	if ids[topic+"/1/30"] != 0 {
		t.Error("a deferred batch's row is in the table")
	}
	// The fenced batch's worker sees it fenced too, and may discard it.
	if where, err := w1.Where(ctx, stale); err != nil || where.Status != iceberg.StagedFenced {
		t.Fatalf("Where(stale) = %+v, %v", where, err)
	}
	if where, err := w1.Where(ctx, ahead); err != nil || where.Status != iceberg.StagedDeferred {
		t.Fatalf("Where(ahead) = %+v, %v", where, err)
	}
}

// A duplicated request, in one round or replayed in a later round (even
// after its worker removed the pending manifest), lands once.
func TestCommitStagedDuplicateLandsOnce(t *testing.T) {
	mem := checkedMem(t)
	e := tabletest.NewContractEnv(t, nil)
	ctx := t.Context()
	w1, coord, zombie := e.Writer(nil, ident), e.Writer(nil, ident), e.Writer(nil, ident)
	b := batch(t, mem, w1, "g", rows(0, 0, 12, currencies, merchants))
	b.From = nil
	s := stage(t, w1, b)

	res, err := coord.CommitStaged(ctx, []iceberg.Staged{s, s})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 1 || res.Outcomes[0].Status != iceberg.StagedCommitted || res.Outcomes[1] != res.Outcomes[0] {
		t.Fatalf("result %+v", res)
	}
	w1.Settle(ctx, s)
	n := snapshots(coord)
	// Replayed to this coordinator and to another (a zombie that lost
	// partition 0): found, answered committed, nothing added.
	for _, c := range []*iceberg.Writer{coord, zombie} {
		again, err := c.CommitStaged(ctx, []iceberg.Staged{s})
		if err != nil {
			t.Fatal(err)
		}
		if again.Accepted != 0 || again.Outcomes[0].Status != iceberg.StagedCommitted || again.Outcomes[0].SnapshotID != res.SnapshotID {
			t.Fatalf("replay: %+v", again)
		}
	}
	if err := coord.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if snapshots(coord) != n {
		t.Fatalf("a replay added a snapshot")
	}
	if got := len(tabletest.Rows(t, coord.Table())); got != 12 {
		t.Fatalf("%d rows, want 12", got)
	}
}
