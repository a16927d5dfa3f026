package iceberg_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/floe-io/floe/internal/tabletest"
)

// TestHeapDoesNotGrowWithCommits guards a leak found under the bounded
// memory test: the table a commit returns keeps every data file the
// process added reachable, ~3.6 KiB each, so a sidecar's heap grew with
// every commit. The writer must hold no more after 30 commits than after 10.
func TestHeapDoesNotGrowWithCommits(t *testing.T) {
	if testing.Short() {
		t.Skip("commits 6,000 data files")
	}
	e := tabletest.NewContractEnv(t, nil)
	w := e.Writer(e.Open(), ident, noWait()...)
	merchants := make([]string, 200)
	for i := range merchants {
		merchants[i] = fmt.Sprintf("m-%d", i)
	}
	live := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	var at10 uint64
	off := int64(0)
	for i := 1; i <= 30; i++ {
		rs := rows(0, off, len(merchants), []string{"USD"}, merchants)
		off += int64(len(rs))
		if _, err := w.Commit(context.Background(), batch(t, memory.DefaultAllocator, w, "g", rs)); err != nil {
			t.Fatal(err)
		}
		if i == 10 {
			at10 = live()
		}
	}
	at30 := live()
	t.Logf("live heap after 10 commits %.1f MiB, after 30 %.1f MiB (4,000 more data files)", float64(at10)/(1<<20), float64(at30)/(1<<20))
	if at30 > at10+6<<20 {
		t.Errorf("heap grew by %.1f MiB over 20 commits: committed data files are being retained", float64(at30-at10)/(1<<20))
	}
}
