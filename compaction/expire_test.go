package compaction_test

import (
	"context"
	"maps"
	"testing"
	"time"

	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/compaction"
	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/internal/tabletest"
)

// After expiry down to the last snapshot, every group resumes from exactly
// the offsets it had before, though the snapshots that recorded them are
// gone: the compactor carried them forward (checkpoint) before expiring.
func TestExpiryKeepsRecoveryOffsets(t *testing.T) {
	ctx := context.Background()
	e := tabletest.NewContractEnv(t, nil)
	early := newFeed(t, e.Writer(nil, ident), "early", "early.topic", "e")
	mustCommit(t, early, 3, 2, 1)
	earlySnap := e.Load(ident).CurrentSnapshot().SnapshotID
	f := newFeed(t, e.Writer(nil, ident), "floe", topic, "a")
	mustCommit(t, f, 20, 2, 1)

	// A rewrite carries the offsets; then more plain appends, each recording
	// one Kafka partition only.
	comp := newCompactor(t, e, compaction.Options{SkipExpire: true, SkipOrphans: true, SkipManifests: true})
	if rep, err := comp.RunOnce(ctx); err != nil || rep.RewriteSnapshotID == 0 {
		t.Fatalf("rewrite: %v %+v", err, rep)
	}
	mustCommit(t, f, 3, 2, 1)

	want := map[string]iceberg.Offsets{}
	for _, g := range []string{"early", "floe"} {
		o, err := e.Writer(nil, ident).Offsets(ctx, g)
		if err != nil || len(o) == 0 {
			t.Fatalf("offsets %s: %v %v", g, o, err)
		}
		want[g] = o
	}
	rowsBefore := tabletest.Lines(t, e.Load(ident))
	snapsBefore := len(e.Load(ident).Metadata().Snapshots())

	exp := newCompactor(t, e, compaction.Options{
		SkipRewrite: true, SkipOrphans: true, SkipManifests: true,
		ExpireKeepLast: 1, ExpireOlderThan: time.Nanosecond,
	})
	rep, err := exp.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tbl := e.Load(ident)
	if !rep.Checkpointed {
		t.Errorf("expected an offsets checkpoint before expiring down to one snapshot")
	}
	if n := len(tbl.Metadata().Snapshots()); n != 1 || rep.SnapshotsExpired != snapsBefore+1-n {
		t.Fatalf("snapshots: %d before, %d after, report %+v", snapsBefore, n, rep)
	}
	if tbl.SnapshotByID(earlySnap) != nil {
		t.Fatalf("the early group's own snapshot was not expired")
	}
	for g, o := range want {
		got, err := e.Writer(nil, ident).Offsets(ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, o) {
			t.Errorf("group %s: offsets after expiry %v, before %v", g, got, o)
		}
	}
	if checksum(tabletest.Lines(t, tbl)) != checksum(rowsBefore) {
		t.Fatalf("rows changed by expiry")
	}
	// The ingest goes on from there without being fenced.
	if _, err := f.commit(ctx, 2, 1); err != nil {
		t.Fatalf("ingest after expiry: %v", err)
	}
}

// The table's standard history.expire.* properties set the retention when
// the options leave it at zero; options given explicitly win.
func TestExpiryHonoursTableProperties(t *testing.T) {
	ctx := context.Background()
	e := tabletest.NewContractEnv(t, nil)
	f := newFeed(t, e.Writer(nil, ident), "floe", topic, "a")
	mustCommit(t, f, 12, 1, 1)
	tx := e.Load(ident).NewTransaction()
	if err := tx.SetProperties(iceberggo.Properties{
		table.MinSnapshotsToKeepKey: "4", table.MaxSnapshotAgeMsKey: "1",
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // every snapshot older than 1 ms

	exp := newCompactor(t, e, compaction.Options{SkipRewrite: true, SkipOrphans: true, SkipManifests: true, DryRun: true})
	rep, err := exp.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ExpireKeepLast != 4 || rep.ExpireOlderThan != time.Millisecond {
		t.Fatalf("retention from properties: keep %d, older than %s", rep.ExpireKeepLast, rep.ExpireOlderThan)
	}
	exp = newCompactor(t, e, compaction.Options{SkipRewrite: true, SkipOrphans: true, SkipManifests: true})
	if _, err := exp.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(e.Load(ident).Metadata().Snapshots()); n != 4 {
		t.Fatalf("%d snapshots kept, want 4 (history.expire.min-snapshots-to-keep)", n)
	}

	// Explicit options win over the properties.
	mustCommit(t, f, 6, 1, 1)
	time.Sleep(5 * time.Millisecond)
	exp = newCompactor(t, e, compaction.Options{SkipRewrite: true, SkipOrphans: true, SkipManifests: true,
		ExpireKeepLast: 2, ExpireOlderThan: time.Nanosecond})
	rep, err = exp.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(e.Load(ident).Metadata().Snapshots()); n != 2 || rep.ExpireKeepLast != 2 {
		t.Fatalf("%d snapshots kept (report keep %d), want 2", n, rep.ExpireKeepLast)
	}
}

// The valid-through watermark and the event-time maxima it is computed
// from survive a rewrite and an expiry down to one snapshot.
func TestWatermarkCarried(t *testing.T) {
	ctx := context.Background()
	e := tabletest.NewContractEnv(t, nil)
	w := e.Writer(nil, ident)
	f := newFeed(t, w, "floe", topic, "a")
	mustCommit(t, f, 8, 2, 1) // Kafka partitions 0..3, twice each
	// One batch with event times for every partition the group recorded.
	o, err := w.Offsets(ctx, "floe")
	if err != nil || len(o) != 4 {
		t.Fatalf("offsets %v %v", o, err)
	}
	maxes := iceberg.Offsets{}
	for tp := range o {
		maxes[tp] = 1_000_000 + int64(tp.Partition)*1000
	}
	b := iceberg.Batch{Group: "floe", From: iceberg.Offsets{}, To: iceberg.Offsets{}, MaxEventTime: maxes}
	for tp, off := range o {
		b.From[tp], b.To[tp] = off, off // offsets unchanged: an empty snapshot
	}
	if _, err := w.Commit(ctx, b); err != nil {
		t.Fatal(err)
	}
	const want = "1000000"
	if got := e.Load(ident).CurrentSnapshot().Summary.Properties[iceberg.ValidThroughKey("floe")]; got != want {
		t.Fatalf("valid-through after the batch: %q", got)
	}
	mustCommit(t, newFeed(t, w, "floe", topic, "b"), 3, 2, 1) // more appends without event times

	comp := newCompactor(t, e, compaction.Options{SkipOrphans: true, SkipManifests: true,
		ExpireKeepLast: 1, ExpireOlderThan: time.Nanosecond})
	rep, err := comp.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tbl := e.Load(ident)
	if n := len(tbl.Metadata().Snapshots()); n != 1 || rep.RewriteSnapshotID == 0 {
		t.Fatalf("%d snapshots after expiry (report %+v)", n, rep)
	}
	props := tbl.CurrentSnapshot().Summary.Properties
	if got := props[iceberg.ValidThroughKey("floe")]; got != want {
		t.Fatalf("valid-through after compaction and expiry: %q, want %s", got, want)
	}
	got, err := iceberg.DecodeOffsets(props[iceberg.MaxEventTimeKey("floe")])
	if err != nil || !maps.Equal(got, maxes) {
		t.Fatalf("event-time maxima after expiry %v (%v), want %v", got, err, maxes)
	}
	// The next ingest batch still knows every partition's maximum.
	p0 := iceberg.TopicPartition{Topic: topic, Partition: 0}
	o, _ = w.Offsets(ctx, "floe")
	b = iceberg.Batch{Group: "floe", From: o, To: o, MaxEventTime: iceberg.Offsets{p0: 5_000_000}}
	if _, err := w.Commit(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got := e.Load(ident).CurrentSnapshot().Summary.Properties[iceberg.ValidThroughKey("floe")]; got != "1001000" {
		t.Fatalf("valid-through after expiry and a new batch: %q, want 1001000", got)
	}
}
