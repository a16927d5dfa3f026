package ingest_test

import (
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	icecatalog "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
	"github.com/uptrace/bun/driver/sqliteshim"

	"github.com/floe-io/floe/catalog"
	"github.com/floe-io/floe/dlqtable"
	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/ingest"
	"github.com/floe-io/floe/internal/devstack"
	"github.com/floe-io/floe/internal/tabletest"
	"github.com/floe-io/floe/internal/testserver"
	"github.com/floe-io/floe/keys"
	"github.com/floe-io/floe/schema"
)

// outageCase is a pipeline over real peers with one of them taken down
// mid-stream and brought back.
type outageCase struct {
	// cat, wh and props open the catalog.
	cat, wh string
	props   map[string]string
	// dlqTable sends dead letters to an Iceberg table in the same catalog.
	dlqTable bool
	invalid  float64
	// what the pipeline must report down.
	what string
	// down takes the peer down; up brings it back. downFor is how long
	// it stays down.
	down, up func(t testing.TB)
	downFor  time.Duration
}

const outageBatchRows = 250

// rideThrough produces events before, during and after the outage while
// the pipeline runs, and checks that it reported the outage, held at most
// two batches while it could not commit, resumed by itself, and that every
// valid event is in the table once (and every invalid one in the
// dead-letter table once). It returns the time from the peer coming back to
// the next commit landing.
func rideThrough(t *testing.T, c outageCase) time.Duration {
	t.Helper()
	e := newEnv(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	gen, err := devstack.NewGenerator(devstack.GenOptions{Seed: 14, Merchants: 20, Keys: e.keyring, IDs: e.ids, InvalidShare: c.invalid})
	if err != nil {
		t.Fatal(err)
	}
	events := gen.Events(4000)
	if err := devstack.Produce(ctx, e.stack.Brokers, "payments.transactions", events[:1000]); err != nil {
		t.Fatal(err)
	}

	cat, err := catalog.Open(ctx, c.cat, c.wh, c.props)
	if err != nil {
		t.Fatal(err)
	}
	ident, _ := catalog.ParseIdentifier("payments.transactions")
	sc := schema.TableSchema()
	if _, err := catalog.EnsureTable(ctx, cat, ident, sc, schema.PartitionSpec(sc), nil); err != nil {
		t.Fatal(err)
	}
	w, err := iceberg.NewWriter(ctx, cat, ident)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := schema.NewRegistry(e.stack.RegistryURL)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := keys.New(e.keyring)
	if err != nil {
		t.Fatal(err)
	}
	src, err := ingest.NewKafkaSource(ingest.KafkaSourceConfig{Brokers: e.stack.BrokersString(), Group: "outage", Topic: "payments.transactions"})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var dlq ingest.DeadLetterSink
	dident := dlqtable.Name(ident)
	if c.dlqTable {
		if dlq, err = dlqtable.New(ctx, cat, dident, dlqtable.Options{}); err != nil {
			t.Fatal(err)
		}
	} else if dlq, err = ingest.NewKafkaDeadLetters(e.stack.BrokersString(), "payments.transactions.dlq", nil); err != nil {
		t.Fatal(err)
	}
	defer dlq.Close(context.WithoutCancel(ctx))

	var (
		mu      sync.Mutex
		commits []time.Time
		table   = iceberg.Offsets{}
	)
	obs := &outageObserver{}
	p, err := ingest.New(src, schema.NewDecoder(reg), kr, w, dlq, ingest.Options{
		Group: "outage", Trigger: 200 * time.Millisecond, MaxBatchRows: outageBatchRows, Observer: obs,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		OnCommit: func(ci ingest.CommitInfo) {
			mu.Lock()
			defer mu.Unlock()
			commits = append(commits, ci.Committed)
			for tp, off := range ci.Offsets {
				table[tp] = off
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(rctx) }()
	ncommits := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(commits)
	}
	waitFor(t, 60*time.Second, "the first commit", func() bool { return ncommits() > 0 })

	c.down(t)
	downAt := time.Now()
	produced := make(chan error, 1)
	go func() {
		// 2,000 events while the peer is down: more than the two batches
		// the pipeline may hold.
		for i := 1000; i < 3000; i += 200 {
			if err := devstack.Produce(ctx, e.stack.Brokers, "payments.transactions", events[i:i+200]); err != nil {
				produced <- err
				return
			}
			time.Sleep(c.downFor / 20)
		}
		produced <- nil
	}()
	waitFor(t, c.downFor+30*time.Second, "the outage to be reported", func() bool {
		began, _ := obs.counts()
		return slices.Contains(began, c.what)
	})
	time.Sleep(time.Until(downAt.Add(c.downFor)))
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	held := st.Consumed - st.Rows - st.Dead
	if held > 2*outageBatchRows {
		t.Errorf("%d records held while the %s was down, want at most two batches (%d)", held, c.what, 2*outageBatchRows)
	}
	before := ncommits()
	c.up(t)
	upAt := time.Now()
	waitFor(t, 60*time.Second, "a commit after the outage", func() bool { return ncommits() > before })
	mu.Lock()
	recovery := commits[before].Sub(upAt)
	mu.Unlock()
	if err := devstack.Produce(ctx, e.stack.Brokers, "payments.transactions", events[3000:]); err != nil {
		t.Fatal(err)
	}
	ends := e.ends(t)
	waitFor(t, 90*time.Second, "every event committed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for tp, end := range ends {
			if table[tp] != end {
				return false
			}
		}
		return true
	})
	stop()
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}
	began, ended := obs.counts()
	if !slices.Contains(began, c.what) || !slices.Contains(ended, c.what) {
		t.Errorf("outages began %v ended %v, want %s in both", began, ended, c.what)
	}

	valid := map[string]devstack.Event{}
	var invalid []devstack.Event
	for _, ev := range events {
		if ev.Class == "" {
			valid[ev.TransactionID] = ev
		} else {
			invalid = append(invalid, ev)
		}
	}
	rows := tableRows(t, w) // fails on a row twice
	if len(rows) != len(valid) {
		t.Errorf("table has %d rows, want %d", len(rows), len(valid))
	}
	for id := range valid {
		if _, ok := rows[id]; !ok {
			t.Errorf("event %s missing from the table", id)
		}
	}
	if c.dlqTable {
		checkDeadLetterTable(t, cat, dident, invalid)
	}
	t.Logf("%s down %v; recovery (back to the next commit landing): %v; %d commits, %d rows, %d dead letters; %d records held while down",
		c.what, c.downFor, recovery.Round(time.Millisecond), p.Stats().Commits, len(rows), len(invalid), held)
	return recovery
}

// checkDeadLetterTable checks that every invalid event is in the dead-letter
// table exactly once (its key is the transaction id), and nothing else.
func checkDeadLetterTable(t *testing.T, cat icecatalog.Catalog, ident table.Identifier, invalid []devstack.Event) {
	t.Helper()
	seen := map[string]int{}
	for _, r := range tabletest.ReadDLQ(t, cat, ident) {
		seen[string(r.Key)]++
	}
	for _, ev := range invalid {
		if n := seen[ev.TransactionID]; n != 1 {
			t.Errorf("dead letter %s is in the dead-letter table %d times, want once", ev.TransactionID, n)
		}
		delete(seen, ev.TransactionID)
	}
	if len(seen) > 0 {
		t.Errorf("dead-letter table holds %d unexpected rows", len(seen))
	}
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPostgresCatalogRestarted: the PostgreSQL catalog is stopped (as in a
// crash) for 4 s under load and started again.
func TestPostgresCatalogRestarted(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	pg := testserver.StartPostgres(t)
	rideThrough(t, outageCase{
		cat: pg.NewDatabase(t), wh: "file://" + filepath.Join(t.TempDir(), "wh"), what: "catalog",
		down: pg.Stop, up: pg.Start, downFor: 4 * time.Second,
	})
}

// TestSQLiteCatalogLocked: another process holds a write transaction on the
// SQLite catalog for 12 s, longer than the 10 s busy timeout floe's
// connections wait for it.
func TestSQLiteCatalogLocked(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "catalog.db")
	var db *sql.DB
	var conn *sql.Conn
	rideThrough(t, outageCase{
		cat: "sqlite://" + path, wh: "file://" + filepath.Join(dir, "wh"), what: "catalog",
		down: func(t testing.TB) {
			var err error
			if db, err = sql.Open(sqliteshim.ShimName, "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"); err != nil {
				t.Fatal(err)
			}
			if conn, err = db.Conn(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
				t.Fatal(err)
			}
		},
		up: func(t testing.TB) {
			if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
				t.Fatal(err)
			}
			_ = conn.Close()
			_ = db.Close()
		},
		downFor: 12 * time.Second,
	})
}

// TestS3Restarted: the object store (warehouse and dead-letter table) stops
// answering for 4 s and comes back with its objects.
func TestS3Restarted(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	s3 := testserver.StartS3(t)
	s3.CreateBucket(t, "lake")
	rideThrough(t, outageCase{
		cat: "sqlite://" + filepath.Join(t.TempDir(), "catalog.db"), wh: "s3://lake/wh", props: s3.Props(),
		dlqTable: true, invalid: 0.05, what: "storage",
		down: s3.Stop, up: s3.Start, downFor: 4 * time.Second,
	})
}
