package main

import (
	"context"
	"slices"
	"testing"
	"time"
)

func compactionStageIs(stage string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["msg"] == "compaction stage" && m["stage"] == stage }
}

// TestCrashDuringCompactionCommit kills `floe run` with SIGKILL inside the
// background compactor's replace commit, again and again while events are
// produced, then lets a final run catch up and compact: every valid event
// is in the table exactly once, and compaction did land. Every other run
// writes coarse commits (--coarse-above 1, what the default auto layout
// does at scale), so the killed replaces move coarse files too.
func TestCrashDuringCompactionCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes repeatedly")
	}
	e := newProcEnv(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const group = "compact-crash"
	stopProducing := make(chan struct{})
	produced := e.produceUntil(t, ctx, 21, 100000, 2000, "cc-", stopProducing)
	flags := append(childFlags(""), "--instance-id", "floe-compact-crash", "--compact-every", "2s")

	killed := 0
	for kill := 0; kill < 4; kill++ {
		args := flags
		if kill%2 == 1 {
			args = append(slices.Clone(flags), "--coarse-above", "1")
		}
		c := startChild(t, e.runArgs(group, args...)...)
		if c.waitFor(40*time.Second, compactionStageIs("rewrite-commit")) != nil {
			killed++
		}
		c.kill()
	}
	close(stopProducing)
	if killed < 3 {
		t.Errorf("only %d of 4 kills landed inside a compaction commit", killed)
	}
	if err := <-produced; err != nil {
		t.Fatal(err)
	}

	finalStart := time.Now().Add(-time.Second).UnixMilli()
	final := startChild(t, e.runArgs(group, flags...)...)
	w := e.writer(t)
	e.waitCaughtUp(t, w, group, e.endOffsets(t), 90*time.Second)
	// The final run's compactor must land a replace commit of its own.
	replaces, fresh := 0, 0
	for deadline := time.Now().Add(90 * time.Second); fresh == 0 && time.Now().Before(deadline); time.Sleep(time.Second) {
		if err := w.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		replaces, fresh = 0, 0
		for _, s := range w.Table().Metadata().Snapshots() {
			if s.Summary != nil && s.Summary.Operation == "replace" {
				replaces++
				if s.TimestampMs >= finalStart {
					fresh++
				}
			}
		}
	}
	if fresh == 0 {
		t.Errorf("the final run's compactor committed no replace snapshot within 90 s:\n%s", final.tail)
	}
	if err := final.stop(40 * time.Second); err != nil {
		t.Fatalf("final run did not exit cleanly on SIGTERM: %v\n%s", err, final.tail)
	}
	if coarseAppends(t, w.Table()) == 0 {
		t.Error("no commit was written coarse: the test would not cover moving coarse files")
	}
	t.Logf("%d kills inside a compaction commit; %d replace snapshots", killed, replaces)
	e.checkExactlyOnce(t, w)
}
