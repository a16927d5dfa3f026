package iceberg_test

import (
	"os"
	"path/filepath"
	"testing"

	icebergio "github.com/apache/iceberg-go/io"

	"github.com/floe-io/floe/catalog"
	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/internal/fileio"
	"github.com/floe-io/floe/internal/tabletest"
	"github.com/floe-io/floe/internal/testserver"
	"github.com/floe-io/floe/schema"
)

// TestCheckLocationsRepairsOldLayout builds a table as old floe versions
// left it (data files of escaped merchant ids at the percent-decoded path),
// checks floe still reads it, that CheckLocations reports exactly those
// files, that repair moves them to their literal locations, and that a
// file at neither path is reported missing.
func TestCheckLocationsRepairsOldLayout(t *testing.T) {
	e := tabletest.NewContractEnv(t, nil)
	w := e.Writer(nil, ident)
	mem := checkedMem(t)
	rs := rows(0, 0, 60, currencies, merchants)
	if _, err := w.Commit(t.Context(), batch(t, mem, w, "g", rs)); err != nil {
		t.Fatal(err)
	}
	want := len(tabletest.IDs(t, w.Table()))
	moved := map[string]bool{}
	for _, df := range dataFiles(t, w.Table()) {
		legacy, ok := fileio.LegacyLocation(df.FilePath())
		if !ok {
			continue
		}
		dst := literalPath(t, legacy)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(literalPath(t, df.FilePath()), dst); err != nil {
			t.Fatal(err)
		}
		moved[df.FilePath()] = true
	}
	if len(moved) == 0 {
		t.Fatal("no merchant id needs escaping")
	}
	if got := len(tabletest.IDs(t, w.Table())); got != want {
		t.Fatalf("old-layout table reads %d rows, want %d", got, want)
	}

	rep, err := iceberg.CheckLocations(t.Context(), w.Table(), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Misplaced) != len(moved) || len(rep.Missing) != 0 || rep.Repaired != 0 {
		t.Fatalf("check: %d misplaced, %d missing, %d repaired; want %d, 0, 0", len(rep.Misplaced), len(rep.Missing), rep.Repaired, len(moved))
	}
	for _, m := range rep.Misplaced {
		if !moved[m.Location] || m.Kind != iceberg.KindData {
			t.Errorf("reported %s %s, not one of the moved files", m.Kind, m.Location)
		}
	}

	rep, err = iceberg.CheckLocations(t.Context(), w.Table(), true)
	if err != nil || rep.Repaired != len(moved) {
		t.Fatalf("repair: %d repaired of %d: %v", rep.Repaired, len(moved), err)
	}
	for loc := range moved {
		if _, err := os.Stat(literalPath(t, loc)); err != nil {
			t.Errorf("not repaired: %v", err)
		}
	}
	rep, err = iceberg.CheckLocations(t.Context(), w.Table(), false)
	if err != nil || len(rep.Misplaced)+len(rep.Missing) != 0 || rep.Files == 0 {
		t.Fatalf("after repair: %+v %v", rep, err)
	}
	if got := len(tabletest.IDs(t, w.Table())); got != want {
		t.Fatalf("repaired table reads %d rows, want %d", got, want)
	}

	for loc := range moved {
		if err := os.Remove(literalPath(t, loc)); err != nil {
			t.Fatal(err)
		}
		break
	}
	rep, err = iceberg.CheckLocations(t.Context(), w.Table(), true)
	if err != nil || len(rep.Missing) != 1 || len(rep.Misplaced) != 0 {
		t.Fatalf("a deleted file: %d missing, %d misplaced: %v", len(rep.Missing), len(rep.Misplaced), err)
	}
}

// TestCheckLocationsS3 moves a data file's object to its percent-decoded
// key (where a decoding S3 client would have put it) and checks floe
// doctor's check finds and repairs it on S3.
func TestCheckLocationsS3(t *testing.T) {
	srv := testserver.StartS3(t)
	srv.CreateBucket(t, "lake")
	dir := t.TempDir()
	cat := openCat(t, "sqlite://"+filepath.Join(dir, "c.db"), "s3://lake/wh", srv.Props())
	if _, err := catalog.EnsureTable(t.Context(), cat, ident, schema.TableSchema(), schema.PartitionSpec(schema.TableSchema()), nil); err != nil {
		t.Fatal(err)
	}
	w, err := iceberg.NewWriter(t.Context(), cat, ident, noWait()...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(t.Context(), batch(t, checkedMem(t), w, "g", rows(0, 0, 30, currencies, oddMerchants))); err != nil {
		t.Fatal(err)
	}
	fsys, err := w.Table().FS(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var loc, legacy string
	for _, df := range dataFiles(t, w.Table()) {
		if l, ok := fileio.LegacyLocation(df.FilePath()); ok {
			loc, legacy = df.FilePath(), l
			break
		}
	}
	b, err := fsys.(icebergio.ReadFileIO).ReadFile(loc)
	if err != nil {
		t.Fatal(err)
	}
	// Put it where an old floe wrote it: through the same object-store IO
	// (which escapes control characters in keys its own way), at the
	// decoded key.
	if err := fsys.(icebergio.WriteFileIO).WriteFile(legacy, b); err != nil {
		t.Fatal(err)
	}
	if err := fsys.Remove(loc); err != nil {
		t.Fatal(err)
	}
	rep, err := iceberg.CheckLocations(t.Context(), w.Table(), false)
	if err != nil || len(rep.Misplaced) != 1 || rep.Misplaced[0].Location != loc || rep.Misplaced[0].At != legacy {
		t.Fatalf("check: %+v %v", rep, err)
	}
	if rep, err = iceberg.CheckLocations(t.Context(), w.Table(), true); err != nil || rep.Repaired != 1 {
		t.Fatalf("repair: %+v %v", rep, err)
	}
	if rep, err = iceberg.CheckLocations(t.Context(), w.Table(), false); err != nil || len(rep.Misplaced)+len(rep.Missing) != 0 {
		t.Fatalf("after repair: %+v %v", rep, err)
	}
	for _, k := range srv.Objects(t, "lake", "") {
		if "s3://lake/"+k == legacy {
			t.Errorf("the decoded copy %s is still there", k)
		}
	}
}
