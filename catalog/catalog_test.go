package catalog_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/catalog"
)

func testSchema() *iceberggo.Schema {
	return iceberggo.NewSchema(0,
		iceberggo.NestedField{ID: 1, Name: "transaction_id", Type: iceberggo.PrimitiveTypes.String, Required: true},
		iceberggo.NestedField{ID: 2, Name: "event_time", Type: iceberggo.PrimitiveTypes.TimestampTz, Required: true},
		iceberggo.NestedField{ID: 3, Name: "amount", Type: iceberggo.DecimalTypeOf(18, 2)},
		iceberggo.NestedField{ID: 4, Name: "currency", Type: iceberggo.PrimitiveTypes.String},
		iceberggo.NestedField{ID: 5, Name: "merchant_id", Type: iceberggo.PrimitiveTypes.String},
	)
}

func testSpec() iceberggo.PartitionSpec {
	return iceberggo.NewPartitionSpec(
		iceberggo.PartitionField{SourceIDs: []int{4}, FieldID: 1000, Name: "currency", Transform: iceberggo.IdentityTransform{}},
		iceberggo.PartitionField{SourceIDs: []int{5}, FieldID: 1001, Name: "merchant_id", Transform: iceberggo.IdentityTransform{}},
	)
}

func closeCat(t *testing.T, c any) {
	t.Helper()
	cl, ok := c.(io.Closer)
	if !ok {
		t.Fatalf("catalog %T does not implement io.Closer", c)
	}
	t.Cleanup(func() {
		if err := cl.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if err := cl.Close(); err != nil {
			t.Errorf("second close: %v", err)
		}
	})
}

func TestOpenAbsoluteCreatesDirectories(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "nested", "dir with space", "catalog.db")
	wh := filepath.Join(dir, "wh")

	cat, err := catalog.Open(t.Context(), "sqlite://"+dbPath, "file://"+wh, nil)
	if err != nil {
		t.Fatal(err)
	}
	closeCat(t, cat)

	if _, err := os.Stat(dbPath); err != nil {
		t.Fatalf("catalog file: %v", err)
	}
	if fi, err := os.Stat(wh); err != nil || !fi.IsDir() {
		t.Fatalf("warehouse dir: %v", err)
	}
}

func TestOpenRelativePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)

	cat, err := catalog.Open(t.Context(), "sqlite://state/catalog.db", "warehouse", nil)
	if err != nil {
		t.Fatal(err)
	}
	closeCat(t, cat)

	if _, err := os.Stat(filepath.Join(dir, "state", "catalog.db")); err != nil {
		t.Fatalf("relative catalog file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "warehouse")); err != nil {
		t.Fatalf("relative warehouse: %v", err)
	}
}

func TestOpenRejectsUnknownSchemes(t *testing.T) {
	for _, uri := range []string{"", "mysql://u:secret@x/db", "ftp://x?token=secret", "catalog.db"} {
		_, err := catalog.Open(t.Context(), uri, t.TempDir(), nil)
		if !errors.Is(err, catalog.ErrUnsupportedURI) {
			t.Errorf("%q: err = %v, want ErrUnsupportedURI", uri, err)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("%q: error leaks the password: %v", uri, err)
		}
		if !strings.Contains(err.Error(), "catalog.uri") {
			t.Errorf("%q: error does not name the option: %v", uri, err)
		}
	}
}

func TestEnsureTableCreatesThenLoads(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	cat, err := catalog.Open(ctx, "sqlite://"+filepath.Join(dir, "catalog.db"), filepath.Join(dir, "wh"), nil)
	if err != nil {
		t.Fatal(err)
	}
	closeCat(t, cat)

	ident, err := catalog.ParseIdentifier("payments.transactions")
	if err != nil {
		t.Fatal(err)
	}

	tbl, err := catalog.EnsureTable(ctx, cat, ident, testSchema(), testSpec(), iceberggo.Properties{"owner": "floe"})
	if err != nil {
		t.Fatal(err)
	}
	md := tbl.Metadata()
	if v := md.Version(); v != 2 {
		t.Errorf("format version = %d, want 2", v)
	}
	props := tbl.Properties()
	for k, want := range map[string]string{
		"write.parquet.compression-codec": "zstd",
		"write.parquet.compression-level": "1",
		"owner":                           "floe",
	} {
		if got := props[k]; got != want {
			t.Errorf("property %s = %q, want %q", k, got, want)
		}
	}
	if spec := tbl.Spec(); spec.NumFields() != 2 {
		t.Errorf("partition fields = %d, want 2", spec.NumFields())
	}
	if !strings.HasPrefix(tbl.Location(), "file://"+filepath.ToSlash(dir)) {
		t.Errorf("location %q not under the warehouse", tbl.Location())
	}

	again, err := catalog.EnsureTable(ctx, cat, ident, testSchema(), testSpec(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Metadata().TableUUID() != md.TableUUID() {
		t.Error("second EnsureTable created a new table")
	}
}

func TestEnsureTableConcurrentProcesses(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	uri := "sqlite://" + filepath.Join(dir, "catalog.db")
	ident := table.Identifier{"payments", "transactions"}

	const n = 4
	var (
		wg    sync.WaitGroup
		uuids = make([]string, n)
		errs  = make([]error, n)
	)
	for i := range n {
		// One catalog per goroutine stands in for one process each.
		cat, err := catalog.Open(ctx, uri, filepath.Join(dir, "wh"), nil)
		if err != nil {
			t.Fatal(err)
		}
		closeCat(t, cat)
		wg.Go(func() {
			tbl, err := catalog.EnsureTable(ctx, cat, ident, testSchema(), testSpec(), nil)
			if err != nil {
				errs[i] = err
				return
			}
			uuids[i] = tbl.Metadata().TableUUID().String()
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("writer %d: %v", i, errs[i])
		}
		if uuids[i] != uuids[0] {
			t.Fatalf("writer %d saw table %s, writer 0 saw %s", i, uuids[i], uuids[0])
		}
	}
}

func TestOpenMemory(t *testing.T) {
	ctx := t.Context()
	cat, err := catalog.Open(ctx, "sqlite::memory:", t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	closeCat(t, cat)
	ident := table.Identifier{"payments", "transactions"}
	if _, err := catalog.EnsureTable(ctx, cat, ident, testSchema(), testSpec(), nil); err != nil {
		t.Fatal(err)
	}

	// A second in-memory catalog is private: it does not see the table.
	other, err := catalog.Open(ctx, "sqlite::memory:", t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	closeCat(t, other)
	ok, err := other.CheckTableExists(ctx, ident)
	if err == nil && ok {
		t.Fatal("in-memory catalogs share state")
	}
}

func TestParseIdentifier(t *testing.T) {
	got, err := catalog.ParseIdentifier("payments.transactions")
	if err != nil || len(got) != 2 || got[0] != "payments" || got[1] != "transactions" {
		t.Fatalf("ParseIdentifier = %v, %v", got, err)
	}
	for _, bad := range []string{"", "transactions", "payments.", ".t", "a..b"} {
		if _, err := catalog.ParseIdentifier(bad); err == nil {
			t.Errorf("ParseIdentifier(%q) accepted", bad)
		}
	}
}
