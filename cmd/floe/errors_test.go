package main

import (
	"context"
	"errors"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/floe-io/floe/catalog"
	"github.com/floe-io/floe/internal/devstack"
	"github.com/floe-io/floe/internal/tabletest"
)

// TestRunOnErrorFail: with --on-error fail, floe run commits everything
// before the first bad record, then exits 1 naming its partition, offset
// and class.
func TestRunOnErrorFail(t *testing.T) {
	if testing.Short() {
		t.Skip("runs floe as a child process")
	}
	e := newProcEnv(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// 1/0.03 = 33: the 34th event (offset 33) is the first invalid one.
	if err := <-e.produce(t, ctx, 21, 200, 0, "fail-"); err != nil {
		t.Fatal(err)
	}
	first := -1
	for i, ev := range e.produced {
		if ev.Class != "" {
			first = i
			break
		}
	}
	c := startChild(t, e.runArgs("failing", "--on-error", "fail", "--http", "", "--trigger", "100ms")...)
	select {
	case <-c.done:
	case <-time.After(60 * time.Second):
		c.kill()
		t.Fatalf("floe run did not stop on the bad record:\n%s", c.tail)
	}
	var ee *exec.ExitError
	if !errors.As(c.err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want code 1\n%s", c.err, c.tail)
	}
	want := regexp.MustCompile(`record payments\.transactions\[0\]@` + itoa(first) + ` cannot be ingested \(` + e.produced[first].Class + `\)`)
	if !want.MatchString(c.tail.String()) {
		t.Errorf("exit message does not name partition 0, offset %d and class %s:\n%s", first, e.produced[first].Class, c.tail)
	}
	rows := e.rowsOf(t, "payments.transactions")
	if len(rows) != first {
		t.Errorf("table has %d rows, want the %d before the bad record", len(rows), first)
	}
	got, err := e.writer(t).Offsets(ctx, "failing")
	if err != nil {
		t.Fatal(err)
	}
	if off := got[topicPartition(e.topic, 0)]; off != int64(first) {
		t.Errorf("table offset %d, want %d (the bad record is not skipped)", off, first)
	}
}

// TestBackfillDeadLetterTable: --dlq table sends every invalid record to
// the <table>_dlq Iceberg table with its class; --max-record-bytes turns
// large records into too_large.
func TestBackfillDeadLetterTable(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker, a registry and a catalog")
	}
	e := newProcEnv(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := <-e.produce(t, ctx, 22, 1000, 0, "dlqt-"); err != nil {
		t.Fatal(err)
	}
	e.backfill(t, "dlqt.payments", "--dlq", "table")
	classes := e.deadLetterClasses(t, "dlqt.payments_dlq")
	n := 0
	for _, ev := range e.produced {
		if ev.Class == "" {
			continue
		}
		n++
		if classes[ev.TransactionID] != ev.Class {
			t.Errorf("%s: dead-letter table class %q, want %q", ev.TransactionID, classes[ev.TransactionID], ev.Class)
		}
	}
	if len(classes) != n {
		t.Errorf("dead-letter table has %d rows, want %d", len(classes), n)
	}

	// A size limit below every well-formed record's size: those are all
	// too_large (a record cut shorter than the limit keeps its class).
	e.backfill(t, "dlqt.small", "--dlq", "table", "--max-record-bytes", "64")
	small := e.deadLetterClasses(t, "dlqt.small_dlq")
	for _, ev := range e.produced {
		want := "too_large"
		if len(ev.Key)+len(ev.Value) <= 64 {
			want = ev.Class
		}
		if small[ev.TransactionID] != want {
			t.Errorf("%s (%d bytes): class %q, want %q", ev.TransactionID, len(ev.Key)+len(ev.Value), small[ev.TransactionID], want)
		}
	}
	if len(e.rowsOf(t, "dlqt.small")) != 0 {
		t.Error("records over --max-record-bytes reached the table")
	}
}

// TestRunReloadsKeyringOnSIGHUP: keys added to the keyring file are used
// after SIGHUP, without a restart (the miss-triggered reload is held off
// by a long --keyring-reload-interval, so SIGHUP is what loads them).
func TestRunReloadsKeyringOnSIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("runs floe as a child process")
	}
	e := newProcEnv(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	full := e.keyring
	if err := devstack.WriteKeyringFile(e.keyFile, map[string][]byte{"k1": full["k1"]}); err != nil {
		t.Fatal(err)
	}
	c := startChild(t, e.runArgs("hup", "--http", "", "--trigger", "100ms", "--keyring-reload-interval", "1h", "--log-format", "json")...)
	defer c.kill()
	if c.waitFor(30*time.Second, msgIs("partitions assigned")) == nil {
		t.Fatalf("no assignment:\n%s", c.tail)
	}
	if err := devstack.WriteKeyringFile(e.keyFile, full); err != nil {
		t.Fatal(err)
	}
	_ = c.cmd.Process.Signal(syscall.SIGHUP)
	if c.waitFor(10*time.Second, msgIs("keyring reloaded")) == nil {
		t.Fatalf("no reload logged:\n%s", c.tail)
	}
	e.keyring = full
	if err := <-e.produce(t, ctx, 23, 300, 0, "hup-"); err != nil { // sealed with k1 and k2 in turn
		t.Fatal(err)
	}
	e.waitCaughtUp(t, e.writer(t), "hup", e.endOffsets(t), 60*time.Second)
	if err := c.stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	e.checkExactlyOnce(t, e.writer(t))
}

func (e *procEnv) deadLetterClasses(t *testing.T, table string) map[string]string {
	t.Helper()
	ctx := context.Background()
	cat, err := catalog.Open(ctx, e.catalogURI(), e.warehouse(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ident, _ := catalog.ParseIdentifier(table)
	tbl, err := cat.LoadTable(ctx, ident)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range tabletest.Rows(t, tbl) {
		key := r["key"] // base64 of the key bytes
		if key == tabletest.Null {
			key = ""
		}
		out[decodeKey(t, key)] = r["error_class"]
		if r["value"] == tabletest.Null {
			t.Errorf("dead letter without its original value")
		}
	}
	return out
}

func decodeKey(t *testing.T, s string) string {
	t.Helper()
	b, err := base64Std(s)
	if err != nil {
		return s
	}
	return string(b)
}
