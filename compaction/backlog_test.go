package compaction_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/floe-io/floe/compaction"
	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/internal/tabletest"
)

// TestBacklog builds a backlog of FLOE_BACKLOG_FILES one-row data files
// (default 5,000) in files/10 partitions, committed in 10 large commits,
// then lets the compactor work it off with its default options. Each run
// must stay within the per-run bound, the process's peak RSS under 1 GiB,
// and at the end every partition holds one file and the row count is
// unchanged. With FLOE_BACKLOG_FILES=500000 it is the issue-12 backlog
// measurement (minutes; see BENCHMARKS.md), not a CI test.
func TestBacklog(t *testing.T) {
	if testing.Short() {
		t.Skip("builds thousands of data files")
	}
	files := 5_000
	if v := os.Getenv("FLOE_BACKLOG_FILES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 {
			t.Fatalf("FLOE_BACKLOG_FILES=%q", v)
		}
		files = n
	}
	const commits = 10
	parts := files / commits
	ctx := context.Background()
	e := tabletest.NewContractEnv(t, nil)
	w := e.Writer(nil, ident)
	sc := w.ArrowSchema()
	kp := iceberg.TopicPartition{Topic: topic, Partition: 0}
	start := time.Now()
	var off int64
	for c := range commits {
		b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
		from := off
		for p := range parts {
			appendRow(b, sc, "bl", currencies[p%len(currencies)], fmt.Sprintf("m%06d", p), kp, off)
			off++
		}
		rec := b.NewRecordBatch()
		b.Release()
		batch := iceberg.Batch{Records: []arrow.RecordBatch{rec}, Group: "floe", From: iceberg.Offsets{kp: from}, To: iceberg.Offsets{kp: off}}
		if c == 0 {
			batch.From = iceberg.Offsets{}
		}
		if _, err := w.Commit(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("backlog: %d files in %d partitions, built in %s", files, parts, time.Since(start).Round(time.Millisecond))

	if path := os.Getenv("FLOE_BACKLOG_HEAPPROFILE"); path != "" {
		stop := profileHeapPeaks(t, path)
		defer stop()
	}
	opts := compaction.Options{SkipExpire: true, SkipOrphans: true}
	comp := newCompactor(t, e, opts)
	start = time.Now()
	for run := 1; ; run++ {
		rep, err := comp.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("run %d: %d files rewritten into %d, %d commits, %d groups deferred, %d manifests read, %s",
			run, rep.FilesRewritten, rep.FilesWritten, rep.Commits, rep.GroupsDeferred, rep.ManifestsRead, rep.Duration.Round(time.Millisecond))
		if rep.FilesRewritten > compaction.DefaultMaxRunFiles {
			t.Fatalf("run %d rewrote %d files, over the bound %d", run, rep.FilesRewritten, compaction.DefaultMaxRunFiles)
		}
		if rep.FilesRewritten == 0 || run > 20 {
			break
		}
	}
	peak, _ := peakRSS()
	t.Logf("worked off in %s; peak RSS of the test process %d MiB", time.Since(start).Round(time.Millisecond), peak>>20)
	if peak > 1<<30 {
		t.Errorf("peak RSS %d MiB, over 1 GiB", peak>>20)
	}
	tbl := e.Load(ident)
	got := tbl.CurrentSnapshot().Summary.Properties
	if got["total-records"] != strconv.FormatInt(off, 10) || got["total-data-files"] != strconv.Itoa(parts) {
		t.Fatalf("after compaction: %s records in %s files, want %d in %d", got["total-records"], got["total-data-files"], off, parts)
	}
}

// profileHeapPeaks writes a heap profile to path each time the live heap,
// sampled every second, reaches a new high: the profile of the peak, to
// see what holds the memory (go tool pprof -sample_index=inuse_space).
func profileHeapPeaks(t *testing.T, path string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var peak uint64
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc <= peak+peak/20 {
				continue
			}
			peak = ms.HeapAlloc
			f, err := os.Create(path)
			if err != nil {
				t.Error(err)
				return
			}
			_ = pprof.WriteHeapProfile(f)
			_ = f.Close()
			t.Logf("heap profile at %d MiB of heap", peak>>20)
		}
	}()
	return func() { close(done); <-finished }
}

// peakRSS is this process's peak resident set (VmHWM), Linux only.
func peakRSS() (int64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	var kb int64
	for _, line := range splitLines(string(b)) {
		if _, err := fmt.Sscanf(line, "VmHWM: %d kB", &kb); err == nil {
			return kb << 10, true
		}
	}
	return 0, false
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		out = append(out, s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}
