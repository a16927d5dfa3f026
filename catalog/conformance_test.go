package catalog_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iceberggo "github.com/apache/iceberg-go"
	icecatalog "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/catalog"
	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/internal/testserver"
	"github.com/floe-io/floe/schema"
)

// backend is one kind of catalog and storage the conformance suite runs
// against. fresh returns a new, empty catalog+warehouse; each call of the
// returned open is a separate connection, standing in for a process.
type backend struct {
	name  string
	fresh func(t *testing.T) (open func() icecatalog.Catalog, warehouse string)
}

// backends starts every catalog this machine can run: SQLite, PostgreSQL
// (skipped only when its binaries are absent) and SQLite with an S3
// warehouse on an S3-protocol server.
func backends(t *testing.T) []backend {
	sqlite := backend{name: "sqlite", fresh: func(t *testing.T) (func() icecatalog.Catalog, string) {
		dir := t.TempDir()
		uri, wh := "sqlite://"+filepath.Join(dir, "catalog.db"), "file://"+filepath.Join(dir, "warehouse")
		return opener(t, uri, wh, nil), wh
	}}
	postgres := backend{name: "postgres", fresh: func(t *testing.T) (func() icecatalog.Catalog, string) {
		pg := testserver.StartPostgres(t)
		wh := "file://" + filepath.Join(t.TempDir(), "warehouse")
		return opener(t, pg.NewDatabase(t), wh, nil), wh
	}}
	s3 := backend{name: "sqlite+s3", fresh: func(t *testing.T) (func() icecatalog.Catalog, string) {
		srv := testserver.StartS3(t)
		srv.CreateBucket(t, "floe-wh")
		wh := "s3://floe-wh/warehouse"
		return opener(t, "sqlite://"+filepath.Join(t.TempDir(), "catalog.db"), wh, srv.Props()), wh
	}}

	return []backend{sqlite, postgres, s3}
}

func opener(t *testing.T, uri, wh string, props map[string]string) func() icecatalog.Catalog {
	return func() icecatalog.Catalog {
		t.Helper()
		cat, err := catalog.Open(t.Context(), uri, wh, props)
		if err != nil {
			t.Fatalf("open %s: %v", uri, err)
		}
		t.Cleanup(func() { _ = cat.(io.Closer).Close() })
		return cat
	}
}

var contractIdent = table.Identifier{"payments", "transactions"}

func ensureContractTable(t *testing.T, cat icecatalog.Catalog) *table.Table {
	t.Helper()
	sc := schema.TableSchema()
	tbl, err := catalog.EnsureTable(t.Context(), cat, contractIdent, sc, schema.PartitionSpec(sc), nil)
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

func newWriter(t *testing.T, cat icecatalog.Catalog) *iceberg.Writer {
	t.Helper()
	w, err := iceberg.NewWriter(t.Context(), cat, contractIdent,
		iceberg.WithBackoff(func(int) time.Duration { return 0 }),
		iceberg.WithSleep(func(ctx context.Context, _ time.Duration) error { return ctx.Err() }))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

const topic = "payments.transactions"

// contractBatch makes n rows on one partition from offset from, in the
// writer's current Arrow schema, spread over two currencies and merchants.
func contractBatch(t *testing.T, w *iceberg.Writer, group string, partition int32, from int64, n int) iceberg.Batch {
	t.Helper()
	sc := w.ArrowSchema()
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	ts := arrow.Timestamp(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC).UnixMicro())
	for i, f := range sc.Fields() {
		for k := range n {
			off := from + int64(k)
			switch fb := b.Field(i).(type) {
			case *array.StringBuilder:
				switch f.Name {
				case "transaction_id":
					fb.Append(fmt.Sprintf("%s/%d/%d", topic, partition, off))
				case "currency":
					fb.Append([]string{"EUR", "USD"}[k%2])
				case "merchant_id":
					fb.Append([]string{"m-1", "m-2"}[k%2])
				case "_kafka_topic":
					fb.Append(topic)
				default:
					fb.Append("x")
				}
			case *array.TimestampBuilder:
				fb.Append(ts)
			case *array.Decimal128Builder:
				fb.Append(decimal128.FromI64(100 + off))
			case *array.Int32Builder:
				fb.Append(partition)
			case *array.Int64Builder:
				fb.Append(off)
			default:
				fb.AppendNull()
			}
		}
	}
	tp := iceberg.TopicPartition{Topic: topic, Partition: partition}
	return iceberg.Batch{
		Records: []arrow.RecordBatch{b.NewRecordBatch()},
		Group:   group,
		From:    iceberg.Offsets{tp: from},
		To:      iceberg.Offsets{tp: from + int64(n)},
	}
}

func totalRecords(t *testing.T, tbl *table.Table) string {
	t.Helper()
	snap := tbl.CurrentSnapshot()
	if snap == nil || snap.Summary == nil {
		return "0"
	}
	return snap.Summary.Properties["total-records"]
}

// TestCatalogConformance runs floe's catalog behaviour against every
// catalog and storage this machine can start.
func TestCatalogConformance(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			t.Run("create-if-missing", func(t *testing.T) {
				open, wh := be.fresh(t)
				cat := open()
				tbl := ensureContractTable(t, cat)
				if v := tbl.Metadata().Version(); v != 2 {
					t.Errorf("format version %d, want 2", v)
				}
				if !strings.HasPrefix(tbl.Location(), wh+"/") {
					t.Errorf("table location %q is not under the warehouse %q", tbl.Location(), wh)
				}
				if spec := tbl.Spec(); spec.NumFields() != 2 {
					t.Errorf("partition fields %d, want 2", spec.NumFields())
				}
				again := ensureContractTable(t, open())
				if again.Metadata().TableUUID() != tbl.Metadata().TableUUID() {
					t.Error("a second EnsureTable created another table")
				}
			})

			t.Run("concurrent-create", func(t *testing.T) {
				open, _ := be.fresh(t)
				const n = 4
				cats := make([]icecatalog.Catalog, n)
				for i := range cats {
					cats[i] = open()
				}
				uuids, errs := make([]string, n), make([]error, n)
				var wg sync.WaitGroup
				sc := schema.TableSchema()
				for i := range n {
					wg.Go(func() {
						tbl, err := catalog.EnsureTable(t.Context(), cats[i], contractIdent, sc, schema.PartitionSpec(sc), nil)
						if err != nil {
							errs[i] = err
							return
						}
						uuids[i] = tbl.Metadata().TableUUID().String()
					})
				}
				wg.Wait()
				for i := range n {
					if errs[i] != nil {
						t.Fatalf("creator %d: %v", i, errs[i])
					}
					if uuids[i] != uuids[0] {
						t.Fatalf("creator %d got table %s, creator 0 got %s", i, uuids[i], uuids[0])
					}
				}
			})

			t.Run("commit-with-offsets", func(t *testing.T) {
				open, wh := be.fresh(t)
				ensureContractTable(t, open())
				w := newWriter(t, open())
				res, err := w.Commit(t.Context(), contractBatch(t, w, "g", 0, 0, 30))
				if err != nil {
					t.Fatal(err)
				}
				if res.Rows != 30 || res.Files != 2 || res.SnapshotID == 0 {
					t.Fatalf("commit result %+v", res)
				}
				// Another process sees the rows and the offsets.
				other := newWriter(t, open())
				off, err := other.Offsets(t.Context(), "g")
				if err != nil {
					t.Fatal(err)
				}
				if got := off[iceberg.TopicPartition{Topic: topic, Partition: 0}]; got != 30 || len(off) != 1 {
					t.Fatalf("offsets %v, want partition 0 at 30", off)
				}
				if got := totalRecords(t, other.Table()); got != "30" {
					t.Fatalf("total-records %s, want 30", got)
				}
				files := dataFiles(t, other.Table())
				if len(files) != 2 {
					t.Fatalf("data files %v, want 2", files)
				}
				for _, f := range files {
					if !strings.HasPrefix(f, wh+"/") {
						t.Errorf("data file %s is not under the warehouse %s", f, wh)
					}
				}
			})

			t.Run("conflict", func(t *testing.T) {
				open, _ := be.fresh(t)
				ensureContractTable(t, open())
				a, b := newWriter(t, open()), newWriter(t, open())
				ctx := t.Context()
				if _, err := a.Commit(ctx, contractBatch(t, a, "g", 0, 0, 10)); err != nil {
					t.Fatal(err)
				}
				// b's view is stale: its commit meets a's and must land
				// after a reload, keeping a's rows and offsets.
				res, err := b.Commit(ctx, contractBatch(t, b, "g", 1, 0, 7))
				if err != nil {
					t.Fatalf("commit on a stale table: %v", err)
				}
				if res.Attempts < 2 {
					t.Errorf("attempts %d: the conflict was not seen", res.Attempts)
				}
				if got := totalRecords(t, b.Table()); got != "17" {
					t.Fatalf("total-records %s, want 17", got)
				}
				off, err := newWriter(t, open()).Offsets(ctx, "g")
				if err != nil {
					t.Fatal(err)
				}
				if len(off) != 2 || off[iceberg.TopicPartition{Topic: topic, Partition: 0}] != 10 || off[iceberg.TopicPartition{Topic: topic, Partition: 1}] != 7 {
					t.Fatalf("offsets %v", off)
				}
				// The same range again is fenced: another writer holds it.
				if _, err := a.Commit(ctx, contractBatch(t, a, "g", 1, 0, 7)); !errors.Is(err, iceberg.ErrFenced) {
					t.Fatalf("overlapping commit: err = %v, want ErrFenced", err)
				}
			})

			t.Run("evolve", func(t *testing.T) {
				open, _ := be.fresh(t)
				ensureContractTable(t, open())
				w := newWriter(t, open())
				ctx := t.Context()
				if _, err := w.Commit(ctx, contractBatch(t, w, "g", 0, 0, 4)); err != nil {
					t.Fatal(err)
				}
				ch := []iceberg.Change{{Kind: iceberg.AddColumn, Name: "floe_conformance", Type: iceberggo.PrimitiveTypes.String}}
				if err := w.Evolve(ctx, ch); err != nil {
					t.Fatal(err)
				}
				if _, err := w.Commit(ctx, contractBatch(t, w, "g", 0, 4, 4)); err != nil {
					t.Fatalf("commit after evolve: %v", err)
				}
				other := newWriter(t, open())
				if _, ok := other.Schema().FindFieldByName("floe_conformance"); !ok {
					t.Fatal("another process does not see the new column")
				}
				if got := totalRecords(t, other.Table()); got != "8" {
					t.Fatalf("total-records %s, want 8", got)
				}
			})
		})
	}
}

// dataFiles lists the data file paths of the table's current snapshot.
func dataFiles(t *testing.T, tbl *table.Table) []string {
	t.Helper()
	tasks, err := tbl.Scan().PlanFiles(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, 0, len(tasks))
	for _, task := range tasks {
		out = append(out, task.File.FilePath())
	}
	return out
}
