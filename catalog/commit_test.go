package catalog_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	icecatalog "github.com/apache/iceberg-go/catalog"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/catalog"
	"github.com/floe-io/floe/internal/testserver"
)

type onCommitter interface {
	CommitTableOn(ctx context.Context, ident table.Identifier, base table.Metadata, baseLoc string, fsys icebergio.IO,
		reqs []table.Requirement, updates []table.Update) (table.Metadata, string, error)
}

// TestCommitTableOn: a commit on the metadata the caller holds lands without
// reading the table's metadata.json (the test deletes it first), and one on
// metadata that is no longer current lands through CommitTable on top of the
// commit that moved the table, leaving no stray metadata file; on SQLite and
// PostgreSQL.
func TestCommitTableOn(t *testing.T) {
	uris := map[string]func(t *testing.T) string{
		"sqlite": func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "catalog.db") },
	}
	if !testing.Short() {
		uris["postgres"] = func(t *testing.T) string { return testserver.StartPostgres(t).NewDatabase(t) }
	}
	for name, uri := range uris {
		t.Run(name, func(t *testing.T) { testCommitTableOn(t, uri(t)) })
	}
}

func testCommitTableOn(t *testing.T, uri string) {
	ctx := t.Context()
	wh := t.TempDir()
	cat, err := catalog.Open(ctx, uri, wh, nil)
	if err != nil {
		t.Fatal(err)
	}
	closeCat(t, cat)
	oc, ok := cat.(onCommitter)
	if !ok {
		t.Fatalf("SQL catalog %T has no CommitTableOn", cat)
	}
	ident := table.Identifier{"payments", "transactions"}
	base, err := catalog.EnsureTable(ctx, cat, ident, testSchema(), testSpec(), nil)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := base.FS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	reqs := []table.Requirement{table.AssertTableUUID(base.Metadata().TableUUID())}
	set := func(k, v string) []table.Update {
		return []table.Update{table.NewSetPropertiesUpdate(map[string]string{k: v})}
	}

	// Held metadata is current: no load. Without the file a load fails.
	if err := os.Remove(localPath(t, base.MetadataLocation())); err != nil {
		t.Fatal(err)
	}
	md1, loc1, err := oc.CommitTableOn(ctx, ident, base.Metadata(), base.MetadataLocation(), fsys, reqs, set("a", "1"))
	if err != nil {
		t.Fatalf("commit on the held metadata: %v", err)
	}
	if got, want := md1.Properties()["a"], "1"; got != want {
		t.Errorf("returned metadata: a = %q, want %q", got, want)
	}
	tbl, err := cat.LoadTable(ctx, ident)
	if err != nil {
		t.Fatal(err)
	}
	if tbl.MetadataLocation() != loc1 || tbl.Properties()["a"] != "1" {
		t.Errorf("catalog points at %s (a = %q), want %s (a = 1)", tbl.MetadataLocation(), tbl.Properties()["a"], loc1)
	}
	if !strings.Contains(loc1, "/00001-") {
		t.Errorf("new metadata %s: want version 1", loc1)
	}
	var logged []string
	for e := range tbl.Metadata().PreviousFiles() {
		logged = append(logged, e.MetadataFile)
	}
	if len(logged) != 1 || logged[0] != base.MetadataLocation() {
		t.Errorf("metadata log %v, want [%s]", logged, base.MetadataLocation())
	}

	// Another writer moves the table; a commit on the stale metadata lands
	// through CommitTable, after it, and removes the file it wrote first.
	if _, _, err := cat.CommitTable(ctx, ident, reqs, set("b", "2")); err != nil {
		t.Fatal(err)
	}
	_, loc3, err := oc.CommitTableOn(ctx, ident, md1, loc1, fsys, reqs, set("c", "3"))
	if err != nil {
		t.Fatalf("commit on stale metadata: %v", err)
	}
	tbl, err = cat.LoadTable(ctx, ident)
	if err != nil {
		t.Fatal(err)
	}
	props := tbl.Properties()
	if tbl.MetadataLocation() != loc3 || props["a"] != "1" || props["b"] != "2" || props["c"] != "3" {
		t.Errorf("after the stale commit: %s with a=%q b=%q c=%q, want %s with 1 2 3", tbl.MetadataLocation(), props["a"], props["b"], props["c"], loc3)
	}
	files, err := filepath.Glob(filepath.Join(filepath.Dir(localPath(t, loc3)), "*.metadata.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 { // versions 1, 2, 3; version 0 removed above
		t.Errorf("metadata files %v, want versions 1-3 only", files)
	}

	// A requirement the table fails is CommitTable's error.
	stale := []table.Requirement{table.AssertTableUUID([16]byte{1})}
	if _, _, err := oc.CommitTableOn(ctx, ident, tbl.Metadata(), tbl.MetadataLocation(), fsys, stale, set("d", "4")); err == nil {
		t.Error("commit with a failing requirement: nil error")
	}

	var _ icecatalog.Catalog = cat
}

func localPath(t *testing.T, loc string) string {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil || u.Scheme != "file" {
		t.Fatalf("metadata location %q is not a file URL", loc)
	}
	return u.Path
}
