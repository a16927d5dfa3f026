package compaction_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/floe-io/floe/compaction"
	"github.com/floe-io/floe/internal/tabletest"
)

// BenchmarkCommitVsSnapshots measures the latency of one more ingest commit
// (one row, one file) and of planning a full scan, on a table holding n
// snapshots of one small append each, before ("raw") and after manifest
// maintenance ("merged": manifests merged into few). n comes from
// FLOE_BENCH_SNAPSHOTS (comma separated; default 10,100,1000).
func BenchmarkCommitVsSnapshots(b *testing.B) {
	sizes := []int{10, 100, 1000}
	if v := os.Getenv("FLOE_BENCH_SNAPSHOTS"); v != "" {
		sizes = nil
		for _, s := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				b.Fatal(err)
			}
			sizes = append(sizes, n)
		}
	}
	ctx := context.Background()
	for _, n := range sizes {
		e := tabletest.NewContractEnv(b, nil)
		f := newFeed(b, e.Writer(nil, ident), "floe", topic, "a")
		for range n {
			if _, err := f.commit(ctx, 1, 1); err != nil {
				b.Fatal(err)
			}
		}
		measure := func(b *testing.B, label string) {
			b.Run(fmt.Sprintf("snapshots=%d/%s/commit", n, label), func(b *testing.B) {
				for b.Loop() {
					if _, err := f.commit(ctx, 1, 1); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("snapshots=%d/%s/plan", n, label), func(b *testing.B) {
				tbl := e.Load(ident)
				for b.Loop() {
					if _, err := tbl.Scan().PlanFiles(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		measure(b, "raw")
		c, err := compaction.New(e.Open(), ident, compaction.Options{
			SkipRewrite: true, SkipExpire: true, SkipOrphans: true, ManifestMergeMin: 2,
		})
		if err != nil {
			b.Fatal(err)
		}
		rep, err := c.RunOnce(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("snapshots=%d: manifests %d -> %d", n, rep.ManifestsBefore, rep.ManifestsAfter)
		measure(b, "merged")
	}
}
