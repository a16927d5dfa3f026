package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/internal/testserver"
)

// coordWatch follows the JSON log of coordinated children: who is the
// coordinator, worker commits and coordinator rounds.
type coordWatch struct {
	mu          sync.Mutex
	coordinator map[int]bool // child index -> currently the coordinator
	commits     int          // worker commit lines
	rounds      int          // coordinated commit lines that added a snapshot
	accepted    int
	attempts    int
}

func (w *coordWatch) follow(i int, c *child, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case m := <-c.lines:
				msg, _ := m["msg"].(string)
				w.mu.Lock()
				switch msg {
				case "coordinated commits: this process is the coordinator":
					w.coordinator[i] = true
				case "coordinated commits: this process is no longer the coordinator":
					w.coordinator[i] = false
				case "commit":
					w.commits++
				case "coordinated commit":
					if acc, _ := m["accepted"].(float64); acc > 0 {
						w.rounds++
						w.accepted += int(acc)
						a, _ := m["attempts"].(float64)
						w.attempts += int(a)
					}
				}
				w.mu.Unlock()
			case <-c.done:
				w.mu.Lock()
				w.coordinator[i] = false
				w.mu.Unlock()
				return
			}
		}
	}()
}

// coordinatorOf returns the index of the child that says it is the
// coordinator, or -1.
func (w *coordWatch) coordinatorOf() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, on := range w.coordinator {
		if on {
			return i
		}
	}
	return -1
}

func waitCoordinator(t *testing.T, w *coordWatch, not int, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if i := w.coordinatorOf(); i >= 0 && i != not {
			return i
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no coordinator (other than %d) within %s", not, timeout)
	return -1
}

// TestCoordinatedCommits runs three `floe run --commit-mode coordinated`
// processes of one group on one table: the batches of all three land in
// about one snapshot per trigger; then the coordinator is killed (SIGKILL)
// mid-run, another process takes the role with partition 0, and every
// valid event is in the table exactly once.
func TestCoordinatedCommits(t *testing.T) {
	if testing.Short() {
		t.Skip("runs and kills child processes")
	}
	e := newProcEnv(t, 6)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const group = "coord"
	const trigger = 500 * time.Millisecond
	stop := make(chan struct{})
	produced := e.produceUntil(t, ctx, 77, 1_000_000, 1000, "crd-", stop)

	watch := &coordWatch{coordinator: map[int]bool{}}
	var wg sync.WaitGroup
	children := make([]*child, 3)
	start := func(i int) {
		c := startChild(t, e.runArgs(group, "--trigger", trigger.String(), "--log-format", "json", "--http", "",
			"--instance-id", fmt.Sprintf("coord-%d", i), "--compact-every", "0", "--session-timeout", "3s",
			"--commit-mode", "coordinated")...)
		children[i] = c
		t.Cleanup(c.kill)
		watch.follow(i, c, &wg)
	}
	for i := range children {
		start(i)
	}
	first := waitCoordinator(t, watch, -1, 60*time.Second)

	// A steady window: count the snapshots the table gains and the batches
	// the workers commit.
	time.Sleep(5 * time.Second)
	w := e.writer(t)
	snapsAt := func() int {
		if err := w.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		return len(w.Table().Metadata().Snapshots())
	}
	watch.mu.Lock()
	c0 := watch.commits
	watch.mu.Unlock()
	s0 := snapsAt()
	const window = 8 * time.Second
	time.Sleep(window)
	s1 := snapsAt()
	watch.mu.Lock()
	c1 := watch.commits
	watch.mu.Unlock()
	snaps, commits := s1-s0, c1-c0
	t.Logf("steady window %s, trigger %s: %d snapshots, %d worker commits (%.2f batches per snapshot)",
		window, trigger, snaps, commits, float64(commits)/float64(max(snaps, 1)))
	// A round commits at the trigger, or sooner (but at least half a trigger
	// after the last one) once every live process has a request in: at most
	// two snapshots per trigger by design (18-19 in this window are usual,
	// 20 was seen under CI load). One per process per trigger would be
	// three times the trigger count.
	if limit := int(2*window/trigger) + 1; snaps > limit {
		t.Errorf("%d snapshots in %s at a %s trigger, want at most %d (rounds at least half a trigger apart, not one per process)", snaps, window, trigger, limit)
	}
	if float64(commits) < 1.5*float64(snaps) {
		t.Errorf("%d worker commits in %d snapshots: the processes' batches are not sharing snapshots", commits, snaps)
	}

	// Kill the coordinator mid-run: another process gets partition 0 and
	// the role once the session times out.
	t.Logf("killing the coordinator (process %d)", first)
	children[first].kill()
	next := waitCoordinator(t, watch, first, 60*time.Second)
	t.Logf("process %d is the coordinator now", next)
	time.Sleep(3 * time.Second)
	// And it comes back (same instance id) while events still flow.
	start(first)
	time.Sleep(5 * time.Second)

	close(stop)
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	e.waitCaughtUp(t, w, group, e.endOffsets(t), 120*time.Second)
	for _, c := range children {
		if err := c.stop(40 * time.Second); err != nil {
			t.Errorf("a process exited with %v:\n%s", err, c.tail)
		}
	}
	wg.Wait()
	e.checkExactlyOnce(t, w)

	// Every data snapshot is a coordinated one.
	if err := w.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range w.Table().Metadata().Snapshots() {
		p := s.Summary.Properties
		if p[iceberg.OffsetsKey(group)] != "" && p[iceberg.CommitIDsKey] == "" {
			t.Errorf("snapshot %d records offsets without a commit-id list: not committed by a coordinator", s.SnapshotID)
		}
	}
}

// TestCoordinatedWithCompaction runs two `floe run --commit-mode
// coordinated` processes with their compactors on (every 2 s) under a
// steady stream, on a PostgreSQL catalog: the coordinator's snapshots and
// the compactors' replace snapshots interleave on one table, and every
// valid event is in it exactly once.
func TestCoordinatedWithCompaction(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	pg := testserver.StartPostgres(t)
	e := newProcEnv(t, 4)
	e.cat = pg.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const group = "coordc"
	stop := make(chan struct{})
	produced := e.produceUntil(t, ctx, 78, 1_000_000, 1000, "crc-", stop)
	children := make([]*child, 2)
	for i := range children {
		children[i] = startChild(t, e.runArgs(group, "--trigger", "300ms", "--log-format", "json", "--http", "",
			"--instance-id", fmt.Sprintf("coordc-%d", i), "--compact-every", "2s", "--session-timeout", "3s",
			"--commit-mode", "coordinated")...)
		t.Cleanup(children[i].kill)
	}
	time.Sleep(12 * time.Second)
	close(stop)
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	w := e.writer(t)
	e.waitCaughtUp(t, w, group, e.endOffsets(t), 90*time.Second)
	time.Sleep(5 * time.Second) // a compaction run or two after the load
	for _, c := range children {
		if err := c.stop(40 * time.Second); err != nil {
			t.Errorf("a process exited with %v:\n%s", err, c.tail)
		}
	}
	e.checkExactlyOnce(t, w)
	if err := w.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	var replaces, coordinated int
	for _, s := range w.Table().Metadata().Snapshots() {
		switch {
		case s.Summary == nil:
		case s.Summary.Operation == "replace":
			replaces++
		case s.Summary.Properties[iceberg.CommitIDsKey] != "":
			coordinated++
		}
	}
	if replaces == 0 || coordinated == 0 {
		t.Fatalf("%d replace snapshots, %d coordinated ones: want both", replaces, coordinated)
	}
	t.Logf("%d coordinated snapshots, %d replace snapshots kept", coordinated, replaces)
}
