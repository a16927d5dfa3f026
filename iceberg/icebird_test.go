package iceberg_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	iceberggo "github.com/apache/iceberg-go"
	icecatalog "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/catalog"
	"github.com/floe-io/floe/compaction"
	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/internal/icebirdtest"
	"github.com/floe-io/floe/internal/testserver"
	"github.com/floe-io/floe/schema"
)

// checkIcebird compares what icebird read with the rows produced: the row
// count, the (currency, merchant) partitions in the manifests and in the
// rows, and the per-currency sums of amount.
func checkIcebird(t *testing.T, name string, got icebirdtest.Result, want []row) {
	t.Helper()
	wantParts, gotParts, gotRowParts := map[string]bool{}, map[string]bool{}, map[string]bool{}
	wantSum, gotSum := map[string]int64{}, map[string]int64{}
	for _, r := range want {
		wantParts[r.currency+"\x00"+r.merchant] = true
		wantSum[r.currency] += r.cents
	}
	if len(got.Rows) != len(want) {
		t.Errorf("%s: icebird read %d rows, want %d", name, len(got.Rows), len(want))
	}
	for _, r := range got.Rows {
		cur, _ := r["currency"].(string)
		mer, _ := r["merchant_id"].(string)
		gotRowParts[cur+"\x00"+mer] = true
		cents, ok := icebirdtest.Cents(r["amount"])
		if !ok {
			t.Fatalf("%s: amount %v (%T)", name, r["amount"], r["amount"])
		}
		gotSum[cur] += cents
	}
	var records int64
	for _, f := range got.Files {
		cur, _ := f.Partition["currency"].(string)
		mer, ok := f.Partition["merchant_id"].(string)
		if !ok {
			// A file of a spec without merchant_id: take it from the rows.
			continue
		}
		gotParts[cur+"\x00"+mer] = true
		var n int64
		fmt.Sscan(f.RecordCount, &n)
		records += n
	}
	for p := range wantParts {
		if !gotRowParts[p] {
			t.Errorf("%s: no row of partition %q", name, p)
		}
	}
	for p := range gotParts {
		if !wantParts[p] {
			t.Errorf("%s: manifest partition %q was not produced", name, p)
		}
	}
	if len(gotRowParts) != len(wantParts) {
		t.Errorf("%s: rows in %d partitions, want %d", name, len(gotRowParts), len(wantParts))
	}
	for c, s := range wantSum {
		if gotSum[c] != s {
			t.Errorf("%s: %s sum %d cents, want %d", name, c, gotSum[c], s)
		}
	}
}

// TestTablesReadByIcebird reads floe's tables with icebird: odd merchant
// ids on a local and an S3 warehouse, a compacted table (files written by
// iceberg-go's writer), and a table with files of two partition specs.
func TestTablesReadByIcebird(t *testing.T) {
	ctx := t.Context()
	mem := checkedMem(t)
	dir := t.TempDir()
	var tables []icebirdtest.Table
	var names []string
	var wants [][]row
	add := func(name string, tbl *table.Table, s3 string, want []row) {
		tables = append(tables, icebirdtest.Of(tbl, s3))
		names = append(names, name)
		wants = append(wants, want)
	}
	newTable := func(name, wh string, props map[string]string) (icecatalog.Catalog, *iceberg.Writer) {
		cat := openCat(t, "sqlite://"+filepath.Join(dir, name+".db"), wh, props)
		if _, err := catalog.EnsureTable(ctx, cat, ident, schema.TableSchema(), schema.PartitionSpec(schema.TableSchema()), nil); err != nil {
			t.Fatal(err)
		}
		w, err := iceberg.NewWriter(ctx, cat, ident, noWait()...)
		if err != nil {
			t.Fatal(err)
		}
		return cat, w
	}
	// The long merchant id is left out of the compacted table: iceberg-go's
	// writer (compaction's) cannot write its 400-byte directory name.
	short := oddMerchants[:len(oddMerchants)-1]

	// Odd merchant ids, local warehouse, two commits.
	{
		_, w := newTable("local", filepath.Join(dir, "wh-local"), nil)
		a, b := rows(0, 0, 60, currencies, oddMerchants), rows(0, 60, 45, currencies, oddMerchants)
		commitRows(t, w, mem, a)
		commitRows(t, w, mem, b)
		add("local", w.Table(), "", append(a, b...))
	}
	// The same on S3.
	{
		srv := testserver.StartS3(t)
		srv.CreateBucket(t, "lake")
		_, w := newTable("s3", "s3://lake/wh", srv.Props())
		a := rows(0, 0, 60, currencies, oddMerchants)
		commitRows(t, w, mem, a)
		add("s3", w.Table(), srv.Endpoint, a)
	}
	// Compacted: small files rewritten by iceberg-go's writer.
	{
		cat, w := newTable("compacted", filepath.Join(dir, "wh-compacted"), nil)
		var all []row
		for i := range 3 {
			rs := rows(0, int64(i*30), 30, currencies, short)
			commitRows(t, w, mem, rs)
			all = append(all, rs...)
		}
		comp, err := compaction.New(cat, ident, compaction.Options{SkipExpire: true, SkipOrphans: true})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := comp.RunOnce(ctx)
		if err != nil || rep.FilesRewritten == 0 {
			t.Fatalf("compaction: %+v %v", rep, err)
		}
		tbl, err := cat.LoadTable(ctx, ident)
		if err != nil {
			t.Fatal(err)
		}
		add("compacted", tbl, "", all)
	}
	// Two partition specs: merchant_id dropped from the spec after a commit.
	{
		cat, w := newTable("specs", filepath.Join(dir, "wh-specs"), nil)
		a := rows(0, 0, 30, currencies, oddMerchants)
		commitRows(t, w, mem, a)
		tbl, err := cat.LoadTable(ctx, ident)
		if err != nil {
			t.Fatal(err)
		}
		tx := tbl.NewTransaction()
		if err := tx.UpdateSpec(true).RemoveField("merchant_id").Commit(); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if err := w.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		b := rows(0, 30, 30, currencies, oddMerchants)
		commitRows(t, w, mem, b)
		if n := len(w.Table().Metadata().PartitionSpecs()); n != 2 {
			t.Fatalf("%d partition specs", n)
		}
		add("two specs", w.Table(), "", append(a, b...))
	}

	// Three schema versions (as payment v1 -> v2 -> v3 evolve the table):
	// columns added, one widened, one made optional, a commit under each.
	{
		_, w := newTable("schemas", filepath.Join(dir, "wh-schemas"), nil)
		a := rows(0, 0, 30, currencies, oddMerchants)
		commitRows(t, w, mem, a)
		if err := w.Evolve(ctx, []iceberg.Change{
			{Kind: iceberg.AddColumn, Name: "channel", Type: iceberggo.PrimitiveTypes.String},
			{Kind: iceberg.AddColumn, Name: "fee_bps", Type: iceberggo.PrimitiveTypes.Int32},
		}); err != nil {
			t.Fatal(err)
		}
		b := rows(0, 30, 30, currencies, oddMerchants)
		commitRows(t, w, mem, b)
		if err := w.Evolve(ctx, []iceberg.Change{
			{Kind: iceberg.Widen, Name: "fee_bps", Type: iceberggo.PrimitiveTypes.Int64},
			{Kind: iceberg.AddColumn, Name: "country", Type: iceberggo.PrimitiveTypes.String},
			{Kind: iceberg.MakeOptional, Name: "event_time"},
		}); err != nil {
			t.Fatal(err)
		}
		c := rows(0, 60, 30, currencies, oddMerchants)
		commitRows(t, w, mem, c)
		if n := len(w.Table().Metadata().Schemas()); n != 3 {
			t.Fatalf("%d schemas, want 3", n)
		}
		add("schema versions", w.Table(), "", append(append(a, b...), c...))
	}

	res := icebirdtest.Read(t, tables...)
	for i, r := range res {
		checkIcebird(t, names[i], r, wants[i])
	}
}

// commitRows commits rs as one batch continuing the group's offsets.
func commitRows(t *testing.T, w *iceberg.Writer, mem memory.Allocator, rs []row) {
	t.Helper()
	if _, err := w.Commit(t.Context(), batch(t, mem, w, "g", rs)); err != nil {
		t.Fatal(err)
	}
}
