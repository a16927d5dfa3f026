package compaction_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/compaction"
	"github.com/floe-io/floe/internal/tabletest"
)

// TestReplaceReadsOnlyManifestsHoldingInputs: floe's own replace snapshot
// reads and rewrites only the manifests that hold an input; every other
// manifest is carried into the new manifest list by path, unread. The test
// makes the one manifest without inputs unreadable while the replace is
// staged: floe's producer commits, iceberg-go's (which reads every
// manifest) cannot. Then the committed snapshot is checked entry by entry:
// inputs DELETED, the rest of a rewritten manifest EXISTING with its
// original sequence numbers, outputs ADDED, the summary's totals right and
// the rows unchanged.
func TestReplaceReadsOnlyManifestsHoldingInputs(t *testing.T) {
	for _, own := range []bool{true, false} {
		name := "floe"
		if !own {
			name = "iceberg-go"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			e := tabletest.NewContractEnv(t, nil)
			f := newFeed(t, e.Writer(nil, ident), "floe", topic, "a")
			// Manifest 1: 30 partitions of large files (above the
			// small-file threshold below): never an input.
			mustCommit(t, f, 1, 30, 400)
			large := e.Load(ident).CurrentSnapshot()
			// Manifest 2: 30 partitions, one small file each; manifest 3:
			// two of those partitions again. Inputs: the four small files
			// of those two partitions; manifest 2's 28 others stay.
			f.n = 0
			mustCommit(t, f, 1, 30, 1)
			f.n = 0
			mustCommit(t, f, 1, 2, 1)

			tbl := e.Load(ident)
			before := tabletest.Lines(t, tbl)
			fs, err := tbl.FS(ctx)
			if err != nil {
				t.Fatal(err)
			}
			ms, err := tbl.CurrentSnapshot().Manifests(fs)
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != 3 {
				t.Fatalf("%d manifests, want 3", len(ms))
			}
			seqOf := map[string]int64{} // manifest path -> its sequence number
			for _, m := range ms {
				seqOf[m.FilePath()] = m.SequenceNum()
			}
			largeList, err := large.Manifests(fs)
			if err != nil {
				t.Fatal(err)
			}
			untouched := strings.TrimPrefix(largeList[0].FilePath(), "file://")
			var largest int64
			for _, task := range planFiles(t, tbl) {
				if task.File.Count() == 400 {
					largest = max(largest, task.File.FileSizeBytes())
				}
			}

			opts := compaction.Options{
				SmallFileThreshold: largest / 2, TargetFileSize: 128 << 20,
				SkipExpire: true, SkipOrphans: true, SkipManifests: true,
			}
			if !own {
				compaction.UseIcebergGoReplace(&opts)
			}
			hidden := untouched + ".hidden"
			hides, hide := 0, true
			compaction.SetBeforeCommit(&opts, func(int) {
				if !hide {
					return
				}
				hides++
				if err := os.Rename(untouched, hidden); err != nil {
					t.Errorf("hide manifest: %v", err)
				}
			})
			comp := newCompactor(t, e, opts)
			rep, runErr := comp.RunOnce(ctx)
			if _, err := os.Stat(hidden); err == nil {
				if err := os.Rename(hidden, untouched); err != nil {
					t.Fatal(err)
				}
			}
			if hides == 0 {
				t.Fatal("no commit attempt: the manifest was never hidden")
			}
			if !own {
				// iceberg-go's producer reads the hidden manifest.
				t.Logf("iceberg-go's replace: %v", runErr)
				if runErr == nil && rep.RewriteSnapshotID != 0 {
					t.Fatalf("iceberg-go's replace committed without reading every manifest: %+v", rep)
				}
				return
			}
			if runErr != nil {
				t.Fatalf("compaction: %v", runErr)
			}
			if rep.FilesRewritten != 4 || rep.RewriteSnapshotID == 0 {
				t.Fatalf("rewrote %d files (snapshot %d), want 4", rep.FilesRewritten, rep.RewriteSnapshotID)
			}

			tbl = e.Load(ident)
			snap := tbl.CurrentSnapshot()
			if snap.SnapshotID != rep.RewriteSnapshotID || snap.Summary.Operation != table.OpReplace {
				t.Fatalf("head %d (%s), want the replace %d", snap.SnapshotID, snap.Summary.Operation, rep.RewriteSnapshotID)
			}
			after, err := snap.Manifests(fs)
			if err != nil {
				t.Fatal(err)
			}
			var carried bool
			status := map[iceberggo.ManifestEntryStatus]int{}
			for _, m := range after {
				if strings.TrimPrefix(m.FilePath(), "file://") == untouched {
					carried = true
					continue
				}
				if _, old := seqOf[m.FilePath()]; old {
					t.Errorf("manifest %s holds an input but was carried unchanged", m.FilePath())
					continue
				}
				entries, err := m.FetchEntries(fs, false)
				if err != nil {
					t.Fatal(err)
				}
				for _, en := range entries {
					status[en.Status()]++
					switch en.Status() {
					case iceberggo.EntryStatusADDED:
						if en.SnapshotID() != snap.SnapshotID || en.SequenceNum() != snap.SequenceNumber {
							t.Errorf("added %s: snapshot %d seq %d, want %d/%d", en.DataFile().FilePath(),
								en.SnapshotID(), en.SequenceNum(), snap.SnapshotID, snap.SequenceNumber)
						}
					case iceberggo.EntryStatusEXISTING:
						// Manifest 2's untouched files keep the sequence
						// number of the commit that added them.
						if en.SequenceNum() != seqOf[ms[1].FilePath()] && en.SequenceNum() != seqOf[ms[0].FilePath()] && en.SequenceNum() != seqOf[ms[2].FilePath()] {
							t.Errorf("existing %s: seq %d, not one of the original commits'", en.DataFile().FilePath(), en.SequenceNum())
						}
						if en.SequenceNum() == snap.SequenceNumber {
							t.Errorf("existing %s took the replace's sequence number", en.DataFile().FilePath())
						}
					}
				}
			}
			if !carried {
				t.Errorf("the manifest without inputs was not carried into the new snapshot")
			}
			if status[iceberggo.EntryStatusDELETED] != 4 || status[iceberggo.EntryStatusEXISTING] != 28 || status[iceberggo.EntryStatusADDED] != 2 {
				t.Errorf("entries by status %v, want 4 deleted, 28 existing, 2 added", status)
			}

			tasks := planFiles(t, tbl)
			var rows int64
			for _, task := range tasks {
				rows += task.File.Count()
			}
			props := snap.Summary.Properties
			for k, want := range map[string]int64{
				"total-data-files": int64(len(tasks)), "total-records": rows,
				"deleted-data-files": 4, "added-data-files": 2, "deleted-records": 4, "added-records": 4,
			} {
				if got, err := strconv.ParseInt(props[k], 10, 64); err != nil || got != want {
					t.Errorf("summary %s = %q, want %d", k, props[k], want)
				}
			}
			if props[compaction.KindKey] != "rewrite" {
				t.Errorf("summary kind %q, want rewrite", props[compaction.KindKey])
			}
			if got := tabletest.Lines(t, tbl); checksum(got) != checksum(before) {
				t.Fatalf("rows changed: %d before, %d after", len(before), len(got))
			}

			// The manifest left with DELETED entries only belongs to that
			// replace: the next one does not carry it.
			hide = false
			f.n = 0
			mustCommit(t, f, 1, 2, 1)
			if rep, err := comp.RunOnce(ctx); err != nil || rep.RewriteSnapshotID == 0 {
				t.Fatalf("second run: %+v, %v", rep, err)
			}
			next := e.Load(ident).CurrentSnapshot()
			list, err := next.Manifests(fs)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range list {
				if !m.HasAddedFiles() && !m.HasExistingFiles() && m.SnapshotID() != next.SnapshotID {
					t.Errorf("manifest %s of snapshot %d, only deleted entries, carried into %d", m.FilePath(), m.SnapshotID(), next.SnapshotID)
				}
			}
		})
	}
}

func planFiles(t *testing.T, tbl *table.Table) []table.FileScanTask {
	t.Helper()
	tasks, err := tbl.Scan().PlanFiles(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tasks
}
