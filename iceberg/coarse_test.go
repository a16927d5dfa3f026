package iceberg_test

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"

	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/compaction"
	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/internal/icebirdtest"
	"github.com/floe-io/floe/internal/tabletest"
	"github.com/floe-io/floe/schema"
)

// coarseMerchants are 50 merchant ids; with 3 currencies every merchant has
// rows in every currency (rows() pairs them by i mod 3 and i mod 50).
func coarseMerchants() []string {
	out := make([]string, 50)
	for i := range out {
		out[i] = fmt.Sprintf("m-%03d", i)
	}
	return out
}

// liveFiles plans tbl's live data files with iceberg-go, with opts (a row
// filter) applied.
func liveFiles(t *testing.T, tbl *table.Table, opts ...table.ScanOption) []iceberggo.DataFile {
	t.Helper()
	tasks, err := tbl.Scan(opts...).PlanFiles(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := make([]iceberggo.DataFile, len(tasks))
	for i, task := range tasks {
		out[i] = task.File
	}
	return out
}

// TestCoarseLayout writes a table in the coarse layout after a commit in
// the partitioned one, and checks: the coarse spec is added once and not
// made the default; coarse commits write few files per currency of the
// coarse spec, covering disjoint merchant_id ranges; a merchant_id filter
// in iceberg-go's scan planning skips most of them and still finds every
// row of the merchant; the compactor moves every row into the default
// spec, one file per (currency, merchant_id), each row exactly once; and
// iceberg-go and icebird read the same rows before and after.
func TestCoarseLayout(t *testing.T) {
	ctx := t.Context()
	mem := checkedMem(t)
	env := tabletest.NewContractEnv(t, nil)
	cat := env.Open()
	merchants := coarseMerchants()

	// One commit in the partitioned layout first: its small files are
	// merged with the coarse files of their currency.
	plain, err := iceberg.NewWriter(ctx, cat, ident, noWait()...)
	if err != nil {
		t.Fatal(err)
	}
	var all []row
	first := rows(0, 0, 150, currencies, merchants)
	commitRows(t, plain, mem, first)
	all = append(all, first...)

	id, err := iceberg.EnsureCoarseSpec(ctx, cat, ident)
	if err != nil {
		t.Fatal(err)
	}
	again, err := iceberg.EnsureCoarseSpec(ctx, cat, ident)
	if err != nil || again != id {
		t.Fatalf("EnsureCoarseSpec again: %d, %v; want %d", again, err, id)
	}
	tbl, err := cat.LoadTable(ctx, ident)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tbl.Metadata().PartitionSpecs()); n != 2 {
		t.Fatalf("%d partition specs, want 2", n)
	}
	if spec := tbl.Metadata().PartitionSpec(); spec.ID() == id || spec.NumFields() != 2 {
		t.Fatalf("default spec %s; the coarse spec %d must not be the default", spec.String(), id)
	}

	const fileRows = 20
	w, err := iceberg.NewWriter(ctx, cat, ident, append(noWait(), iceberg.WithCoarseLayout(fileRows))...)
	if err != nil {
		t.Fatal(err)
	}
	if why := w.CoarseLayoutReason(); why != "" {
		t.Fatalf("coarse layout not used: %s", why)
	}
	// --max-batch-partitions counts the partitions files are written for.
	if got, want := w.PartitionColumns(), []string{"currency"}; !slices.Equal(got, want) {
		t.Errorf("coarse writer's PartitionColumns = %v, want %v", got, want)
	}
	if got, want := plain.PartitionColumns(), []string{"currency", "merchant_id"}; !slices.Equal(got, want) {
		t.Errorf("partitioned writer's PartitionColumns = %v, want %v", got, want)
	}
	const perCommit = 300 // 100 rows per currency: 5 files of 20 at merchant boundaries
	for i := range 3 {
		rs := rows(0, int64(150+i*perCommit), perCommit, currencies, merchants)
		res, err := w.Commit(ctx, batch(t, mem, w, "g", rs))
		if err != nil {
			t.Fatal(err)
		}
		// 100 rows of 50 merchants per currency, 2 per merchant: cuts
		// at 20 rows land on merchant boundaries, 5 files per currency.
		if res.Files != 15 {
			t.Errorf("commit %d: %d files, want 15 (5 per currency)", i, res.Files)
		}
		all = append(all, rs...)
	}
	tbl = w.Table()

	merchantID := func() int {
		f, ok := tbl.Schema().FindFieldByName("merchant_id")
		if !ok {
			t.Fatal("no merchant_id")
		}
		return f.ID
	}()
	files := liveFiles(t, tbl)
	var coarse []iceberggo.DataFile
	for _, df := range files {
		if df.SpecID() == int32(id) {
			coarse = append(coarse, df)
			if len(df.Partition()) != 1 || df.Partition()[1000] == nil {
				t.Errorf("coarse file %s: partition %v, want only currency", df.FilePath(), df.Partition())
			}
		}
	}
	if len(coarse) != 45 || len(files) != 45+150 {
		t.Fatalf("%d live files, %d of the coarse spec; want 195 and 45", len(files), len(coarse))
	}
	// Within a currency and a commit, the files' merchant ranges are
	// disjoint: sorted by lower bound, each starts after the last ends.
	type span struct{ lo, hi string }
	byKey := map[string][]span{}
	for _, df := range coarse {
		lo, hi := string(df.LowerBoundValues()[merchantID]), string(df.UpperBoundValues()[merchantID])
		if lo == "" || hi == "" || lo > hi {
			t.Fatalf("file %s: merchant_id bounds %q..%q", df.FilePath(), lo, hi)
		}
		// The file name carries the commit's write id: files of one
		// commit share its directory and UUID part.
		key := fmt.Sprint(df.Partition()[1000], "|", writeIDOf(df.FilePath()))
		byKey[key] = append(byKey[key], span{lo, hi})
	}
	for k, spans := range byKey {
		slices.SortFunc(spans, func(a, b span) int {
			if a.lo < b.lo {
				return -1
			}
			return 1
		})
		for i := 1; i < len(spans); i++ {
			if spans[i].lo <= spans[i-1].hi {
				t.Errorf("%s: merchant ranges overlap: %v", k, spans)
				break
			}
		}
	}

	// A merchant_id filter: iceberg-go plans one coarse file per
	// currency and commit (9 of 45), plus the merchant's default-spec
	// files of the first commit.
	const m = "m-007"
	filter := table.WithRowFilter(iceberggo.EqualTo(iceberggo.Reference("merchant_id"), m))
	planned := liveFiles(t, tbl, filter)
	nCoarse := 0
	for _, df := range planned {
		if df.SpecID() == int32(id) {
			nCoarse++
		}
	}
	if nCoarse != 9 {
		t.Errorf("merchant_id = %s planned %d of 45 coarse files, want 9 (one per currency per commit)", m, nCoarse)
	}
	wantM := 0
	for _, r := range all {
		if r.merchant == m {
			wantM++
		}
	}
	if got := len(tabletest.IDs(t, tbl, filter)); got != wantM {
		t.Errorf("merchant_id = %s read %d rows, want %d", m, got, wantM)
	}

	checkIDs := func(name string, tbl *table.Table) {
		t.Helper()
		got := tabletest.RowsByID(t, tbl)
		if len(got) != len(all) {
			t.Errorf("%s: %d rows, want %d", name, len(got), len(all))
		}
		for _, r := range all {
			g, ok := got[r.id]
			if !ok {
				t.Errorf("%s: row %s missing", name, r.id)
				continue
			}
			if g["merchant_id"] != r.merchant || g["currency"] != r.currency || g["_kafka_offset"] != itoa(r.offset) {
				t.Errorf("%s: row %s is %v", name, r.id, g)
			}
		}
	}
	checkIDs("coarse, before compaction", tbl)
	before := tabletest.Lines(t, tbl)

	comp, err := compaction.New(cat, ident, compaction.Options{SkipExpire: true, SkipOrphans: true})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := comp.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.FilesRewritten != 195 {
		t.Errorf("compaction rewrote %d files, want all 195 (coarse files and the small default-spec files of their currencies)", rep.FilesRewritten)
	}
	after, err := cat.LoadTable(ctx, ident)
	if err != nil {
		t.Fatal(err)
	}
	files = liveFiles(t, after)
	parts := map[string]bool{}
	for _, df := range files {
		if df.SpecID() != int32(after.Metadata().DefaultPartitionSpec()) {
			t.Errorf("file %s of spec %d left after compaction", df.FilePath(), df.SpecID())
		}
		parts[fmt.Sprint(df.Partition())] = true
	}
	if len(files) != 150 || len(parts) != 150 {
		t.Errorf("after compaction: %d files in %d partitions, want 150 in 150", len(files), len(parts))
	}
	checkIDs("after compaction", after)
	if got := tabletest.Lines(t, after); !slices.Equal(got, before) {
		t.Errorf("rows differ after compaction: %d lines before, %d after", len(before), len(got))
	}
	if planned := liveFiles(t, after, filter); len(planned) != 3 {
		t.Errorf("after compaction merchant_id = %s planned %d files, want 3", m, len(planned))
	}
	// A second run finds nothing to do.
	rep, err = comp.RunOnce(ctx)
	if err != nil || rep.FilesRewritten != 0 {
		t.Errorf("second run: %d files rewritten, %v", rep.FilesRewritten, err)
	}
	// The rewrite left the coarse spec's manifests with DELETED entries
	// only; merging manifests must pass them by, not write an empty
	// manifest of them (a 10,000-merchant soak's run failed so).
	merge, err := compaction.New(cat, ident, compaction.Options{SkipExpire: true, SkipOrphans: true, SkipRewrite: true, ManifestMergeMin: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := merge.RunOnce(ctx); err != nil {
		t.Errorf("manifest merge after moving the coarse files: %v (report %+v)", err, rep)
	}

	res := icebirdtest.Read(t, icebirdtest.Of(tbl, ""), icebirdtest.Of(after, ""))
	checkIcebird(t, "icebird, coarse", res[0], all)
	checkIcebird(t, "icebird, compacted", res[1], all)
	for i, r := range res {
		ids := map[string]int{}
		for _, row := range r.Rows {
			id, _ := row["transaction_id"].(string)
			ids[id]++
		}
		for _, want := range all {
			if ids[want.id] != 1 {
				t.Errorf("icebird table %d: row %s read %d times", i, want.id, ids[want.id])
			}
		}
	}
}

// writeIDOf is the write id (a UUID) in a lean data file's name,
// <worker>-<task>-<write id>-<group>.parquet.
func writeIDOf(p string) string {
	parts := strings.Split(path.Base(p), "-")
	if len(parts) < 8 {
		return p
	}
	return strings.Join(parts[2:7], "-")
}

// TestAutoLayout checks --ingest-layout auto: a commit spanning no more
// default-spec partitions than the threshold is written one file per
// partition in the default spec, a larger one in the coarse spec (files per
// currency, disjoint merchant ranges), and every row is read back once.
func TestAutoLayout(t *testing.T) {
	ctx := t.Context()
	mem := checkedMem(t)
	env := tabletest.NewContractEnv(t, nil)
	cat := env.Open()
	merchants := coarseMerchants()
	coarseID, err := iceberg.EnsureCoarseSpec(ctx, cat, ident)
	if err != nil {
		t.Fatal(err)
	}
	const above = 100
	w, err := iceberg.NewWriter(ctx, cat, ident, append(noWait(), iceberg.WithAutoLayout(20, above))...)
	if err != nil {
		t.Fatal(err)
	}
	if why := w.CoarseLayoutReason(); why != "" {
		t.Fatalf("coarse layout not available: %s", why)
	}
	if got, want := w.PartitionColumns(), []string{"currency"}; !slices.Equal(got, want) {
		t.Errorf("auto writer's PartitionColumns = %v, want %v", got, want)
	}
	specs := func(files []iceberggo.DataFile) (def, coarse int) {
		for _, df := range files {
			if df.SpecID() == int32(coarseID) {
				coarse++
			} else {
				def++
			}
		}
		return def, coarse
	}
	var all []row
	cases := []struct {
		name              string
		n                 int
		merchants         []string
		wantDef, wantCrse int
	}{
		// 3 currencies x 10 merchants: 30 partitions, at most 100.
		{"30 partitions", 60, merchants[:10], 30, 0},
		// 3 x 34 = 102 partitions (each once): 34 rows per currency,
		// cut at 20 rows: 2 files per currency.
		{"102 partitions", 102, merchants[:34], 0, 6},
		// 3 x 50 = 150 partitions, 100 rows per currency: 5 files each.
		{"150 partitions", 300, merchants, 0, 15},
		// 3 x 32 = 96 partitions (rows pair i mod 3 with i mod 32).
		{"96 partitions", 96, merchants[:32], 96, 0},
	}
	var offset int64
	for _, c := range cases {
		before := liveFiles(t, w.Table())
		rs := rows(0, offset, c.n, currencies, c.merchants)
		offset += int64(c.n)
		if _, err := w.Commit(ctx, batch(t, mem, w, "g", rs)); err != nil {
			t.Fatal(err)
		}
		all = append(all, rs...)
		after := liveFiles(t, w.Table())
		bd, bc := specs(before)
		ad, ac := specs(after)
		if ad-bd != c.wantDef || ac-bc != c.wantCrse {
			t.Errorf("%s: %d default-spec and %d coarse files, want %d and %d", c.name, ad-bd, ac-bc, c.wantDef, c.wantCrse)
		}
	}
	got := tabletest.RowsByID(t, w.Table())
	if len(got) != len(all) {
		t.Errorf("%d rows, want %d", len(got), len(all))
	}
	for _, r := range all {
		g, ok := got[r.id]
		if !ok || g["merchant_id"] != r.merchant || g["currency"] != r.currency {
			t.Errorf("row %s: %v", r.id, g)
		}
	}
}

// TestAutoLayoutWithoutCoarseSpec: a table partitioned by currency alone
// cannot have a coarse spec. EnsureCoarseSpec says so with ErrNoCoarseSpec
// (floe run's default layout then writes partitioned instead of failing),
// and a writer asked for the auto layout writes the default spec.
func TestAutoLayoutWithoutCoarseSpec(t *testing.T) {
	ctx := t.Context()
	env := tabletest.NewEnv(t)
	sc := schema.TableSchema()
	cur, ok := sc.FindFieldByName("currency")
	if !ok {
		t.Fatal("no currency column")
	}
	spec := iceberggo.NewPartitionSpec(iceberggo.PartitionField{SourceIDs: []int{cur.ID}, FieldID: 1000, Name: "currency", Transform: iceberggo.IdentityTransform{}})
	env.CreateTable(ident, sc, spec, nil)
	cat := env.Open()
	if _, err := iceberg.EnsureCoarseSpec(ctx, cat, ident); !errors.Is(err, iceberg.ErrNoCoarseSpec) {
		t.Fatalf("EnsureCoarseSpec on a one-field spec: %v, want ErrNoCoarseSpec", err)
	}
	w, err := iceberg.NewWriter(ctx, cat, ident, append(noWait(), iceberg.WithAutoLayout(20, 1))...)
	if err != nil {
		t.Fatal(err)
	}
	if w.WritesCoarse() || w.CoarseLayoutReason() == "" {
		t.Errorf("WritesCoarse %v, reason %q: want the default spec and a reason", w.WritesCoarse(), w.CoarseLayoutReason())
	}
	mem := checkedMem(t)
	rs := rows(0, 0, 30, currencies, coarseMerchants()[:10])
	if _, err := w.Commit(ctx, batch(t, mem, w, "g", rs)); err != nil {
		t.Fatal(err)
	}
	if files := liveFiles(t, w.Table()); len(files) != 3 {
		t.Errorf("%d files, want 3 (one per currency, the table's spec)", len(files))
	}
}
