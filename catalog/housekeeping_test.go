package catalog_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	iceberggo "github.com/apache/iceberg-go"
	icecatalog "github.com/apache/iceberg-go/catalog"

	"github.com/floe-io/floe/catalog"
)

func TestEnsureTableWithoutCreate(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	cat, err := catalog.Open(ctx, "sqlite://"+filepath.Join(dir, "catalog.db"), filepath.Join(dir, "wh"), nil)
	if err != nil {
		t.Fatal(err)
	}
	closeCat(t, cat)
	ident, _ := catalog.ParseIdentifier("payments.transactions")

	_, err = catalog.EnsureTable(ctx, cat, ident, testSchema(), testSpec(), nil, catalog.WithCreate(false))
	if !errors.Is(err, catalog.ErrNoTable) || !strings.Contains(err.Error(), "payments.transactions") || !strings.Contains(err.Error(), "--auto-create") {
		t.Fatalf("missing table without create: %v", err)
	}
	if ok, err := cat.CheckNamespaceExists(ctx, icecatalog.NamespaceFromIdent(ident)); err != nil || ok {
		t.Fatalf("namespace created anyway (%v, %v)", ok, err)
	}
	if _, err := cat.LoadTable(ctx, ident); err == nil {
		t.Fatal("table created anyway")
	}

	created, err := catalog.EnsureTable(ctx, cat, ident, testSchema(), testSpec(), nil, catalog.WithCreate(true))
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := catalog.EnsureTable(ctx, cat, ident, testSchema(), testSpec(), nil, catalog.WithCreate(false))
	if err != nil || loaded.Metadata().TableUUID() != created.Metadata().TableUUID() {
		t.Fatalf("existing table without create: %v", err)
	}
}

// TestSupersededMetadataDeleted: tables floe creates keep only the current
// metadata.json and write.metadata.previous-versions-max before it;
// iceberg-go's commit deletes the rest.
func TestSupersededMetadataDeleted(t *testing.T) {
	for _, tc := range []struct {
		name  string
		props iceberggo.Properties
		want  int // metadata files after the commits
	}{
		{"defaults", nil, catalog.DefaultPreviousVersionsMax + 1},
		{"max 3", iceberggo.Properties{"write.metadata.previous-versions-max": "3"}, 4},
		{"delete off", iceberggo.Properties{"write.metadata.delete-after-commit.enabled": "false"}, 31},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ctx := t.Context()
			cat, err := catalog.Open(ctx, "sqlite://"+filepath.Join(dir, "catalog.db"), filepath.Join(dir, "wh"), nil)
			if err != nil {
				t.Fatal(err)
			}
			closeCat(t, cat)
			ident, _ := catalog.ParseIdentifier("payments.transactions")
			tbl, err := catalog.EnsureTable(ctx, cat, ident, testSchema(), testSpec(), tc.props)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 30 {
				tx := tbl.NewTransaction()
				if err := tx.SetProperties(iceberggo.Properties{"n": strconv.Itoa(i)}); err != nil {
					t.Fatal(err)
				}
				if tbl, err = tx.Commit(ctx); err != nil {
					t.Fatal(err)
				}
			}
			mdDir := filepath.Dir(strings.TrimPrefix(tbl.MetadataLocation(), "file://"))
			ents, err := os.ReadDir(mdDir)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, e := range ents {
				if strings.HasSuffix(e.Name(), ".metadata.json") {
					n++
				}
			}
			if n != tc.want {
				t.Fatalf("%d metadata files after 31 versions, want %d", n, tc.want)
			}
			if tc.props == nil {
				for k, want := range map[string]string{
					"history.expire.max-snapshot-age-ms":   "600000",
					"history.expire.min-snapshots-to-keep": "100",
				} {
					if got := tbl.Properties()[k]; got != want {
						t.Errorf("%s = %q, want %q", k, got, want)
					}
				}
			}
			// Every file the metadata log names still exists.
			for e := range tbl.Metadata().PreviousFiles() {
				if _, err := os.Stat(strings.TrimPrefix(e.MetadataFile, "file://")); err != nil {
					t.Fatalf("metadata log names a deleted file: %v", err)
				}
			}
		})
	}
}
