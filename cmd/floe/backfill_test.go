package main

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/internal/devstack"
	"github.com/floe-io/floe/internal/tabletest"
)

func (e *procEnv) backfillArgs(table string, extra ...string) []string {
	args := []string{"backfill",
		"--brokers", e.stack.BrokersString(), "--registry-url", e.stack.RegistryURL,
		"--topic", e.topic, "--keyring", e.keyFile,
		"--catalog", e.catalogURI(), "--warehouse", e.warehouse(), "--table", table,
		"--trigger", "200ms", "--log-level", "warn", "--progress", "none",
	}
	return append(args, extra...)
}

// backfill runs `floe backfill` in-process and returns its stdout.
func (e *procEnv) backfill(t *testing.T, table string, extra ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := realMain(e.backfillArgs(table, extra...), envFrom(nil), &out, &errb); code != 0 {
		t.Fatalf("backfill %v: exit %d\n%s\n%s", extra, code, out.String(), errb.String())
	}
	return out.String()
}

type keyed struct {
	partition int32
	offset    int64
}

// rowsOf returns transaction id -> (partition, offset) for every row of a
// table, failing on duplicates.
func (e *procEnv) rowsOf(t *testing.T, table string) map[string]keyed {
	t.Helper()
	w := e.writerFor(t, table)
	rows := map[string]keyed{}
	for id, r := range tabletest.RowsByID(t, w.Table()) {
		var k keyed
		fmt.Sscan(r["_kafka_partition"], &k.partition)
		fmt.Sscan(r["_kafka_offset"], &k.offset)
		rows[id] = k
	}
	return rows
}

// wantRows is the set of valid events whose (partition, offset) satisfies in.
func (e *procEnv) wantRows(t *testing.T, in func(partition int32, offset int64, ts time.Time) bool) map[string]bool {
	t.Helper()
	recs, err := devstack.ReadAll(context.Background(), e.stack.Brokers, e.topic)
	if err != nil {
		t.Fatal(err)
	}
	valid := map[string]bool{}
	e.mu.Lock()
	for _, ev := range e.produced {
		if ev.Class == "" {
			valid[ev.TransactionID] = true
		}
	}
	e.mu.Unlock()
	want := map[string]bool{}
	for _, r := range recs {
		if valid[string(r.Key)] && in(r.Partition, r.Offset, r.Timestamp) {
			want[string(r.Key)] = true
		}
	}
	return want
}

func sameSet(t *testing.T, what string, got map[string]keyed, want map[string]bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d rows, want %d", what, len(got), len(want))
	}
	for id := range want {
		if _, ok := got[id]; !ok {
			t.Errorf("%s: %s missing", what, id)
			return
		}
	}
}

func TestBackfill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker, a registry and a catalog")
	}
	e := newProcEnv(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := <-e.produce(t, ctx, 5, 3000, 0, "bf1-"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	mid := time.Now()
	time.Sleep(50 * time.Millisecond)
	if err := <-e.produce(t, ctx, 6, 2000, 0, "bf2-"); err != nil {
		t.Fatal(err)
	}

	t.Run("earliest to latest, then again", func(t *testing.T) {
		out := e.backfill(t, "bf.all")
		if !strings.Contains(out, "backfill done: 5000 records read") || !regexp.MustCompile(`dead-lettered: 150 \(`).MatchString(out) {
			t.Errorf("summary:\n%s", out)
		}
		all := e.wantRows(t, func(int32, int64, time.Time) bool { return true })
		sameSet(t, "first run", e.rowsOf(t, "bf.all"), all)

		out = e.backfill(t, "bf.all")
		if !strings.Contains(out, "backfill done: 0 records read, 0 rows committed") {
			t.Errorf("re-run read again:\n%s", out)
		}
		sameSet(t, "re-run", e.rowsOf(t, "bf.all"), all)
	})

	t.Run("parquet writer", func(t *testing.T) {
		all := e.wantRows(t, func(int32, int64, time.Time) bool { return true })
		for _, c := range []struct{ flag, log, createdBy string }{
			{"lean", "data files are written by the lean Parquet writer", "floe version"},
			{"iceberg-go", "data files are written by iceberg-go's Parquet writer", "parquet-go"},
		} {
			table := "bf.writer_" + strings.ReplaceAll(c.flag, "-", "_")
			var out, errb bytes.Buffer
			args := e.backfillArgs(table, "--parquet-writer", c.flag, "--log-level", "info")
			if code := realMain(args, envFrom(nil), &out, &errb); code != 0 {
				t.Fatalf("%s: exit %d\n%s", c.flag, code, errb.String())
			}
			if !strings.Contains(errb.String(), c.log) {
				t.Errorf("%s: log does not say %q:\n%s", c.flag, c.log, errb.String())
			}
			sameSet(t, c.flag, e.rowsOf(t, table), all)
			if got := createdBy(t, e.writerFor(t, table).Table()); !strings.HasPrefix(got, c.createdBy) {
				t.Errorf("%s: data files created by %q, want %s...", c.flag, got, c.createdBy)
			}
		}
	})

	t.Run("offsets", func(t *testing.T) {
		e.backfill(t, "bf.offsets", "--from", "offsets:0=100,1=50", "--to", "offsets:0=300")
		want := e.wantRows(t, func(p int32, o int64, _ time.Time) bool {
			return (p == 0 && o >= 100 && o < 300) || (p == 1 && o >= 50)
		})
		got := e.rowsOf(t, "bf.offsets")
		sameSet(t, "offsets range", got, want)
		for id, k := range got {
			if k.partition == 2 {
				t.Errorf("%s from partition 2, which --from left out", id)
			}
		}
	})

	t.Run("time", func(t *testing.T) {
		e.backfill(t, "bf.time", "--from", "time:"+mid.UTC().Format(time.RFC3339Nano))
		want := e.wantRows(t, func(_ int32, _ int64, ts time.Time) bool { return !ts.Before(mid) })
		got := e.rowsOf(t, "bf.time")
		sameSet(t, "time range", got, want)
		for id := range got {
			if !strings.HasPrefix(id, "bf2-") {
				t.Errorf("%s was produced before --from", id)
			}
		}
	})

	t.Run("dry run", func(t *testing.T) {
		out := e.backfill(t, "bf.dry", "--dry-run", "--from", "offsets:2=10")
		if !regexp.MustCompile(`(?m)^\s+2\s+10\s+\d+\s+-\s+\d+$`).MatchString(out) || !strings.Contains(out, "in 1 partitions") {
			t.Errorf("dry run output:\n%s", out)
		}
		w := e.writer(t) // the default table was never created by the dry runs above
		_ = w
	})

	t.Run("bad usage", func(t *testing.T) {
		var out, errb bytes.Buffer
		code := realMain(e.backfillArgs("bf.bad", "--from", "yesterday", "--to", "offsets:x"), envFrom(nil), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), "--from") || !strings.Contains(errb.String(), "--to") {
			t.Errorf("exit %d, stderr:\n%s", code, errb.String())
		}
		code = realMain(e.backfillArgs("bf.bad", "--from", "offsets:9=1"), envFrom(nil), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), "partition 9") {
			t.Errorf("unknown partition: exit %d, stderr:\n%s", code, errb.String())
		}
	})
}

// TestBackfillResumesAfterKill kills a backfill inside its second commit
// and runs it again: the second run starts where the last snapshot ended
// and the table ends with every event once.
func TestBackfillResumesAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs floe as a child process")
	}
	e := newProcEnv(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := <-e.produce(t, ctx, 9, 20000, 0, "bfk-"); err != nil {
		t.Fatal(err)
	}
	args := append(e.backfillArgs("bf.kill"), "--max-batch-rows", "1500", "--log-format", "json", "--log-level", "debug")
	c := startChild(t, args...)
	commits := 0
	if c.waitFor(60*time.Second, func(m map[string]any) bool {
		if m["msg"] == "commit" {
			commits++
		}
		return commits >= 2 && m["msg"] == "commit stage" && m["stage"] == "commit"
	}) == nil {
		t.Fatalf("backfill never reached its third commit:\n%s", c.tail)
	}
	c.kill()
	partial := len(e.rowsOf(t, "bf.kill"))
	if partial == 0 || partial >= 19400 {
		t.Fatalf("after the kill the table has %d rows; want a partial backfill", partial)
	}
	out := e.backfill(t, "bf.kill")
	m := regexp.MustCompile(`backfill done: (\d+) records read`).FindStringSubmatch(out)
	if m == nil || m[1] == "20000" {
		t.Errorf("second run should resume, not start over:\n%s", out)
	}
	all := e.wantRows(t, func(int32, int64, time.Time) bool { return true })
	sameSet(t, "after resume", e.rowsOf(t, "bf.kill"), all)
}

// createdBy returns the Parquet footer's created_by of one of tbl's data
// files: which writer wrote it.
func createdBy(t *testing.T, tbl *table.Table) string {
	t.Helper()
	tasks, err := tbl.Scan().PlanFiles(t.Context())
	if err != nil || len(tasks) == 0 {
		t.Fatalf("plan files: %d tasks, %v", len(tasks), err)
	}
	fsys, err := tbl.FS(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	f, err := fsys.Open(tasks[0].File.FilePath())
	if err != nil {
		t.Fatal(err)
	}
	rd, err := file.NewParquetReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	return rd.MetaData().GetCreatedBy()
}
