package compaction_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/floe-io/floe/compaction"
	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/internal/fileio"
	"github.com/floe-io/floe/internal/tabletest"
)

// oddMerchants need escaping in a path; the first is the example,
// whose decoded directory name still holds a '%'.
var oddMerchants = []string{"m=1&y%2F", "shop/42", "a b", "商户", "q?#", ""}

// commitOdd commits one batch with rowsPer rows in every (currency, odd
// merchant) partition.
func commitOdd(t *testing.T, w *iceberg.Writer, kp iceberg.TopicPartition, from int64, rowsPer int) int64 {
	return commitMerchants(t, w, kp, from, rowsPer, oddMerchants)
}

func commitMerchants(t *testing.T, w *iceberg.Writer, kp iceberg.TopicPartition, from int64, rowsPer int, merchants []string) int64 {
	t.Helper()
	sc := w.ArrowSchema()
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	off := from
	for _, c := range currencies {
		for _, m := range merchants {
			for range rowsPer {
				appendRow(b, sc, "odd", c, m, kp, off)
				off++
			}
		}
	}
	batch := iceberg.Batch{Records: []arrow.RecordBatch{b.NewRecordBatch()}, Group: "floe",
		From: iceberg.Offsets{kp: from}, To: iceberg.Offsets{kp: off}}
	if from == 0 {
		batch.From = iceberg.Offsets{}
	}
	if _, err := w.Commit(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	return off
}

func localPath(t *testing.T, loc string) string {
	t.Helper()
	p, ok := fileio.LocalPath(loc)
	if !ok {
		t.Fatalf("%q is not local", loc)
	}
	return p
}

// moveToLegacy moves the data file at loc to the percent-decoded path where
// floe before the literal-path fix put it, and returns that path.
func moveToLegacy(t *testing.T, loc string) string {
	t.Helper()
	legacy, ok := fileio.LegacyLocation(loc)
	if !ok {
		t.Fatalf("%q has no decoded form", loc)
	}
	dst := localPath(t, legacy)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(localPath(t, loc), dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestOrphansNeverDeleteLiveFilesOfOddMerchants runs orphan removal over a
// table of odd merchant ids, one of whose data files sits where old floe
// versions put it (the decoded path), with true orphans planted in both an
// escaped and a decoded directory. Only the planted files go.
func TestOrphansNeverDeleteLiveFilesOfOddMerchants(t *testing.T) {
	ctx := context.Background()
	e := tabletest.NewContractEnv(t, nil)
	w := e.Writer(nil, ident)
	kp := iceberg.TopicPartition{Topic: topic, Partition: 0}
	commitOdd(t, w, kp, 0, 3)
	tbl := e.Load(ident)
	before := tabletest.Lines(t, tbl)

	var legacyPath string
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if task.File.Partition()[1001] == oddMerchants[0] {
			legacyPath = moveToLegacy(t, task.File.FilePath())
			break
		}
	}
	if legacyPath == "" {
		t.Fatal("no data file of the first odd merchant")
	}
	if got := tabletest.Lines(t, e.Load(ident)); checksum(got) != checksum(before) {
		t.Fatal("a file at its legacy path is not read")
	}

	data := localPath(t, tbl.Location()) + "/data/currency=EUR/"
	planted := []string{
		data + "merchant_id=m%3D1%26y%252F/planted-a.parquet", // escaped dir
		data + "merchant_id=m=1&y%2F/planted-b.parquet",       // decoded dir
	}
	for _, p := range planted {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("not referenced"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	agePastWindow(t, tbl.Location())

	rep, err := newCompactor(t, e, compaction.Options{SkipRewrite: true, SkipExpire: true, SkipManifests: true,
		OrphanOlderThan: time.Hour}).RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range planted {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("planted orphan %s not removed (%v); orphans %q", p, err, rep.Orphans)
		}
	}
	if _, err := os.Stat(legacyPath); err != nil {
		t.Fatalf("live file at its legacy path removed: %v", err)
	}
	if rep.OrphansKept == 0 {
		t.Errorf("iceberg-go listed no live file as an orphan: the guard was not exercised (orphans %q)", rep.Orphans)
	}
	if rep.OrphansRemoved != len(planted) {
		t.Errorf("removed %d files, want %d: %q", rep.OrphansRemoved, len(planted), rep.Orphans)
	}
	tbl = e.Load(ident)
	if got := tabletest.Lines(t, tbl); checksum(got) != checksum(before) {
		t.Fatal("rows changed by orphan removal")
	}
	refs, err := iceberg.ReferencedFiles(ctx, tbl)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range refs {
		if _, err := os.Stat(localPath(t, r.Location)); err != nil {
			if l, ok := fileio.LegacyLocation(r.Location); !ok || localPath(t, l) != legacyPath {
				t.Errorf("referenced %s missing", r.Location)
			}
		}
	}
}

// TestRewriteMovesLegacyFilesToLiteralPaths compacts a table one of whose
// files sits at its old decoded path: afterwards every live file is at its
// literal location.
func TestRewriteMovesLegacyFilesToLiteralPaths(t *testing.T) {
	ctx := context.Background()
	e := tabletest.NewContractEnv(t, nil)
	w := e.Writer(nil, ident)
	kp := iceberg.TopicPartition{Topic: topic, Partition: 0}
	next := commitOdd(t, w, kp, 0, 2)
	commitOdd(t, w, kp, next, 2)
	tbl := e.Load(ident)
	before := tabletest.Lines(t, tbl)
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	moved := 0
	for _, task := range tasks {
		if _, ok := fileio.LegacyLocation(task.File.FilePath()); ok {
			moveToLegacy(t, task.File.FilePath())
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("no file to move")
	}
	rep, err := newCompactor(t, e, compaction.Options{SkipExpire: true, SkipOrphans: true, SkipManifests: true}).RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.FilesRewritten == 0 {
		t.Fatalf("nothing rewritten: %+v", rep)
	}
	tbl = e.Load(ident)
	if got := tabletest.Lines(t, tbl); checksum(got) != checksum(before) {
		t.Fatal("rows changed by the rewrite")
	}
	tasks, err = tbl.Scan().PlanFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if _, err := (fileio.FS{Strict: true}).Stat(task.File.FilePath()); err != nil {
			t.Errorf("live file not at its literal location after the rewrite: %v", err)
		}
	}
}

// TestRewriteLongPartitionValues compacts a table with a merchant id too
// long for a directory name: the compactor writes its outputs with floe's
// writer, which cuts and hashes such a segment, so every group is
// rewritten, the outputs sit at their literal locations and the rows are
// unchanged.
func TestRewriteLongPartitionValues(t *testing.T) {
	ctx := context.Background()
	e := tabletest.NewContractEnv(t, nil)
	w := e.Writer(nil, ident)
	kp := iceberg.TopicPartition{Topic: topic, Partition: 0}
	long := strings.Repeat("long-", 80)
	merch := []string{"short", long}
	next := commitMerchants(t, w, kp, 0, 2, merch)
	commitMerchants(t, w, kp, next, 2, merch)
	before := tabletest.Lines(t, e.Load(ident))
	rep, err := newCompactor(t, e, compaction.Options{SkipExpire: true, SkipOrphans: true, SkipManifests: true}).RunOnce(ctx)
	if err != nil {
		t.Fatalf("compaction failed: %v", err)
	}
	committed := 0
	for _, g := range rep.Groups {
		if g.Status != "committed" {
			t.Errorf("group %s: %s", g.Partition, g.Status)
			continue
		}
		committed++
	}
	if want := 2 * len(currencies); committed != want {
		t.Errorf("%d groups committed, want %d: %+v", committed, want, rep.Groups)
	}
	tasks, err := e.Load(ident).Scan().PlanFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if _, err := (fileio.FS{Strict: true}).Stat(task.File.FilePath()); err != nil {
			t.Errorf("live file not at its literal location after the rewrite: %v", err)
		}
	}
	if got := tabletest.Lines(t, e.Load(ident)); checksum(got) != checksum(before) {
		t.Fatal("rows changed by the rewrite")
	}
}
