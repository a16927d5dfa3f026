package iceberg_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	iceberggo "github.com/apache/iceberg-go"
	icecatalog "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/internal/tabletest"
)

const testIDKey = "floe.test.commit-id"

// emptyAppend stages an empty append snapshot whose summary carries id.
func emptyAppend(id string) func(context.Context, *table.Table, *table.Transaction) error {
	return func(ctx context.Context, _ *table.Table, tx *table.Transaction) error {
		return tx.AddFiles(ctx, nil, iceberggo.Properties{testIDKey: id}, true)
	}
}

// committer is a Committer of the contract table on cat (nil: a new
// connection) that retries at once.
func committer(t *testing.T, e *tabletest.Env, cat icecatalog.Catalog) *iceberg.Committer {
	t.Helper()
	if cat == nil {
		cat = e.Open()
	}
	c, err := iceberg.NewCommitter(cat, ident,
		iceberg.WithBackoff(func(int) time.Duration { return 0 }),
		iceberg.WithSleep(func(ctx context.Context, _ time.Duration) error { return ctx.Err() }))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// snapshotsWith returns the ids of the snapshots whose summary has id.
func snapshotsWith(t *testing.T, e *tabletest.Env, id string) []int64 {
	t.Helper()
	tbl, err := e.Open().LoadTable(t.Context(), ident)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, s := range tbl.Metadata().Snapshots() {
		if s.Summary != nil && s.Summary.Properties[testIDKey] == id {
			out = append(out, s.SnapshotID)
		}
	}
	return out
}

// A commit from another process between staging and committing makes the
// pinned attempt fail as a conflict; the change is staged again on the
// reloaded table and lands once.
func TestCommitterConflictRestagesOnFreshBase(t *testing.T) {
	e := tabletest.NewContractEnv(t, nil)
	ctx := t.Context()
	mine, other := committer(t, e, nil), committer(t, e, nil)
	if _, err := mine.Load(ctx); err != nil {
		t.Fatal(err)
	}

	var bases []int64
	var otherID int64
	res, err := mine.Commit(ctx, iceberg.CommitRequest{
		IDKey: testIDKey, ID: "mine",
		Stage: func(ctx context.Context, base *table.Table, tx *table.Transaction) error {
			var head int64
			if s := base.CurrentSnapshot(); s != nil {
				head = s.SnapshotID
			}
			bases = append(bases, head)
			if len(bases) == 1 {
				r, err := other.Commit(ctx, iceberg.CommitRequest{IDKey: testIDKey, ID: "other", Stage: emptyAppend("other")})
				if err != nil {
					return err
				}
				otherID = r.SnapshotID
			}
			return emptyAppend("mine")(ctx, base, tx)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Committed || res.Attempts != 2 || res.Conflicts != 1 || res.Unknown != 0 {
		t.Fatalf("result %+v: want committed on attempt 2 after 1 conflict", res)
	}
	if len(bases) != 2 || bases[0] != 0 || bases[1] != otherID || otherID == 0 {
		t.Fatalf("stage bases %v: want [0 %d] (empty table, then the other process's snapshot)", bases, otherID)
	}
	if got := snapshotsWith(t, e, "mine"); len(got) != 1 || got[0] != res.SnapshotID {
		t.Fatalf("snapshots with id mine: %v, want [%d]", got, res.SnapshotID)
	}
}

// With every attempt meeting a concurrent commit, Commit gives up with
// ErrConflict and nothing of the change is in the table.
func TestCommitterConflictExhausted(t *testing.T) {
	e := tabletest.NewContractEnv(t, nil)
	ctx := t.Context()
	mine, other := committer(t, e, nil), committer(t, e, nil)
	n := 0
	res, err := mine.Commit(ctx, iceberg.CommitRequest{
		IDKey: testIDKey, ID: "mine", Attempts: 3,
		Stage: func(ctx context.Context, base *table.Table, tx *table.Transaction) error {
			n++
			id := "other" + itoa(int64(n))
			if _, err := other.Commit(ctx, iceberg.CommitRequest{IDKey: testIDKey, ID: id, Stage: emptyAppend(id)}); err != nil {
				return err
			}
			return emptyAppend("mine")(ctx, base, tx)
		},
	})
	if !errors.Is(err, iceberg.ErrConflict) || !iceberg.IsRetryable(err) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	if res.Committed || res.Attempts != 3 || res.Conflicts != 3 {
		t.Fatalf("result %+v: want 3 attempts, 3 conflicts, not committed", res)
	}
	if got := snapshotsWith(t, e, "mine"); len(got) != 0 {
		t.Fatalf("snapshots with id mine: %v, want none", got)
	}
}

// An unknown outcome that landed is found by its id: one attempt, one
// snapshot, no second commit.
func TestCommitterUnknownOutcomeLanded(t *testing.T) {
	e := tabletest.NewContractEnv(t, nil)
	cat := &faultyCatalog{Catalog: e.Open()}
	c := committer(t, e, cat)
	cat.inject("after")
	res, err := c.Commit(t.Context(), iceberg.CommitRequest{IDKey: testIDKey, ID: "x", Stage: emptyAppend("x")})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Committed || res.Attempts != 1 || res.Unknown != 1 || cat.calls != 1 {
		t.Fatalf("result %+v, catalog calls %d: want resolved as landed after 1 attempt", res, cat.calls)
	}
	if got := snapshotsWith(t, e, "x"); len(got) != 1 || got[0] != res.SnapshotID {
		t.Fatalf("snapshots with id x: %v, want [%d]", got, res.SnapshotID)
	}
}

// An unknown outcome that did not land is not found, so the change is
// staged again and lands once.
func TestCommitterUnknownOutcomeNotLanded(t *testing.T) {
	e := tabletest.NewContractEnv(t, nil)
	cat := &faultyCatalog{Catalog: e.Open()}
	c := committer(t, e, cat)
	cat.inject("before")
	res, err := c.Commit(t.Context(), iceberg.CommitRequest{IDKey: testIDKey, ID: "x", Stage: emptyAppend("x")})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Committed || res.Attempts != 2 || res.Unknown != 1 || cat.calls != 2 {
		t.Fatalf("result %+v, catalog calls %d: want committed by attempt 2", res, cat.calls)
	}
	if got := snapshotsWith(t, e, "x"); len(got) != 1 || got[0] != res.SnapshotID {
		t.Fatalf("snapshots with id x: %v, want [%d]", got, res.SnapshotID)
	}
}

// An unknown outcome the table cannot be read back to resolve is reported
// as ErrUnknownOutcome, even though the change did land.
func TestCommitterUnknownOutcomeUnresolvable(t *testing.T) {
	e := tabletest.NewContractEnv(t, nil)
	cat := &faultyCatalog{Catalog: e.Open()}
	c := committer(t, e, cat)
	if _, err := c.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	cat.inject("after")
	cat.mu.Lock()
	cat.failLoads = 1
	cat.mu.Unlock()
	_, err := c.Commit(t.Context(), iceberg.CommitRequest{IDKey: testIDKey, ID: "x", Stage: emptyAppend("x")})
	if !errors.Is(err, iceberg.ErrUnknownOutcome) {
		t.Fatalf("err = %v, want ErrUnknownOutcome", err)
	}
	if got := snapshotsWith(t, e, "x"); len(got) != 1 {
		t.Fatalf("snapshots with id x: %v, want the one that landed", got)
	}
}

// ErrNoChange from Stage ends Commit without a commit or an error; any
// other Stage error is returned and nothing is committed.
func TestCommitterStageOutcomes(t *testing.T) {
	e := tabletest.NewContractEnv(t, nil)
	c := committer(t, e, nil)
	res, err := c.Commit(t.Context(), iceberg.CommitRequest{Stage: func(context.Context, *table.Table, *table.Transaction) error {
		return iceberg.ErrNoChange
	}})
	if err != nil || res.Committed || res.Attempts != 0 {
		t.Fatalf("ErrNoChange: %+v, %v", res, err)
	}
	boom := errors.New("boom")
	res, err = c.Commit(t.Context(), iceberg.CommitRequest{Stage: func(context.Context, *table.Table, *table.Transaction) error {
		return boom
	}})
	if !errors.Is(err, boom) || res.Committed {
		t.Fatalf("stage error: %+v, %v", res, err)
	}
	if tbl, _ := e.Open().LoadTable(t.Context(), ident); tbl.CurrentSnapshot() != nil {
		t.Fatal("a snapshot was committed")
	}
}

// Two users of one Committer (the ingest writer and the compactor of one
// process) take turns: their stages never overlap and none of their
// commits conflicts, although each holds its stage open long enough for
// the other to commit in between if they were not serialised.
func TestCommitterSerialisesUsersInOneProcess(t *testing.T) {
	e := tabletest.NewContractEnv(t, nil)
	c := committer(t, e, nil)
	var (
		inStage, overlaps atomic.Int32
		wg                sync.WaitGroup
		mu                sync.Mutex
		results           []iceberg.Result
		errs              []error
	)
	const perUser = 5
	for u := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perUser {
				id := itoa(int64(u)) + "/" + itoa(int64(i))
				res, err := c.Commit(t.Context(), iceberg.CommitRequest{
					IDKey: testIDKey, ID: id, Attempts: 1,
					Stage: func(ctx context.Context, base *table.Table, tx *table.Transaction) error {
						if inStage.Add(1) > 1 {
							overlaps.Add(1)
						}
						defer inStage.Add(-1)
						time.Sleep(20 * time.Millisecond)
						return emptyAppend(id)(ctx, base, tx)
					},
				})
				mu.Lock()
				results, errs = append(results, res), append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("commits failed (not serialised?): %v", err)
	}
	for _, r := range results {
		if !r.Committed || r.Conflicts != 0 || r.Attempts != 1 {
			t.Fatalf("result %+v: want every commit to land on its first attempt", r)
		}
	}
	if n := overlaps.Load(); n != 0 {
		t.Fatalf("%d stages overlapped", n)
	}
	tbl, err := e.Open().LoadTable(t.Context(), ident)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tbl.Metadata().Snapshots()); n != 2*perUser {
		t.Fatalf("%d snapshots, want %d", n, 2*perUser)
	}
}

// Waiting for the turn honours ctx: a caller queued behind a long commit
// gives up when its context ends, and nothing of its change is committed.
func TestCommitterTurnWaitHonoursContext(t *testing.T) {
	e := tabletest.NewContractEnv(t, nil)
	c := committer(t, e, nil)
	entered, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := c.Commit(t.Context(), iceberg.CommitRequest{Stage: func(ctx context.Context, base *table.Table, tx *table.Transaction) error {
			close(entered)
			<-release
			return emptyAppend("first")(ctx, base, tx)
		}})
		done <- err
	}()
	<-entered
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Commit(ctx, iceberg.CommitRequest{IDKey: testIDKey, ID: "second", Stage: emptyAppend("second")})
	close(release)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("queued commit: %v, want DeadlineExceeded", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := snapshotsWith(t, e, "second"); len(got) != 0 {
		t.Fatalf("the abandoned change was committed: %v", got)
	}
}

// After each commit the Committer caches a copy of the committed table (on
// a SQL catalog, rebuilt rather than loaded again): it must equal the table
// as the catalog has it, metadata and location (last-updated-ms aside: the
// rebuild stamps its own time, never earlier), and serve as the base of the
// next commit.
func TestCommitterCachesTheCommittedTable(t *testing.T) {
	e := tabletest.NewContractEnv(t, nil)
	c := committer(t, e, nil)
	asMap := func(md table.Metadata) map[string]any {
		raw, err := json.Marshal(md)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "last-updated-ms")
		return m
	}
	for i := range 3 {
		id := fmt.Sprintf("commit-%d", i)
		if _, err := c.Commit(t.Context(), iceberg.CommitRequest{Stage: emptyAppend(id)}); err != nil {
			t.Fatal(err)
		}
		cached := c.Table()
		fresh, err := e.Open().LoadTable(t.Context(), ident)
		if err != nil {
			t.Fatal(err)
		}
		if cached.MetadataLocation() != fresh.MetadataLocation() || !reflect.DeepEqual(asMap(cached.Metadata()), asMap(fresh.Metadata())) {
			t.Fatalf("commit %d: cached table %s differs from the catalog's %s:\n%v\n%v", i, cached.MetadataLocation(), fresh.MetadataLocation(), asMap(cached.Metadata()), asMap(fresh.Metadata()))
		}
		if cached.Metadata().LastUpdatedMillis() < fresh.Metadata().LastUpdatedMillis() {
			t.Errorf("commit %d: cached last-updated-ms %d before the catalog's %d", i, cached.Metadata().LastUpdatedMillis(), fresh.Metadata().LastUpdatedMillis())
		}
		if got := snapshotsWith(t, e, id); len(got) != 1 || cached.CurrentSnapshot().SnapshotID != got[0] {
			t.Fatalf("commit %d: snapshots %v, cached head %d", i, got, cached.CurrentSnapshot().SnapshotID)
		}
	}
}

// TestCommitterDoesNotReloadToCommit: on a SQL catalog a commit is made on
// the table the Committer holds, without reading the current metadata.json
// again (the test removes it before each commit; a commit that loads the
// table fails then), for a transaction (Stage) and for Raw updates, and a
// commit from another process in between is still seen (the commit lands
// after it, through a reload).
func TestCommitterDoesNotReloadToCommit(t *testing.T) {
	e := tabletest.NewContractEnv(t, nil)
	c := committer(t, e, nil)
	ctx := t.Context()
	if _, err := c.Commit(ctx, iceberg.CommitRequest{Stage: emptyAppend("first")}); err != nil {
		t.Fatal(err)
	}
	unreadable := func() {
		t.Helper()
		u, err := url.Parse(c.Table().MetadataLocation())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(u.Path); err != nil {
			t.Fatal(err)
		}
	}
	unreadable()
	if _, err := c.Commit(ctx, iceberg.CommitRequest{Stage: emptyAppend("second")}); err != nil {
		t.Fatalf("transaction commit on the held table: %v", err)
	}
	unreadable()
	raw := func(context.Context, *table.Table) ([]table.Update, error) {
		return []table.Update{table.NewSetPropertiesUpdate(iceberggo.Properties{"floe.test.raw": "1"})}, nil
	}
	if _, err := c.Commit(ctx, iceberg.CommitRequest{Raw: raw}); err != nil {
		t.Fatalf("raw commit on the held table: %v", err)
	}

	// Another process commits; this one's next commit lands after it.
	if _, err := committer(t, e, nil).Commit(ctx, iceberg.CommitRequest{Stage: emptyAppend("other")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Commit(ctx, iceberg.CommitRequest{Stage: emptyAppend("third")}); err != nil {
		t.Fatal(err)
	}
	tbl := e.Load(ident)
	if tbl.Properties()["floe.test.raw"] != "1" {
		t.Error("the raw commit's property is missing")
	}
	var ids []string
	for _, s := range tbl.Metadata().Snapshots() {
		ids = append(ids, s.Summary.Properties[testIDKey])
	}
	if want := []string{"first", "second", "other", "third"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("snapshots %v, want %v", ids, want)
	}
}
