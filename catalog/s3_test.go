package catalog_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/iceberg-go/table"
	"github.com/apache/iceberg-go/table/compaction"

	"github.com/floe-io/floe/catalog"
	"github.com/floe-io/floe/internal/testserver"
)

func TestS3WarehouseMissingBucket(t *testing.T) {
	srv := testserver.StartS3(t)
	_, err := catalog.Open(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "c.db"), "s3://no-such-bucket/wh", srv.Props())
	if !errors.Is(err, catalog.ErrBucketNotFound) {
		t.Fatalf("err = %v, want ErrBucketNotFound", err)
	}
	if !strings.Contains(err.Error(), "no-such-bucket") {
		t.Errorf("error does not name the bucket: %v", err)
	}
	if strings.Contains(err.Error(), srv.SecretAccessKey) {
		t.Errorf("error leaks the secret key: %v", err)
	}
}

// TestS3WarehouseAccessDenied talks to a server that refuses every request
// the way S3 does (403 with an AccessDenied XML body).
func TestS3WarehouseAccessDenied(t *testing.T) {
	denied := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		if r.Method != http.MethodHead {
			_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`))
		}
	}))
	t.Cleanup(denied.Close)
	props := map[string]string{
		catalog.PropS3Endpoint: denied.URL, catalog.PropS3Region: "us-east-1",
		catalog.PropS3AccessKeyID: "AKIDEXAMPLE", catalog.PropS3SecretAccessKey: "do-not-print-me",
	}
	err := catalog.CheckWarehouse(t.Context(), "s3://locked/wh", props)
	if !errors.Is(err, catalog.ErrAccessDenied) {
		t.Fatalf("err = %v, want ErrAccessDenied", err)
	}
	if strings.Contains(err.Error(), "do-not-print-me") {
		t.Errorf("error leaks the secret key: %v", err)
	}
}

func TestS3WarehouseHalfStaticKeys(t *testing.T) {
	srv := testserver.StartS3(t)
	srv.CreateBucket(t, "b")
	props := srv.Props()
	delete(props, catalog.PropS3SecretAccessKey)
	if err := catalog.CheckWarehouse(t.Context(), "s3://b/wh", props); err == nil {
		t.Fatal("an access key without a secret key was accepted")
	}
}

func TestS3WarehouseCheckLeavesNoProbe(t *testing.T) {
	srv := testserver.StartS3(t)
	srv.CreateBucket(t, "b")
	if err := catalog.CheckWarehouse(t.Context(), "s3://b/wh", srv.Props()); err != nil {
		t.Fatal(err)
	}
	if keys := srv.Objects(t, "b", ""); len(keys) != 0 {
		t.Fatalf("probe objects left behind: %v", keys)
	}
}

// TestS3CompactionAndOrphanCleanup runs the maintenance primitives floe's
// compaction uses against an S3 warehouse: rewriting small files, expiring
// snapshots and deleting files no snapshot references.
func TestS3CompactionAndOrphanCleanup(t *testing.T) {
	srv := testserver.StartS3(t)
	srv.CreateBucket(t, "floe-wh")
	open := opener(t, "sqlite://"+filepath.Join(t.TempDir(), "catalog.db"), "s3://floe-wh/warehouse", srv.Props())
	ctx := t.Context()
	ensureContractTable(t, open())
	w := newWriter(t, open())
	const commits = 4
	for i := range commits {
		if _, err := w.Commit(ctx, contractBatch(t, w, "g", 0, int64(10*i), 10)); err != nil {
			t.Fatal(err)
		}
	}
	tbl := w.Table()
	before := dataFiles(t, tbl)
	if len(before) != 2*commits {
		t.Fatalf("%d data files before compaction, want %d", len(before), 2*commits)
	}

	// Compact: every partition's small files into one.
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := compaction.DefaultConfig()
	cfg.MinInputFiles = 2
	plan, err := cfg.PlanCompaction(tasks)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Groups) != 2 {
		t.Fatalf("compaction plan has %d groups, want 2 (one per partition)", len(plan.Groups))
	}
	groups := make([]table.CompactionTaskGroup, 0, len(plan.Groups))
	for _, g := range plan.Groups {
		groups = append(groups, table.CompactionTaskGroup{PartitionKey: g.PartitionKey, Tasks: g.Tasks, TotalSizeBytes: g.TotalSizeBytes})
	}
	tx := tbl.NewTransaction()
	if _, err := tx.RewriteDataFiles(ctx, groups, table.RewriteDataFilesOptions{}); err != nil {
		t.Fatalf("rewrite data files on S3: %v", err)
	}
	if tbl, err = tx.Commit(ctx); err != nil {
		t.Fatalf("commit the rewrite: %v", err)
	}
	after := dataFiles(t, tbl)
	if len(after) != 2 {
		t.Fatalf("%d data files after compaction, want 2", len(after))
	}
	if got := totalRecords(t, tbl); got != "40" {
		t.Fatalf("total-records %s after compaction, want 40", got)
	}

	// Expire the old snapshots, then plant an orphan and clean up.
	tx = tbl.NewTransaction()
	if err := tx.ExpireSnapshots(table.WithRetainLast(1), table.WithOlderThan(0)); err != nil {
		t.Fatal(err)
	}
	if tbl, err = tx.Commit(ctx); err != nil {
		t.Fatalf("expire snapshots: %v", err)
	}
	loc := strings.TrimPrefix(tbl.Location(), "s3://floe-wh/")
	orphan := loc + "/data/orphan-from-a-crashed-writer.parquet"
	srv.PutObject(t, "floe-wh", orphan, []byte("not referenced"))
	res, err := tbl.DeleteOrphanFiles(ctx, table.WithFilesOlderThan(0))
	if err != nil {
		t.Fatalf("delete orphan files on S3: %v", err)
	}
	if !slices.Contains(res.DeletedFiles, "s3://floe-wh/"+orphan) {
		t.Errorf("orphan not deleted; deleted %v", res.DeletedFiles)
	}
	remaining := srv.Objects(t, "floe-wh", loc+"/data/")
	if slices.Contains(remaining, orphan) {
		t.Error("orphan still in the bucket")
	}
	for _, f := range after {
		if !slices.Contains(remaining, strings.TrimPrefix(f, "s3://floe-wh/")) {
			t.Errorf("live data file %s was deleted", f)
		}
	}
	for _, f := range before {
		if slices.Contains(remaining, strings.TrimPrefix(f, "s3://floe-wh/")) {
			t.Errorf("compacted-away file %s survived expiry and orphan cleanup", f)
		}
	}
}
