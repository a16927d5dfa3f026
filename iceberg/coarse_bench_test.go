package iceberg_test

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/compaction"
	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/internal/tabletest"
)

// TestCoarseLayoutMeasure is a measurement, not a check: with
// FLOE_COARSE_MEASURE=N it commits N batches of 20,000 rows (1,000
// merchants, 8 currencies, every merchant in one currency: 1,000
// partitions) in the partitioned layout and in the coarse layout at
// several rows per file, and logs per layout: files per commit, write
// and commit time, iceberg-go's scan planning time and planned files for
// merchant_id = X, and for the coarse layout one compaction run (time,
// files rewritten) and the planning after it. Without the variable it
// is skipped.
//
//	FLOE_COARSE_MEASURE=30 go test -count=1 -run TestCoarseLayoutMeasure -v ./iceberg/
func TestCoarseLayoutMeasure(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("FLOE_COARSE_MEASURE"))
	if n <= 0 {
		t.Skip("a measurement: set FLOE_COARSE_MEASURE=<commits> to run it")
	}
	const perCommit = 20000
	cur := []string{"EUR", "USD", "GBP", "JPY", "CHF", "SEK", "NOK", "DKK"}
	merchants := make([]string, 1000)
	for i := range merchants {
		merchants[i] = fmt.Sprintf("m-%06d", i)
	}
	layouts := []int{0, 250, 1000, 2500} // rows per coarse file; 0: partitioned
	if s := os.Getenv("FLOE_COARSE_ROWS"); s != "" {
		layouts = []int{0}
		for _, f := range strings.Split(s, ",") {
			if v, err := strconv.Atoi(f); err == nil {
				layouts = append(layouts, v)
			}
		}
	}
	filter := table.WithRowFilter(iceberggo.EqualTo(iceberggo.Reference("merchant_id"), merchants[437]))
	both := table.WithRowFilter(iceberggo.NewAnd(
		iceberggo.EqualTo(iceberggo.Reference("merchant_id"), merchants[437]),
		iceberggo.EqualTo(iceberggo.Reference("currency"), cur[437%len(cur)])))
	var rowsPlanned int64
	plan := func(tbl *table.Table, opts ...table.ScanOption) (time.Duration, int) {
		var best time.Duration
		files := 0
		for range 5 {
			start := time.Now()
			tasks, err := tbl.Scan(opts...).PlanFiles(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); best == 0 || d < best {
				best = d
			}
			files = len(tasks)
			rowsPlanned = 0
			for _, task := range tasks {
				rowsPlanned += task.File.Count()
			}
		}
		return best, files
	}
	// read scans the rows a filter selects (plan, open, decode, filter),
	// best of 3.
	read := func(tbl *table.Table, opts ...table.ScanOption) (time.Duration, int) {
		var best time.Duration
		n := 0
		for range 3 {
			start := time.Now()
			n = len(tabletest.IDs(t, tbl, opts...))
			if d := time.Since(start); best == 0 || d < best {
				best = d
			}
		}
		return best, n
	}
	t.Logf("%d commits of %d rows, 1,000 merchants in 8 currencies, GOMAXPROCS %d (shared machine)", n, perCommit, runtime.GOMAXPROCS(0))
	t.Logf("| layout | files/commit | write ms/commit | commit ms/commit | live files | plan all ms | plan merchant_id= ms | files (rows) planned | files (rows) planned, merchant and its currency | read merchant_id= ms (rows) | compaction s | files rewritten | live files after | plan merchant_id= ms after | planned after | read merchant_id= ms after (rows) |")
	for _, rowsPerFile := range layouts {
		mem := checkedMem(t)
		env := tabletest.NewContractEnv(t, nil)
		cat := env.Open()
		opts := noWait()
		name := "partitioned"
		if rowsPerFile > 0 {
			if _, err := iceberg.EnsureCoarseSpec(t.Context(), cat, ident); err != nil {
				t.Fatal(err)
			}
			opts = append(opts, iceberg.WithCoarseLayout(rowsPerFile))
			name = fmt.Sprintf("coarse, %d rows/file", rowsPerFile)
		}
		w, err := iceberg.NewWriter(t.Context(), cat, ident, opts...)
		if err != nil {
			t.Fatal(err)
		}
		var files int
		var write, commit time.Duration
		for i := range n {
			rs := rows(0, int64(i*perCommit), perCommit, cur, merchants)
			res, err := w.Commit(t.Context(), batch(t, mem, w, "g", rs))
			if err != nil {
				t.Fatal(err)
			}
			files += res.Files
			write += res.WriteDuration
			commit += res.Duration - res.WriteDuration
		}
		tbl := w.Table()
		allMs, live := plan(tbl)
		mMs, mFiles := plan(tbl, filter)
		mRows := rowsPlanned
		readMs, readRows := read(tbl, filter)
		_, bFiles := plan(tbl, both)
		line := fmt.Sprintf("| %s | %.0f | %.1f | %.1f | %d | %.1f | %.1f | %d (%d) | %d (%d) | %.1f (%d) |", name,
			float64(files)/float64(n), ms(write)/float64(n), ms(commit)/float64(n), live, ms(allMs), ms(mMs), mFiles, mRows, bFiles, rowsPlanned, ms(readMs), readRows)
		if rowsPerFile > 0 {
			comp, err := compaction.New(cat, ident, compaction.Options{SkipExpire: true, SkipOrphans: true})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			rep, err := comp.RunOnce(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			after, err := cat.LoadTable(t.Context(), ident)
			if err != nil {
				t.Fatal(err)
			}
			_, liveAfter := plan(after)
			aMs, aFiles := plan(after, filter)
			aRead, aRows := read(after, filter)
			line += fmt.Sprintf(" %.1f | %d | %d | %.1f | %d | %.1f (%d) |", took.Seconds(), rep.FilesRewritten, liveAfter, ms(aMs), aFiles, ms(aRead), aRows)
		} else {
			line += " - | - | - | - | - | - |"
		}
		t.Log(line)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
