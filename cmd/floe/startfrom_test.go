package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestRunStartFromLatest: a group the table has never seen starts at the
// end of each partition with --start-from latest; what was produced before
// it started is not ingested, what comes after is, once.
func TestRunStartFromLatest(t *testing.T) {
	if testing.Short() {
		t.Skip("runs floe as a child process")
	}
	e := newProcEnv(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := <-e.produce(t, ctx, 41, 300, 0, "before-"); err != nil {
		t.Fatal(err)
	}
	c := startChild(t, e.runArgs("late", "--start-from", "latest", "--http", "", "--trigger", "100ms", "--log-format", "json")...)
	defer c.kill()
	if c.waitFor(30*time.Second, msgIs("partitions assigned")) == nil {
		t.Fatalf("no assignment:\n%s", c.tail)
	}
	// The resolved start offsets are committed (a snapshot without rows),
	// so a restart would not skip what arrives before the first row.
	if c.waitFor(10*time.Second, msgIs("commit")) == nil {
		t.Fatalf("the start offsets were not committed:\n%s", c.tail)
	}
	if err := <-e.produce(t, ctx, 42, 300, 0, "after-"); err != nil {
		t.Fatal(err)
	}
	e.waitCaughtUp(t, e.writer(t), "late", e.endOffsets(t), 60*time.Second)
	if err := c.stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	rows := e.rowsOf(t, "payments.transactions")
	after := 0
	for id := range rows {
		if strings.HasPrefix(id, "before-") {
			t.Errorf("%s was produced before the group started from latest", id)
		}
		after++
	}
	if after != 300-9 { // 3% invalid
		t.Errorf("%d rows, want the 291 valid events produced after the start", after)
	}
}
