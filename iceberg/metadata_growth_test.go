package iceberg_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	iceberggo "github.com/apache/iceberg-go"

	"github.com/floe-io/floe/compaction"
	"github.com/floe-io/floe/internal/tabletest"
)

// TestMetadataGrowth is a measurement, not a check: it runs only with
// FLOE_METADATA_GROWTH=<commits> and prints, every 100 commits, how large
// the current metadata.json is and how long commits take, for a table that
// keeps every snapshot (FLOE_METADATA_KEEP=0: no compactor; -1: the
// compactor merges manifests every 300 commits, expiring nothing) or its
// last N (FLOE_METADATA_KEEP=N: the compactor expires and merges manifests
// every 300 commits, what --compact-every 5m does at one commit per
// second). CPU is the process's user+system time spent in Commit.
// Each commit holds 24 rows over 6 table partitions of 2 Kafka partitions.
//
//	FLOE_METADATA_GROWTH=3600 FLOE_METADATA_KEEP=0 go test -run TestMetadataGrowth -v ./iceberg/
func TestMetadataGrowth(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("FLOE_METADATA_GROWTH"))
	if n <= 0 {
		t.Skip("measurement; set FLOE_METADATA_GROWTH=<commits>")
	}
	keep, _ := strconv.Atoi(os.Getenv("FLOE_METADATA_KEEP"))
	e := tabletest.NewContractEnv(t, iceberggo.Properties{
		"write.metadata.delete-after-commit.enabled": "true",
		"write.metadata.previous-versions-max":       "10",
	})
	cat := e.Open()
	w := e.Writer(cat, ident)
	ctx := context.Background()
	mem := memory.NewGoAllocator()
	var comp *compaction.Compactor
	if keep != 0 {
		var err error
		comp, err = compaction.New(e.Open(), ident, compaction.Options{
			ExpireKeepLast: max(keep, 1), ExpireOlderThan: time.Millisecond, SkipRewrite: true, SkipOrphans: true,
			SkipExpire: keep < 0,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	fmt.Printf("commits\tsnapshots\tmanifests\tmetadata_json_bytes\tcommit_ms_avg_last100\tcpu_ms_per_commit\tmetadata_files\tmetadata_dir_bytes\n")
	var window time.Duration
	var cpu0 time.Duration
	next := map[int32]int64{0: 0, 1: 0}
	for i := 1; i <= n; i++ {
		var rs []row
		for p := int32(0); p < 2; p++ {
			rs = append(rs, rows(p, next[p], 12, []string{"EUR", "USD"}, []string{"m1", "m2", "m3"})...)
		}
		b := batch(t, mem, w, "floe", rs)
		for p := int32(0); p < 2; p++ {
			if next[p] > 0 {
				b.From[tp(p)] = next[p]
			} else {
				delete(b.From, tp(p))
			}
			next[p] += 12
		}
		start, c0 := time.Now(), cpuTime()
		if _, err := w.Commit(ctx, b); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
		window += time.Since(start)
		cpu0 += cpuTime() - c0
		if comp != nil && i%300 == 0 {
			if _, err := comp.RunOnce(ctx); err != nil {
				t.Fatalf("compaction after commit %d: %v", i, err)
			}
			if err := w.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if i%100 == 0 {
			tbl := w.Table()
			loc := strings.TrimPrefix(tbl.MetadataLocation(), "file://")
			st, err := os.Stat(loc)
			if err != nil {
				t.Fatal(err)
			}
			files, bytes := dirStats(t, filepath.Dir(loc))
			fs, err := tbl.FS(ctx)
			if err != nil {
				t.Fatal(err)
			}
			mans, err := tbl.CurrentSnapshot().Manifests(fs)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Printf("%d\t%d\t%d\t%d\t%.1f\t%.1f\t%d\t%d\n", i, len(tbl.Metadata().Snapshots()), len(mans), st.Size(),
				float64(window.Microseconds())/100/1000, float64(cpu0.Microseconds())/100/1000, files, bytes)
			window, cpu0 = 0, 0
		}
	}
}

// cpuTime is the process's user + system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func dirStats(t *testing.T, dir string) (files int, bytes int64) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".metadata.json") {
			info, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			files++
			bytes += info.Size()
		}
	}
	return files, bytes
}
