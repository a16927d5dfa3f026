package main

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"
)

// childFlags make a child commit often and log its commit stages; the
// short session makes the group notice a killed member quickly. The
// children of one test share the host name, floe's default instance id:
// tests that run two at once give each its own --instance-id.
func childFlags(kafka string) []string {
	return []string{
		"--trigger", "150ms", "--log-format", "json", "--log-level", "debug", "--http", "",
		"--session-timeout", "2s", "--kafka-config", "heartbeat.interval.ms=300" + kafka,
	}
}

// TestCrashExactlyOnce kills `floe run` with SIGKILL 24 times while events
// are produced: a third of the kills land while Parquet files are being
// written, a third inside the catalog commit, the rest at random moments.
// After a final clean run every valid event is in the table exactly once.
func TestCrashExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes repeatedly")
	}
	e := newProcEnv(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const group = "crash"
	// Produce for as long as the kills go on (at most 200,000 events):
	// a process that catches up has no batch to be killed in.
	stopProducing := make(chan struct{})
	produced := e.produceUntil(t, ctx, 7, 200000, 2000, "crash-", stopProducing)
	rng := rand.New(rand.NewPCG(1, 2))

	// Static membership: a restarted process takes its predecessor's place
	// in the group at once instead of waiting out its session.
	flags := append(childFlags(""), "--instance-id", "floe-crash")
	inStage := map[string]int{}
	for kill := 0; kill < 24; kill++ {
		c := startChild(t, e.runArgs(group, flags...)...)
		switch kill % 3 {
		case 0:
			if c.waitFor(20*time.Second, stageIs("write")) != nil {
				inStage["write"]++
			}
		case 1:
			if c.waitFor(20*time.Second, stageIs("commit")) != nil {
				inStage["commit"]++
			}
		default:
			c.waitFor(time.Duration(200+rng.IntN(1500))*time.Millisecond, func(map[string]any) bool { return false })
		}
		c.kill()
	}
	close(stopProducing)
	t.Logf("killed 24 times: %d inside a data file write, %d inside a catalog commit", inStage["write"], inStage["commit"])
	if inStage["write"] < 6 || inStage["commit"] < 6 {
		t.Errorf("too few kills inside a stage: %v", inStage)
	}
	if err := <-produced; err != nil {
		t.Fatal(err)
	}

	final := startChild(t, e.runArgs(group, flags...)...)
	w := e.writer(t)
	e.waitCaughtUp(t, w, group, e.endOffsets(t), 90*time.Second)
	if err := final.stop(40 * time.Second); err != nil {
		t.Fatalf("final run did not exit cleanly on SIGTERM: %v\n%s", err, final.tail)
	}
	e.checkExactlyOnce(t, w)
}

// TestCrashTwoProcessesOneGroup runs two `floe run` in one consumer group
// and kills one of them again and again, so partitions move back and forth
// between them while both commit to the same table.
func TestCrashTwoProcessesOneGroup(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes repeatedly")
	}
	e := newProcEnv(t, 6)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	const group = "pair"
	stopProducing := make(chan struct{})
	produced := e.produceUntil(t, ctx, 11, 200000, 1500, "pair-", stopProducing)

	steady := startChild(t, e.runArgs(group, append(childFlags(""), "--instance-id", "pair-steady")...)...)
	defer steady.kill()
	if steady.waitFor(30*time.Second, msgIs("partitions assigned")) == nil {
		t.Fatalf("steady process got no partitions:\n%s", steady.tail)
	}
	moves := 0
	for kill := 0; kill < 8; kill++ {
		// A new id each time: the killed member stays in the group until
		// its session expires, so partitions move to steady and back.
		c := startChild(t, e.runArgs(group, append(childFlags(""), "--instance-id", "pair-"+itoa(kill))...)...)
		// Wait until the group rebalanced and this process owns partitions
		// and committed, then kill it inside its next commit.
		if c.waitFor(30*time.Second, func(m map[string]any) bool {
			return m["msg"] == "partitions assigned" && m["partitions"] != float64(0)
		}) != nil {
			moves++
		}
		c.waitFor(10*time.Second, stageIs("commit"))
		c.kill()
	}
	close(stopProducing)
	if moves < 6 {
		t.Errorf("partitions moved to the restarted process only %d times of 8", moves)
	}
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	w := e.writer(t)
	e.waitCaughtUp(t, w, group, e.endOffsets(t), 90*time.Second)
	if err := steady.stop(40 * time.Second); err != nil {
		t.Fatalf("steady process did not exit cleanly: %v\n%s", err, steady.tail)
	}
	e.checkExactlyOnce(t, w)
}
