package ingest_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/ingest"
	"github.com/floe-io/floe/internal/assembly"
	"github.com/floe-io/floe/internal/contract"
	"github.com/floe-io/floe/internal/devstack"
	"github.com/floe-io/floe/internal/icebirdtest"
	"github.com/floe-io/floe/internal/tabletest"
	"github.com/floe-io/floe/keys"
)

// env is a broker over TCP, a registry over HTTP, a SQLite catalog and a
// local warehouse, all started by the test.
type env struct {
	*tabletest.Env
	stack   *devstack.Stack
	ids     contract.IDs
	keyring map[string][]byte
}

func newEnv(t *testing.T, partitions int) *env {
	t.Helper()
	ctx := context.Background()
	st, err := devstack.Start(ctx, devstack.Options{Partitions: partitions, Topic: "payments.transactions"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ids, err := contract.Register(ctx, st.RegistryURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &env{Env: tabletest.NewEnv(t), stack: st, ids: ids, keyring: devstack.GenerateKeyring("k1", "k2")}
}

// pipeline assembles the pipeline floe run assembles (internal/assembly):
// confluent-kafka-go consumer in a consumer group, registry client,
// keyring, Iceberg writer, Kafka DLQ. The returned function closes the
// source and the dead-letter sink; the writer stays usable.
func (e *env) pipeline(t *testing.T, group string, opts ingest.Options) (*ingest.Pipeline, *iceberg.Writer, func()) {
	t.Helper()
	ctx := context.Background()
	kr, err := keys.New(e.keyring)
	if err != nil {
		t.Fatal(err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	a, err := assembly.New(ctx, assembly.Config{
		Brokers: e.stack.BrokersString(), RegistryURL: e.stack.RegistryURL,
		Topic: "payments.transactions", Group: group, DLQTopic: "payments.transactions.dlq",
		Keyring: kr, Catalog: e.URI, Warehouse: e.Warehouse, Table: "payments.transactions",
		Opts: opts, Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.CloseCatalog)
	return a.Pipeline, a.Writer, func() { _ = a.Close(context.Background()) }
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

func (e *env) ends(t *testing.T) map[ingest.TopicPartition]int64 {
	t.Helper()
	src, err := ingest.NewKafkaSource(ingest.KafkaSourceConfig{Brokers: e.stack.BrokersString(), Topic: "payments.transactions", Static: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	parts, err := src.TopicPartitions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[ingest.TopicPartition]int64{}
	for _, p := range parts {
		tp := ingest.TopicPartition{Topic: "payments.transactions", Partition: p}
		_, high, err := src.Watermarks(tp)
		if err != nil {
			t.Fatal(err)
		}
		out[tp] = high
	}
	return out
}

// tableRows reads every row of w's table back, by transaction id, after
// reloading it.
func tableRows(t *testing.T, w *iceberg.Writer) map[string]tabletest.Row {
	t.Helper()
	if err := w.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	return tabletest.RowsByID(t, w.Table())
}

func expectStrings(ev devstack.Event) map[string]string {
	x := ev.Expect
	opt := func(s *string) string {
		if s == nil {
			return tabletest.Null
		}
		return *s
	}
	fee := tabletest.Null
	if x.FeeBps != nil {
		fee = strconv.FormatInt(*x.FeeBps, 10)
	}
	return map[string]string{
		"transaction_id": x.TransactionID,
		"event_time":     x.EventTime.UTC().Format(time.RFC3339Nano),
		"source":         x.Source,
		"amount":         x.Amount,
		"currency":       x.Currency,
		"user_id":        x.UserID,
		"merchant_id":    x.MerchantID,
		"status":         x.Status,
		"channel":        opt(x.Channel),
		"fee_bps":        fee,
		"country":        opt(x.Country),
	}
}

// TestEndToEnd is the pipeline over real peers: 20,000 events over four
// partitions with invalid ones mixed in, consumed in a consumer group,
// committed on a trigger, read back through an Iceberg scan.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts a broker, a registry and a catalog")
	}
	e := newEnv(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	gen, err := devstack.NewGenerator(devstack.GenOptions{
		Seed: 42, Merchants: 60, Keys: e.keyring, IDs: e.ids, InvalidShare: 0.03, ExoticMerchants: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	events := make([]devstack.Event, 20000)
	for i := range events {
		events[i] = gen.Next()
	}
	if err := devstack.Produce(ctx, e.stack.Brokers, "payments.transactions", events); err != nil {
		t.Fatal(err)
	}
	var commits []ingest.CommitInfo
	p, w, closeAll := e.pipeline(t, "it-group", ingest.Options{
		Trigger: 300 * time.Millisecond, MaxBatchRows: 4000, Until: e.ends(t),
		OnCommit: func(ci ingest.CommitInfo) { commits = append(commits, ci) },
	})
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	closeAll()

	rows := tableRows(t, w)
	valid, invalid := map[string]devstack.Event{}, map[string]devstack.Event{}
	for _, ev := range events {
		if ev.Class == "" {
			valid[ev.TransactionID] = ev
		} else {
			invalid[ev.TransactionID] = ev
		}
	}
	if len(rows) != len(valid) {
		t.Errorf("table has %d rows, want %d valid events", len(rows), len(valid))
	}
	for id, ev := range valid {
		got, ok := rows[id]
		if !ok {
			t.Errorf("valid event %s missing from the table", id)
			continue
		}
		for k, want := range expectStrings(ev) {
			if got[k] != want {
				t.Errorf("%s: column %s = %q, want %q", id, k, got[k], want)
			}
		}
		if got["_kafka_topic"] != "payments.transactions" || got["_ingested_at"] == tabletest.Null {
			t.Errorf("%s: metadata columns %q %q", id, got["_kafka_topic"], got["_ingested_at"])
		}
	}
	if len(commits) < 2 {
		t.Errorf("%d commits: the row threshold (4000 rows) should have split 20,000 events", len(commits))
	}
	for _, c := range commits {
		if c.Rows > 4000 {
			t.Errorf("commit of %d rows, over --max-batch-rows 4000", c.Rows)
		}
	}
	st := p.Stats()
	if st.Dead != int64(len(invalid)) {
		t.Errorf("dead-lettered %d, want %d", st.Dead, len(invalid))
	}

	// Every data file holds only rows of its own partition.
	checkFilePartitions(t, w)

	// Every invalid event is in the dead-letter topic with its class and
	// its original bytes.
	dl, err := devstack.ReadAll(ctx, e.stack.Brokers, "payments.transactions.dlq")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, r := range dl {
		var class, srcOff string
		for _, h := range r.Headers {
			switch h.Key {
			case ingest.HeaderClass:
				class = string(h.Value)
			case ingest.HeaderOffset:
				srcOff = string(h.Value)
			}
		}
		if srcOff == "" {
			t.Errorf("dead letter without source offset header")
		}
		seen[string(r.Key)] = class
		if ev, ok := invalid[string(r.Key)]; ok && string(ev.Value) != string(r.Value) {
			t.Errorf("dead letter %s: value bytes differ from the original", r.Key)
		}
	}
	for id, ev := range invalid {
		if seen[id] != ev.Class {
			t.Errorf("invalid event %s: dead-letter class %q, want %q", id, seen[id], ev.Class)
		}
	}

	// An Iceberg reader sharing no code with iceberg-go, taking every
	// location literally, reads the same rows.
	checkIcebird(t, w, valid)

	// The snapshot summary holds the next offsets: a new writer reads
	// exactly the end offsets back.
	got, err := w.Offsets(ctx, "it-group")
	if err != nil {
		t.Fatal(err)
	}
	for tp, end := range e.ends(t) {
		if got[tp] != end {
			t.Errorf("offsets for %v: table says %d, end is %d", tp, got[tp], end)
		}
	}
}

// checkFilePartitions opens every live data file with arrow-go's Parquet
// reader (not through iceberg-go) and checks that its rows match the
// partition values the manifest gives the file.
func checkFilePartitions(t *testing.T, w *iceberg.Writer) {
	t.Helper()
	ctx := context.Background()
	tasks, err := w.Table().Scan().PlanFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) == 0 {
		t.Fatal("no data files")
	}
	for _, task := range tasks {
		part := task.File.Partition()
		// Data file locations are literal paths: a merchant id's '%' or
		// '/' is escaped in the manifest and on disk alike.
		path, ok := strings.CutPrefix(task.File.FilePath(), "file://")
		if !ok {
			t.Fatalf("data file path %q is not a file:// location", task.File.FilePath())
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		rdr, err := file.NewParquetReader(f)
		if err != nil {
			t.Fatal(err)
		}
		fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: 4096}, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := fr.ReadTable(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tr := array.NewTableReader(tbl, 4096)
		n := 0
		for tr.Next() {
			rec := tr.RecordBatch()
			for i := 0; i < int(rec.NumRows()); i++ {
				row := tabletest.RowOf(rec, i)
				if fmt.Sprint(part[1000]) != row["currency"] || fmt.Sprint(part[1001]) != row["merchant_id"] {
					t.Errorf("file %s (partition %v) holds a row of %s/%s", path, part, row["currency"], row["merchant_id"])
				}
				n++
			}
		}
		tr.Release()
		tbl.Release()
		rdr.Close()
		if int64(n) != task.File.Count() {
			t.Errorf("file %s: %d rows read, manifest says %d", path, n, task.File.Count())
		}
	}
}

// checkIcebird reads the table with icebird and compares the row count,
// the (currency, merchant) partitions of the manifests and of the rows,
// and the per-currency sums of amount with the valid events produced.
func checkIcebird(t *testing.T, w *iceberg.Writer, valid map[string]devstack.Event) {
	t.Helper()
	res := icebirdtest.Read(t, icebirdtest.Of(w.Table(), ""))[0]
	want, got := map[string]int64{}, map[string]int64{}
	wantParts, gotParts, fileParts := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, ev := range valid {
		c, ok := icebirdtest.Cents(mustFloat(t, ev.Expect.Amount))
		if !ok {
			t.Fatalf("amount %q", ev.Expect.Amount)
		}
		want[ev.Expect.Currency] += c
		wantParts[ev.Expect.Currency+"/"+ev.Expect.MerchantID] = true
	}
	if len(res.Rows) != len(valid) {
		t.Errorf("icebird read %d rows, want %d", len(res.Rows), len(valid))
	}
	for _, r := range res.Rows {
		cur, _ := r["currency"].(string)
		mer, _ := r["merchant_id"].(string)
		c, ok := icebirdtest.Cents(r["amount"])
		if !ok {
			t.Fatalf("icebird amount %v (%T)", r["amount"], r["amount"])
		}
		got[cur] += c
		gotParts[cur+"/"+mer] = true
	}
	for _, f := range res.Files {
		cur, _ := f.Partition["currency"].(string)
		mer, _ := f.Partition["merchant_id"].(string)
		fileParts[cur+"/"+mer] = true
	}
	for c, s := range want {
		if got[c] != s {
			t.Errorf("icebird: %s sums to %d cents, want %d", c, got[c], s)
		}
	}
	for p := range wantParts {
		if !gotParts[p] || !fileParts[p] {
			t.Errorf("icebird: partition %q in rows %v, in manifests %v", p, gotParts[p], fileParts[p])
		}
	}
	if len(gotParts) != len(wantParts) || len(fileParts) != len(wantParts) {
		t.Errorf("icebird: %d partitions in rows, %d in manifests, want %d", len(gotParts), len(fileParts), len(wantParts))
	}
}

func mustFloat(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
