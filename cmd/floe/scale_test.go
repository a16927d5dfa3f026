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
// default 2000) and FLOE_SCALE_WINDOW (default 15s) change the run.
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
	var results []string
	for _, f := range strings.Split(envOr("FLOE_SCALE_INSTANCES", "1,2,4,8"), ",") {
		var n int
		fmt.Sscan(f, &n)
		t.Run(fmt.Sprintf("instances=%d", n), func(t *testing.T) {
			results = append(results, measureScale(t, n, trigger, rate, window))
		})
	}
	t.Logf("trigger %s, %d events/s offered, %s window:\n%s\n%s", trigger, rate, window, scaleHeader, strings.Join(results, "\n"))
}

const scaleHeader = "| instances | commits | attempts/commit | commits needing >1 attempt | commit p50 ms | commit p95 ms | rows/s | exactly once | processes that exited 1 |"

type commitSample struct {
	attempts int
	ms       float64
	rows     float64
}

func measureScale(t *testing.T, n int, trigger string, rate int, window time.Duration) string {
	e := newProcEnv(t, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const group = "scale"
	stop := make(chan struct{})
	produced := e.produceUntil(t, ctx, 41, 10_000_000, rate, "scale-", stop)

	var mu sync.Mutex
	measuring := false
	var samples []commitSample
	children := make([]*child, n)
	var wg sync.WaitGroup
	for i := range children {
		c := startChild(t, e.runArgs(group, "--trigger", trigger, "--log-format", "json", "--http", "",
			"--instance-id", fmt.Sprintf("scale-%d", i), "--compact-every", "0")...)
		children[i] = c
		defer c.kill()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case m := <-c.lines:
					if m["msg"] != "commit" {
						continue
					}
					a, _ := m["attempts"].(float64)
					ms, _ := m["duration_ms"].(float64)
					rows, _ := m["rows"].(float64)
					mu.Lock()
					if measuring {
						samples = append(samples, commitSample{int(a), ms, rows})
					}
					mu.Unlock()
				case <-c.done:
					return
				}
			}
		}()
	}
	// Let the group settle and the backlog of the start drain.
	time.Sleep(6 * time.Second)
	mu.Lock()
	measuring = true
	mu.Unlock()
	time.Sleep(window)
	mu.Lock()
	measuring = false
	got := append([]commitSample(nil), samples...)
	mu.Unlock()
	close(stop)
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	w := e.writer(t)
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
	attempts, multi, rows := 0, 0, 0.0
	lat := make([]float64, len(got))
	for i, s := range got {
		attempts += s.attempts
		if s.attempts > 1 {
			multi++
		}
		rows += s.rows
		lat[i] = s.ms
	}
	sort.Float64s(lat)
	pct := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	line := fmt.Sprintf("| %d | %d | %.2f | %d (%.0f%%) | %.0f | %.0f | %.0f | %v | %d |", n, len(got),
		float64(attempts)/float64(len(got)), multi, 100*float64(multi)/float64(len(got)), pct(0.5), pct(0.95), rows/window.Seconds(), once, crashed)
	t.Log(line)
	return line
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
