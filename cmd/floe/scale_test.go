package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestScaleOutMeasure measures N `floe run` processes of one group writing
// one table: commit attempts per commit, commit latency,
// rows/s and exactly-once. It is a measurement, run on demand:
//
//	FLOE_SCALE_BENCH=1 FLOE_SCALE_TRIGGER=250ms nice go test -count=1 -v -run TestScaleOutMeasure ./cmd/floe/
//
// FLOE_SCALE_INSTANCES (default "1,2,4,8"), FLOE_SCALE_RATE (events/s,
// default 2000) and FLOE_SCALE_WINDOW (default 15s) change the run;
// FLOE_SCALE_MODE=coordinated runs the processes with --commit-mode
// coordinated (default self).
//
// Columns: snapshots the table gained in the window (self: one per landed
// commit; coordinated: the coordinator's rounds that added one) and per
// second; catalog attempts per landed snapshot; the workers' batches per
// snapshot; a batch's whole Commit as its pipeline sees it (writing the
// files included) and, coordinated, the part from sending the request to
// the answer; rows/s committed in the window; the snapshots the table
// gained in the window (a check on the first column: it also counts the
// commits of a coordinated worker that got no answer and committed its
// batch itself, counted in the last column).
func TestScaleOutMeasure(t *testing.T) {
	if os.Getenv("FLOE_SCALE_BENCH") == "" {
		t.Skip("a measurement: set FLOE_SCALE_BENCH=1")
	}
	trigger := envOr("FLOE_SCALE_TRIGGER", "250ms")
	window, err := time.ParseDuration(envOr("FLOE_SCALE_WINDOW", "15s"))
	if err != nil {
		t.Fatal(err)
	}
	rate := 2000
	fmt.Sscan(envOr("FLOE_SCALE_RATE", "2000"), &rate)
	mode := envOr("FLOE_SCALE_MODE", "self")
	var results []string
	for _, f := range strings.Split(envOr("FLOE_SCALE_INSTANCES", "1,2,4,8"), ",") {
		var n int
		fmt.Sscan(f, &n)
		t.Run(fmt.Sprintf("instances=%d", n), func(t *testing.T) {
			results = append(results, measureScale(t, n, mode, trigger, rate, window))
		})
	}
	t.Logf("%s commits, trigger %s, %d events/s offered, %s window:\n%s\n%s", mode, trigger, rate, window, scaleHeader, strings.Join(results, "\n"))
}

const scaleHeader = "| mode | instances | snapshots | snapshots/s | catalog attempts/snapshot | snapshots needing >1 attempt | batches/snapshot | commit p50 / p95 ms | send→answer p50 / p95 ms | rows/s | exactly once | processes that exited 1 | snapshots the table gained | worker self-commits |"

type commitSample struct {
	attempts int
	ms       float64
	writeMs  float64
	rows     float64
}

// roundSample is one coordinated snapshot.
type roundSample struct {
	attempts, accepted int
}

func measureScale(t *testing.T, n int, mode, trigger string, rate int, window time.Duration) string {
	e := newProcEnv(t, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const group = "scale"
	stop := make(chan struct{})
	produced := e.produceUntil(t, ctx, 41, 10_000_000, rate, "scale-", stop)

	var mu sync.Mutex
	measuring := false
	var samples []commitSample
	var rounds []roundSample
	fallbacks := 0
	children := make([]*child, n)
	var wg sync.WaitGroup
	for i := range children {
		c := startChild(t, e.runArgs(group, "--trigger", trigger, "--log-format", "json", "--http", "",
			"--instance-id", fmt.Sprintf("scale-%d", i), "--compact-every", "0", "--commit-mode", mode)...)
		children[i] = c
		defer c.kill()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case m := <-c.lines:
					a, _ := m["attempts"].(float64)
					switch m["msg"] {
					case "commit":
						ms, _ := m["duration_ms"].(float64)
						wms, _ := m["write_ms"].(float64)
						rows, _ := m["rows"].(float64)
						mu.Lock()
						if measuring {
							samples = append(samples, commitSample{int(a), ms, wms, rows})
						}
						mu.Unlock()
					case "coordinated commit":
						acc, _ := m["accepted"].(float64)
						mu.Lock()
						if measuring && acc > 0 {
							rounds = append(rounds, roundSample{int(a), int(acc)})
						}
						mu.Unlock()
					case "coordinated commit: no answer; committing the batch from this process":
						mu.Lock()
						if measuring {
							fallbacks++
						}
						mu.Unlock()
					}
				case <-c.done:
					return
				}
			}
		}()
	}
	// Let the group settle and the backlog of the start drain.
	time.Sleep(6 * time.Second)
	w := e.writer(t)
	tableSnaps := func() int {
		if err := w.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		return len(w.Table().Metadata().Snapshots())
	}
	snaps0 := tableSnaps()
	mu.Lock()
	measuring = true
	mu.Unlock()
	time.Sleep(window)
	mu.Lock()
	measuring = false
	got := append([]commitSample(nil), samples...)
	gotRounds := append([]roundSample(nil), rounds...)
	fellBack := fallbacks
	mu.Unlock()
	// Every snapshot the table gained (the coordinator's, and any a worker
	// committed itself): compaction is off, so nothing else commits.
	inTable := tableSnaps() - snaps0
	close(stop)
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	e.waitCaughtUp(t, w, group, e.endOffsets(t), 90*time.Second)
	crashed := 0
	for _, c := range children {
		if err := c.stop(40 * time.Second); err != nil {
			crashed++
			tail := c.tail.String()
			t.Logf("a process exited with %v: %s", err, tail[strings.LastIndex(tail, "\n")+1:])
		}
	}
	wg.Wait()
	before := t.Failed()
	e.checkExactlyOnce(t, w)
	once := before == t.Failed()

	if len(got) == 0 {
		t.Fatalf("no commits in the window")
	}
	rows := 0.0
	lat := make([]float64, len(got))
	wait := make([]float64, len(got))
	for i, c := range got {
		rows += c.rows
		lat[i] = c.ms
		wait[i] = c.ms - c.writeMs
	}
	// Snapshots: self, one per landed commit; coordinated, the rounds.
	var snaps []roundSample
	if mode == "coordinated" {
		snaps = gotRounds
	} else {
		for _, c := range got {
			snaps = append(snaps, roundSample{c.attempts, 1})
		}
	}
	attempts, multi := 0, 0
	for _, r := range snaps {
		attempts += r.attempts
		if r.attempts > 1 {
			multi++
		}
	}
	per := func(a int) float64 { return float64(a) / float64(max(len(snaps), 1)) }
	sort.Float64s(lat)
	sort.Float64s(wait)
	pct := func(v []float64, p float64) float64 { return v[min(len(v)-1, int(p*float64(len(v))))] }
	answer := "-"
	if mode == "coordinated" {
		answer = fmt.Sprintf("%.0f / %.0f", pct(wait, 0.5), pct(wait, 0.95))
	}
	line := fmt.Sprintf("| %s | %d | %d | %.2f | %.2f | %d (%.0f%%) | %.2f | %.0f / %.0f | %s | %.0f | %v | %d | %d | %d |", mode, n, len(snaps),
		float64(len(snaps))/window.Seconds(), per(attempts), multi, 100*per(multi), float64(len(got))/float64(max(len(snaps), 1)),
		pct(lat, 0.5), pct(lat, 0.95), answer, rows/window.Seconds(), once, crashed, inTable, fellBack)
	t.Log(line)
	return line
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
