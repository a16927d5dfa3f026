package iceberg_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/internal/tabletest"
	"github.com/floe-io/floe/internal/testserver"
	"github.com/floe-io/floe/schema"
)

var (
	currencies = []string{"EUR", "USD", "GBP"}
	// Merchant ids that stress partition paths: a slash, spaces, unicode,
	// URL metacharacters.
	merchants = []string{"m-1", "shop/42", " spaced out ", "商户-ü", "a=b&c%2F?#"}
)

func ids(rs ...[]row) []string {
	var out []string
	for _, r := range rs {
		for _, x := range r {
			out = append(out, x.id)
		}
	}
	sort.Strings(out)

	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}

	return true
}

func TestCommitScanAndOffsets(t *testing.T) {
	mem := checkedMem(t)
	e := tabletest.NewContractEnv(t, nil)
	w := e.Writer(nil, ident)
	ctx := t.Context()

	r1 := rows(0, 0, 40, currencies, merchants)
	r2 := rows(1, 100, 25, currencies, merchants)
	b := batch(t, mem, w, "g1", append(append([]row{}, r1...), r2...))
	res, err := w.Commit(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 65 || res.Files != len(currencies)*len(merchants) || res.Bytes <= 0 || res.Attempts != 1 || res.SnapshotID == 0 {
		t.Fatalf("result %+v", res)
	}
	if res.CommitID == "" {
		t.Fatal("no commit id generated")
	}
	// Writing the files is part of the commit and not all of it.
	if res.WriteDuration <= 0 || res.WriteDuration >= res.Duration {
		t.Fatalf("write %v of commit %v", res.WriteDuration, res.Duration)
	}

	snap := w.Table().CurrentSnapshot()
	if snap.SnapshotID != res.SnapshotID {
		t.Fatalf("current snapshot %d, result %d", snap.SnapshotID, res.SnapshotID)
	}
	if got := snap.Summary.Properties[iceberg.CommitIDKey]; got != res.CommitID {
		t.Errorf("summary commit id %q, want %q", got, res.CommitID)
	}
	if got, want := snap.Summary.Properties[iceberg.OffsetsKey("g1")], `{"payments.transactions":{"0":40,"1":125}}`; got != want {
		t.Errorf("summary offsets %s, want %s", got, want)
	}

	// Second batch on partition 0 only.
	r3 := rows(0, 40, 10, currencies, merchants)
	if _, err := w.Commit(ctx, batch(t, mem, w, "g1", r3)); err != nil {
		t.Fatal(err)
	}

	if got, want := tabletest.IDs(t, w.Table()), ids(r1, r2, r3); !equalStrings(got, want) {
		t.Fatalf("scanned %d rows, want %d", len(got), len(want))
	}

	// A new process sees the same offsets: newest per partition wins.
	other := e.Writer(nil, ident)
	off, err := other.Offsets(ctx, "g1")
	if err != nil {
		t.Fatal(err)
	}
	want := iceberg.Offsets{tp(0): 50, tp(1): 125}
	if fmt.Sprint(off) != fmt.Sprint(want) {
		t.Fatalf("offsets %v, want %v", off, want)
	}
	if off, _ := other.Offsets(ctx, "other-group"); len(off) != 0 {
		t.Fatalf("unknown group offsets %v", off)
	}
}

// TestDataFilesHoldOnlyTheirPartition opens every data file of the current
// snapshot with arrow-go's Parquet reader and checks that each row's
// partition columns equal the file's partition values.
func TestDataFilesHoldOnlyTheirPartition(t *testing.T) {
	mem := checkedMem(t)
	e := tabletest.NewContractEnv(t, nil)
	w := e.Writer(nil, ident)
	ctx := t.Context()

	rs := rows(3, 0, 200, currencies, merchants)
	if _, err := w.Commit(ctx, batch(t, mem, w, "g", rs)); err != nil {
		t.Fatal(err)
	}

	tbl := w.Table()
	fs, err := tbl.FS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	manifests, err := tbl.CurrentSnapshot().Manifests(fs)
	if err != nil {
		t.Fatal(err)
	}
	var files, total int
	seen := map[string]bool{}
	for _, mf := range manifests {
		entries, err := mf.FetchEntries(fs, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, ent := range entries {
			df := ent.DataFile()
			files++
			cur, merch := df.Partition()[1000], df.Partition()[1001]
			n := checkParquetFile(t, df.FilePath(), cur.(string), merch.(string))
			if int64(n) != df.Count() {
				t.Errorf("%s: %d rows, manifest says %d", df.FilePath(), n, df.Count())
			}
			total += n
			seen[merch.(string)] = true
		}
	}
	if files != len(currencies)*len(merchants) || total != len(rs) {
		t.Fatalf("%d files with %d rows, want %d files with %d rows", files, total, len(currencies)*len(merchants), len(rs))
	}
	for _, m := range merchants {
		if !seen[m] {
			t.Errorf("merchant %q has no data file", m)
		}
	}
}

func checkParquetFile(t *testing.T, uri, currency, merchant string) int {
	t.Helper()
	// The location, taken literally (as Spark's and Trino's readers take
	// it), is where the bytes are: the partition directories keep their
	// escapes on disk.
	path := literalPath(t, uri)

	// The table's write properties reach the file: zstd pages.
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatalf("open data file: %v", err)
	}
	if c, err := pf.MetaData().RowGroup(0).ColumnChunk(0); err != nil || c.Compression() != compress.Codecs.Zstd {
		t.Errorf("%s: column chunk not zstd-compressed", path)
	}
	_ = pf.Close()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open data file: %v", err)
	}
	defer f.Close()
	tbl, err := pqarrow.ReadTable(t.Context(), f, nil, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	defer tbl.Release()

	for name, want := range map[string]string{"currency": currency, "merchant_id": merchant} {
		idx := tbl.Schema().FieldIndices(name)
		if len(idx) != 1 {
			t.Fatalf("%s: no column %s", path, name)
		}
		for _, chunk := range tbl.Column(idx[0]).Data().Chunks() {
			s := chunk.(*array.String)
			for i := range s.Len() {
				if s.Value(i) != want {
					t.Fatalf("%s: %s = %q in the file for partition %q", path, name, s.Value(i), want)
				}
			}
		}
	}

	return int(tbl.NumRows())
}

func TestConcurrentWritersDifferentPartitions(t *testing.T) {
	testConcurrentWriters(t, tabletest.NewContractEnv(t, nil))
}

// TestConcurrentWritersPostgres is TestConcurrentWritersDifferentPartitions
// on a PostgreSQL catalog: two writers whose commits are made on the table
// each holds race through the catalog row's compare-and-set, which
// PostgreSQL evaluates under READ COMMITTED (the loser's UPDATE re-checks
// the row the winner wrote and matches nothing).
func TestConcurrentWritersPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	e := tabletest.NewEnv(t)
	e.URI = testserver.StartPostgres(t).NewDatabase(t)
	sc := schema.TableSchema()
	e.CreateTable(ident, sc, schema.PartitionSpec(sc), nil)
	testConcurrentWriters(t, e)
}

func testConcurrentWriters(t *testing.T, e *tabletest.Env) {
	mem := checkedMem(t)
	ctx := t.Context()
	a, b := e.Writer(nil, ident), e.Writer(nil, ident)

	// Deterministic conflict: b's view is stale when it commits.
	ra := rows(0, 0, 10, currencies, merchants)
	rb := rows(1, 0, 10, currencies, merchants)
	if _, err := a.Commit(ctx, batch(t, mem, a, "g", ra)); err != nil {
		t.Fatal(err)
	}
	res, err := b.Commit(ctx, batch(t, mem, b, "g", rb))
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 {
		t.Errorf("stale writer committed in %d attempts, want 2 (conflict then re-add)", res.Attempts)
	}
	all := [][]row{ra, rb}

	// Then both race for a while.
	const rounds = 5
	var wg sync.WaitGroup
	errs := make(chan error, 2*rounds)
	for i, w := range []*iceberg.Writer{a, b} {
		part := int32(i)
		var mine [][]row
		for r := range rounds {
			mine = append(mine, rows(part, int64(10+r*5), 5, currencies, merchants))
		}
		all = append(all, mine...)
		wg.Go(func() {
			for _, rs := range mine {
				if _, err := w.Commit(ctx, batch(t, mem, w, "g", rs)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	fresh := e.Writer(nil, ident)
	if got, want := tabletest.IDs(t, fresh.Table()), ids(all...); !equalStrings(got, want) {
		t.Fatalf("scanned %d rows, want %d", len(got), len(want))
	}
	off, err := fresh.Offsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if want := (iceberg.Offsets{tp(0): 35, tp(1): 35}); fmt.Sprint(off) != fmt.Sprint(want) {
		t.Fatalf("offsets %v, want %v", off, want)
	}
}

func TestSameRangeIsFenced(t *testing.T) {
	mem := checkedMem(t)
	e := tabletest.NewContractEnv(t, nil)
	ctx := t.Context()
	a, b := e.Writer(nil, ident), e.Writer(nil, ident)

	rs := rows(0, 0, 20, currencies, merchants)
	if _, err := a.Commit(ctx, batch(t, mem, a, "g", rs)); err != nil {
		t.Fatal(err)
	}
	// b read the same records (say, before a rebalance reached it).
	_, err := b.Commit(ctx, batch(t, mem, b, "g", rs))
	if !errors.Is(err, iceberg.ErrFenced) {
		t.Fatalf("err = %v, want ErrFenced", err)
	}
	if iceberg.IsRetryable(err) {
		t.Error("ErrFenced reported retryable")
	}
	if got := tabletest.IDs(t, e.Writer(nil, ident).Table()); len(got) != len(rs) {
		t.Fatalf("%d rows after fenced commit, want %d", len(got), len(rs))
	}

	// b, now fresh, is fenced too without any conflict (first attempt).
	_, err = b.Commit(ctx, batch(t, mem, b, "g", rows(0, 5, 5, currencies, merchants)))
	if !errors.Is(err, iceberg.ErrFenced) {
		t.Fatalf("overlapping range: err = %v, want ErrFenced", err)
	}
	// A different group is independent.
	if _, err := b.Commit(ctx, batch(t, mem, b, "other", rs)); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentSameRangeOneWins(t *testing.T) {
	mem := checkedMem(t)
	e := tabletest.NewContractEnv(t, nil)
	ctx := t.Context()
	const n = 3
	ws := make([]*iceberg.Writer, n)
	for i := range ws {
		ws[i] = e.Writer(nil, ident)
	}
	rs := rows(0, 0, 15, currencies, merchants)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		ok     int
		fenced int
	)
	for _, w := range ws {
		b := batch(t, mem, w, "g", rs)
		wg.Go(func() {
			_, err := w.Commit(ctx, b)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, iceberg.ErrFenced):
				fenced++
			default:
				t.Errorf("commit: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 1 || fenced != n-1 {
		t.Fatalf("%d succeeded, %d fenced; want 1 and %d", ok, fenced, n-1)
	}
	if got := tabletest.IDs(t, e.Writer(nil, ident).Table()); len(got) != len(rs) {
		t.Fatalf("%d rows, want %d (duplicates?)", len(got), len(rs))
	}
}

func TestUnknownOutcomeThatCommitted(t *testing.T) {
	mem := checkedMem(t)
	e := tabletest.NewContractEnv(t, nil)
	ctx := t.Context()
	cat := &faultyCatalog{Catalog: e.Open()}
	w := e.Writer(cat, ident)

	cat.inject("after")
	rs := rows(0, 0, 12, currencies, merchants)
	res, err := w.Commit(ctx, batch(t, mem, w, "g", rs))
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 1 || cat.calls != 1 {
		t.Fatalf("attempts %d, catalog calls %d; want the commit resolved as done after 1", res.Attempts, cat.calls)
	}
	assertSingleCommit(t, e, res.CommitID, res.SnapshotID)
	if got := tabletest.IDs(t, e.Writer(nil, ident).Table()); len(got) != len(rs) {
		t.Fatalf("%d rows, want %d", len(got), len(rs))
	}
}

func TestUnknownOutcomeThatDidNotCommit(t *testing.T) {
	mem := checkedMem(t)
	e := tabletest.NewContractEnv(t, nil)
	ctx := t.Context()
	cat := &faultyCatalog{Catalog: e.Open()}
	w := e.Writer(cat, ident)

	cat.inject("before", "before")
	rs := rows(0, 0, 12, currencies, merchants)
	res, err := w.Commit(ctx, batch(t, mem, w, "g", rs))
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 3 {
		t.Fatalf("attempts %d, want 3", res.Attempts)
	}
	assertSingleCommit(t, e, res.CommitID, res.SnapshotID)
	if got := tabletest.IDs(t, e.Writer(nil, ident).Table()); len(got) != len(rs) {
		t.Fatalf("%d rows, want %d", len(got), len(rs))
	}
}

func TestUnknownOutcomeResolvedAfterCancel(t *testing.T) {
	mem := checkedMem(t)
	e := tabletest.NewContractEnv(t, nil)
	cat := &faultyCatalog{Catalog: e.Open()}
	w := e.Writer(cat, ident)

	// The caller's context ends while the catalog commits (shutdown):
	// resolution still runs, on a detached context, and finds the commit.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cat.cancel = cancel
	cat.inject("after-cancel")
	res, err := w.Commit(ctx, batch(t, mem, w, "g", rows(0, 0, 3, currencies, merchants)))
	if err != nil {
		t.Fatal(err)
	}
	assertSingleCommit(t, e, res.CommitID, res.SnapshotID)
}

func TestUnknownOutcomeUnresolvable(t *testing.T) {
	mem := checkedMem(t)
	e := tabletest.NewContractEnv(t, nil)
	cat := &faultyCatalog{Catalog: e.Open()}
	w := e.Writer(cat, ident)

	cat.inject("after")
	cat.mu.Lock()
	cat.failLoads = 1
	cat.mu.Unlock()
	_, err := w.Commit(t.Context(), batch(t, mem, w, "g", rows(0, 0, 3, currencies, merchants)))
	if !errors.Is(err, iceberg.ErrUnknownOutcome) {
		t.Fatalf("err = %v, want ErrUnknownOutcome", err)
	}
	// The truth is in the table: the commit did land.
	off, err := w.Offsets(t.Context(), "g")
	if err != nil || off[tp(0)] != 3 {
		t.Fatalf("offsets %v, %v", off, err)
	}
}

// TestInternalRetryCannotBypassFence: with iceberg-go's own
// refresh-and-replay enabled on the table, a stale writer must still be
// fenced rather than replayed on top of the other writer's commit.
func TestInternalRetryCannotBypassFence(t *testing.T) {
	mem := checkedMem(t)
	e := tabletest.NewContractEnv(t, iceberggo.Properties{
		table.CommitNumRetriesKey:     "3",
		table.CommitMinRetryWaitMsKey: "1",
	})
	ctx := t.Context()
	a, b := e.Writer(nil, ident), e.Writer(nil, ident)
	rs := rows(0, 0, 8, currencies, merchants)
	if _, err := a.Commit(ctx, batch(t, mem, a, "g", rs)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Commit(ctx, batch(t, mem, b, "g", rs)); !errors.Is(err, iceberg.ErrFenced) {
		t.Fatalf("err = %v, want ErrFenced", err)
	}
	if got := tabletest.IDs(t, e.Writer(nil, ident).Table()); len(got) != len(rs) {
		t.Fatalf("%d rows, want %d", len(got), len(rs))
	}
}

func TestConflictRetriesExhausted(t *testing.T) {
	mem := checkedMem(t)
	e := tabletest.NewContractEnv(t, nil)
	ctx := t.Context()
	a := e.Writer(nil, ident)
	b := e.Writer(nil, ident, iceberg.WithMaxAttempts(1))
	if _, err := a.Commit(ctx, batch(t, mem, a, "g", rows(0, 0, 2, currencies, merchants))); err != nil {
		t.Fatal(err)
	}
	_, err := b.Commit(ctx, batch(t, mem, b, "g", rows(1, 0, 2, currencies, merchants)))
	if !errors.Is(err, iceberg.ErrConflict) || !iceberg.IsRetryable(err) {
		t.Fatalf("err = %v, want retryable ErrConflict", err)
	}
}

func assertSingleCommit(t *testing.T, e *tabletest.Env, commitID string, snapID int64) {
	t.Helper()
	var found []int64
	for _, s := range e.Writer(nil, ident).Table().Metadata().Snapshots() {
		if s.Summary != nil && s.Summary.Properties[iceberg.CommitIDKey] == commitID {
			found = append(found, s.SnapshotID)
		}
	}
	if len(found) != 1 || found[0] != snapID {
		t.Fatalf("snapshots with commit id %s: %v, want [%d]", commitID, found, snapID)
	}
}

func TestZeroRowBatchRecordsOffsets(t *testing.T) {
	mem := checkedMem(t)
	e := tabletest.NewContractEnv(t, nil)
	ctx := t.Context()
	w := e.Writer(nil, ident)

	// On an empty table (no snapshot yet) and after data.
	for i, from := range []int64{0, 10} {
		if i == 1 {
			if _, err := w.Commit(ctx, batch(t, mem, w, "g", rows(0, 5, 5, currencies, merchants))); err != nil {
				t.Fatal(err)
			}
		}
		res, err := w.Commit(ctx, iceberg.Batch{
			Records: []arrow.RecordBatch{record(t, mem, w.ArrowSchema(), nil)}, // empty record: released, not written
			Group:   "g",
			From:    iceberg.Offsets{tp(0): from},
			To:      iceberg.Offsets{tp(0): from + 5},
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.SnapshotID == 0 || res.Files != 0 || res.Rows != 0 {
			t.Fatalf("zero-row commit result %+v", res)
		}
		if op := w.Table().CurrentSnapshot().Summary.Operation; op != table.OpAppend {
			t.Errorf("operation %s, want append", op)
		}

		off, err := e.Writer(nil, ident).Offsets(ctx, "g")
		if err != nil {
			t.Fatal(err)
		}
		if off[tp(0)] != from+5 {
			t.Fatalf("offsets %v, want %d", off, from+5)
		}
	}
	if got := tabletest.IDs(t, e.Writer(nil, ident).Table()); len(got) != 5 {
		t.Fatalf("%d rows, want 5", len(got))
	}

	// Nothing at all: no snapshot.
	before := w.Table().CurrentSnapshot().SnapshotID
	res, err := w.Commit(ctx, iceberg.Batch{Group: "g"})
	if err != nil || res.SnapshotID != 0 || w.Table().CurrentSnapshot().SnapshotID != before {
		t.Fatalf("empty batch: %+v, %v", res, err)
	}
}

func TestInvalidBatchReleasesRecords(t *testing.T) {
	mem := checkedMem(t)
	e := tabletest.NewContractEnv(t, nil)
	w := e.Writer(nil, ident)
	ctx := t.Context()

	b := batch(t, mem, w, "", rows(0, 0, 3, currencies, merchants))
	if _, err := w.Commit(ctx, b); !errors.Is(err, iceberg.ErrInvalidBatch) {
		t.Fatalf("no group: err = %v", err)
	}
	b = batch(t, mem, w, "g", rows(0, 0, 3, currencies, merchants))
	b.To[tp(0)] = -1
	if _, err := w.Commit(ctx, b); !errors.Is(err, iceberg.ErrInvalidBatch) {
		t.Fatalf("negative offset: err = %v", err)
	}

	// Records in a schema the table does not have.
	sc := arrow.NewSchema([]arrow.Field{{Name: "nope", Type: arrow.BinaryTypes.String}}, nil)
	bld := array.NewRecordBuilder(mem, sc)
	bld.Field(0).(*array.StringBuilder).Append("x")
	rec := bld.NewRecordBatch()
	bld.Release()
	_, err := w.Commit(ctx, iceberg.Batch{Records: []arrow.RecordBatch{rec}, Group: "g", To: iceberg.Offsets{tp(0): 1}})
	if err == nil {
		t.Fatal("foreign schema accepted")
	}
	if off, _ := w.Offsets(ctx, "g"); len(off) != 0 {
		t.Fatalf("offsets %v after failed commits", off)
	}
}

func TestOffsetsFollowOtherWriters(t *testing.T) {
	mem := checkedMem(t)
	e := tabletest.NewContractEnv(t, nil)
	ctx := t.Context()
	a, reader := e.Writer(nil, ident), e.Writer(nil, ident)

	next := int64(0)
	for i := range 4 {
		if _, err := a.Commit(ctx, batch(t, mem, a, "g", rows(int32(i%2), next, 3, currencies, merchants[:1]))); err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			next += 3
		}
		off, err := reader.Offsets(ctx, "g") // incremental walk from the memo
		if err != nil {
			t.Fatal(err)
		}
		if got := off[tp(int32(i%2))]; got != next+func() int64 {
			if i%2 == 0 {
				return 3
			}
			return 0
		}() {
			t.Fatalf("round %d: offsets %v", i, off)
		}
	}
	// Mutating the returned map does not corrupt the memo.
	off, _ := reader.Offsets(ctx, "g")
	off[tp(0)] = 999
	again, _ := reader.Offsets(ctx, "g")
	if again[tp(0)] == 999 {
		t.Fatal("Offsets returned the memoized map")
	}
}

func TestEncodeDecodeOffsets(t *testing.T) {
	in := iceberg.Offsets{tp(0): 1, tp(12): 1 << 40, {Topic: "other", Partition: 3}: 0}
	s, err := iceberg.EncodeOffsets(in)
	if err != nil {
		t.Fatal(err)
	}
	if s != `{"other":{"3":0},"payments.transactions":{"0":1,"12":1099511627776}}` {
		t.Fatalf("encoded %s", s)
	}
	out, err := iceberg.DecodeOffsets(s)
	if err != nil || fmt.Sprint(out) != fmt.Sprint(in) {
		t.Fatalf("round trip %v, %v", out, err)
	}
	if _, err := iceberg.DecodeOffsets(`{"t":{"x":1}}`); err == nil {
		t.Fatal("bad partition accepted")
	}
}
