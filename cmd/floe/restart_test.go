package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Issue 14: a process SIGKILLed and restarted at once, with floe's default
// group settings (static membership under the host name, 10 s session),
// commits again within 10 s of its restart.

const restartBudget = 10 * time.Second

// firstCommitAfterStart starts a child and returns how long it took from
// the start to its first commit line (0 if none came within timeout).
func firstCommitAfterStart(t *testing.T, timeout time.Duration, args ...string) (*child, time.Duration) {
	t.Helper()
	floeBinary(t) // built before the clock starts
	began := time.Now()
	c := startChild(t, args...)
	if c.waitFor(timeout, msgIs("commit")) == nil {
		return c, 0
	}
	return c, time.Since(began)
}

func TestRestartToFirstCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes")
	}
	e := newProcEnv(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const group = "restart"
	stop := make(chan struct{})
	produced := e.produceUntil(t, ctx, 21, 200000, 500, "rst-", stop)
	// Default options but the log format and no HTTP listener (the
	// default port would collide with other tests).
	args := e.runArgs(group, "--log-format", "json", "--http", "")

	c, d := firstCommitAfterStart(t, 60*time.Second, args...)
	if d == 0 {
		t.Fatalf("first process never committed:\n%s", c.tail)
	}
	t.Logf("cold start to first commit: %s", d.Round(time.Millisecond))
	var worst time.Duration
	for i := 0; i < 3; i++ {
		c.kill()
		c, d = firstCommitAfterStart(t, 3*restartBudget, args...)
		if d == 0 {
			t.Fatalf("restart %d: no commit within %s:\n%s", i, 3*restartBudget, c.tail)
		}
		t.Logf("restart %d after SIGKILL: first commit %s after the start", i, d.Round(time.Millisecond))
		worst = max(worst, d)
	}
	if worst >= restartBudget {
		t.Errorf("slowest restart to first commit %s, want < %s", worst.Round(time.Millisecond), restartBudget)
	}
	close(stop)
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	w := e.writer(t)
	e.waitCaughtUp(t, w, group, e.endOffsets(t), 60*time.Second)
	if err := c.stop(40 * time.Second); err != nil {
		t.Fatalf("last process did not exit cleanly: %v\n%s", err, c.tail)
	}
	e.checkExactlyOnce(t, w)
}

// TestBackfillRestartToFirstCommit: a backfill assigns its partitions
// (no group join), so a restart after SIGKILL resumes at once too.
func TestBackfillRestartToFirstCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes")
	}
	e := newProcEnv(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := <-e.produce(t, ctx, 23, 30000, 0, "bfr-"); err != nil {
		t.Fatal(err)
	}
	args := append(e.backfillArgs("bf.restart"), "--trigger", "1s", "--max-batch-rows", "2000", "--log-level", "info", "--log-format", "json")
	c, d := firstCommitAfterStart(t, 60*time.Second, args...)
	if d == 0 {
		t.Fatalf("backfill never committed:\n%s", c.tail)
	}
	c.kill()
	c, d = firstCommitAfterStart(t, 3*restartBudget, args...)
	if d == 0 {
		t.Fatalf("restarted backfill: no commit within %s:\n%s", 3*restartBudget, c.tail)
	}
	t.Logf("backfill restart after SIGKILL: first commit %s after the start", d.Round(time.Millisecond))
	if d >= restartBudget {
		t.Errorf("backfill restart to first commit %s, want < %s", d.Round(time.Millisecond), restartBudget)
	}
	select {
	case <-c.done:
	case <-time.After(2 * time.Minute):
		c.kill()
		t.Fatalf("restarted backfill did not finish:\n%s", c.tail)
	}
	if c.err != nil {
		t.Fatalf("restarted backfill: %v\n%s", c.err, c.tail)
	}
	all := e.wantRows(t, func(int32, int64, time.Time) bool { return true })
	sameSet(t, "after restart", e.rowsOf(t, "bf.restart"), all)
}

// TestSameInstanceIDFenced: two processes configured with one instance id
// fence each other; the older one stops with an error that names the id
// and a "fenced" line, and the newer one goes on committing.
func TestSameInstanceIDFenced(t *testing.T) {
	if testing.Short() {
		t.Skip("runs floe as child processes")
	}
	e := newProcEnv(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stop := make(chan struct{})
	defer close(stop)
	_ = e.produceUntil(t, ctx, 25, 100000, 300, "dup-", stop)
	args := e.runArgs("dup", "--log-format", "json", "--http", "", "--trigger", "200ms", "--instance-id", "twin")
	a := startChild(t, args...)
	defer a.kill()
	if a.waitFor(30*time.Second, msgIs("commit")) == nil {
		t.Fatalf("first process never committed:\n%s", a.tail)
	}
	bStart := time.Now()
	b := startChild(t, args...)
	defer b.kill()
	if b.waitFor(30*time.Second, msgIs("commit")) == nil {
		t.Fatalf("second process never committed:\n%s", b.tail)
	}
	t.Logf("second process committed %s after the first one's first commit", time.Since(bStart).Round(time.Millisecond))
	select {
	case <-a.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the fenced process is still running:\n%s", a.tail)
	}
	if !strings.Contains(a.tail.String(), `"msg":"fenced: another process joined the group with this process's instance id"`) {
		t.Errorf("no fenced line from the first process:\n%s", a.tail)
	}
	if a.err == nil {
		t.Errorf("the fenced process exited 0")
	}
	if tail := a.tail.String(); !strings.Contains(tail, `floe run: kafka: fenced out of consumer group "dup": another process joined it with the same instance id "twin"`) {
		t.Errorf("exit message does not name the instance id:\n%s", tail)
	}
	if b.waitFor(10*time.Second, msgIs("commit")) == nil {
		t.Errorf("the newer process stopped committing:\n%s", b.tail)
	}
}
