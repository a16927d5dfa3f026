package iceberg_test

import (
	"testing"

	"github.com/floe-io/floe/iceberg"
)

// TestClusteredWriteTunedProps writes a multi-partition batch with the
// clustered, split-by-partition path and the tuned Parquet properties, and
// checks it like the default path: one file per partition holding only its
// partition's rows (read back with arrow-go), every row scanned back by
// iceberg-go, the offsets recorded.
func TestClusteredWriteTunedProps(t *testing.T) {
	for _, workers := range []int{1, 2, 3} {
		mem := checkedMem(t)
		e := newEnvProps(t, iceberg.TunedWriteProperties())
		w := e.writer(nil, iceberg.WithClusteredWrite(true), iceberg.WithWriteWorkers(workers))
		ctx := t.Context()

		rs := rows(3, 0, 200, currencies, merchants)
		res, err := w.Commit(ctx, batch(t, mem, w, "g", rs))
		if err != nil {
			t.Fatal(err)
		}
		if res.Rows != 200 || res.Files != len(currencies)*len(merchants) {
			t.Fatalf("workers %d: result %+v", workers, res)
		}
		tbl := w.Table()
		fs, err := tbl.FS(ctx)
		if err != nil {
			t.Fatal(err)
		}
		manifests, err := tbl.CurrentSnapshot().Manifests(fs)
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for _, mf := range manifests {
			entries, err := mf.FetchEntries(fs, true)
			if err != nil {
				t.Fatal(err)
			}
			for _, ent := range entries {
				df := ent.DataFile()
				n := checkParquetFile(t, df.FilePath(), df.Partition()[1000].(string), df.Partition()[1001].(string))
				if int64(n) != df.Count() {
					t.Errorf("%s: %d rows, manifest says %d", df.FilePath(), n, df.Count())
				}
				total += n
			}
		}
		if total != len(rs) {
			t.Fatalf("workers %d: %d rows in files, want %d", workers, total, len(rs))
		}
		if got, want := scanRows(t, w.Table()), ids(rs); !equalStrings(got, want) {
			t.Fatalf("workers %d: scanned %d rows, want %d", workers, len(got), len(want))
		}
		off, err := w.Offsets(ctx, "g")
		if err != nil || off[tp(3)] != 200 {
			t.Fatalf("workers %d: offsets %v %v", workers, off, err)
		}
	}
}
