package ingest_test

import (
	"context"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floe-io/floe/ingest"
	"github.com/floe-io/floe/internal/devstack"
)

// heapPeak samples, until stop is closed, the peak live heap (what the
// last GC found reachable: the memory the process holds) and the peak heap
// including garbage not yet collected (which the GC's pacing, GOGC, lets
// grow to about twice the live heap).
func heapPeak(stop <-chan struct{}) (live, total *atomic.Uint64) {
	live, total = new(atomic.Uint64), new(atomic.Uint64)
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > live.Load() {
				live.Store(v)
			}
			if v := sample[1].Value.Uint64(); v > total.Load() {
				total.Store(v)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return live, total
}

// TestBoundedMemory ingests events of 20,000 distinct merchants with a
// 2 MiB buffer limit: commits happen because the buffer is full, the live
// heap stays under the limit plus a stated overhead, and every row lands.
func TestBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	const (
		limit = 2 << 20
		// The stated overhead (README, "Bounded memory"): a fixed part
		// (clients, table metadata, one Parquet writer, the in-process
		// broker of this test) plus the metadata of each data file of the
		// commit in flight.
		fixed   = 48 << 20
		perFile = 12 << 10
		events  = 40000
	)
	e := newEnv(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	gen, err := devstack.NewGenerator(devstack.GenOptions{Seed: 3, Merchants: 20000, Keys: e.keyring, IDs: e.ids, ForeignShare: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := devstack.Produce(ctx, e.stack.Brokers, "payments.transactions", gen.Events(events)); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var reasons = map[string]int{}
	maxFiles := 0
	p, w, closeAll := e.pipeline(t, "mem", ingest.Options{
		Trigger: time.Minute, MaxBufferBytes: limit, Until: e.ends(t),
		OnCommit: func(ci ingest.CommitInfo) { reasons[ci.Reason]++; maxFiles = max(maxFiles, ci.Files) },
	})
	stop := make(chan struct{})
	peak, total := heapPeak(stop)
	err = p.Run(ctx)
	close(stop)
	closeAll()
	if err != nil {
		t.Fatal(err)
	}
	overhead := uint64(fixed + perFile*maxFiles)
	t.Logf("commits by trigger: %v, at most %d files in one; peak live heap %.1f MiB (limit %d MiB + overhead %.1f MiB); peak heap with garbage %.1f MiB",
		reasons, maxFiles, float64(peak.Load())/(1<<20), limit>>20, float64(overhead)/(1<<20), float64(total.Load())/(1<<20))
	if reasons["memory"] < 2 {
		t.Errorf("the buffer limit triggered %d commits, want several", reasons["memory"])
	}
	if peak.Load() > limit+overhead {
		t.Errorf("peak live heap %d bytes over %d", peak.Load(), limit+overhead)
	}
	rows := tableRows(t, w)
	if len(rows) != events {
		t.Errorf("table has %d rows, want %d", len(rows), events)
	}
}
