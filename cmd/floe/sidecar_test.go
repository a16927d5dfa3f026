package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func scrape(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metricValue sums every sample of a metric (all label sets), and reports
// whether the metric was present.
func metricValue(body, name string) (float64, bool) {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(\{[^}]*\})? ([0-9.eE+-]+)$`)
	total, found := 0.0, false
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err == nil {
			total += v
			found = true
		}
	}
	return total, found
}

// TestSidecarEndpoints runs `floe run` with its HTTP listener, scrapes
// /metrics twice around a burst of events and checks that every metric the
// sidecar promises is there and moves; /healthz and /readyz answer.
func TestSidecarEndpoints(t *testing.T) {
	if testing.Short() {
		t.Skip("runs floe as a child process")
	}
	e := newProcEnv(t, 2)
	addr := freeAddr(t)
	c := startChild(t, e.runArgs("sidecar", "--trigger", "200ms", "--http", addr, "--log-format", "json", "--compact-every", "1s")...)
	defer c.kill()
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := scrape(t, base+"/readyz")
		if code == http.StatusOK {
			if !strings.Contains(body, `"registry":"ok"`) || !strings.Contains(body, `"catalog":"ok"`) {
				t.Errorf("/readyz body: %s", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never became ready: %d %s\n%s", code, body, c.tail)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, body := scrape(t, base+"/healthz"); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	_, before := scrape(t, base+"/metrics")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := <-e.produce(t, ctx, 3, 3000, 0, "side-"); err != nil {
		t.Fatal(err)
	}
	w := e.writer(t)
	e.waitCaughtUp(t, w, "sidecar", e.endOffsets(t), 60*time.Second)
	time.Sleep(1200 * time.Millisecond) // one lag report after the last commit
	_, after := scrape(t, base+"/metrics")

	moves := []string{
		"floe_records_consumed_total", "floe_rows_committed_total", "floe_records_dead_lettered_total",
		"floe_commits_total", "floe_commit_duration_seconds_count", "floe_commit_write_seconds_sum", "floe_commit_rows_sum",
		"floe_commit_bytes_sum", "floe_data_files_written_total", "floe_data_bytes_written_total",
		"floe_last_commit_timestamp_seconds", "floe_schema_versions_seen",
		"floe_compaction_runs_total",
	}
	for _, name := range moves {
		b, _ := metricValue(before, name)
		a, ok := metricValue(after, name)
		if !ok {
			t.Errorf("metric %s missing from /metrics", name)
		} else if a <= b {
			t.Errorf("metric %s did not move: %v -> %v", name, b, a)
		}
	}
	if v, _ := metricValue(after, "floe_rows_committed_total"); v != 3000-90 {
		t.Errorf("floe_rows_committed_total = %v, want 2910", v)
	}
	for _, class := range []string{"bad_magic", "unknown_schema", "malformed_avro", "unknown_key", "decrypt_failed", "bad_payload", "incompatible_schema"} {
		if !regexp.MustCompile(`floe_records_dead_lettered_total\{class="` + class + `"\} [1-9]`).MatchString(after) {
			t.Errorf("no dead letters counted for class %s", class)
		}
	}
	for _, name := range []string{"floe_consumer_lag_records", "floe_seconds_since_last_commit", "floe_assigned_partitions", "floe_consumer_waited_seconds_total"} {
		if _, ok := metricValue(after, name); !ok {
			t.Errorf("metric %s missing", name)
		}
	}
	if v, _ := metricValue(after, "floe_consumer_lag_records"); v != 0 {
		t.Errorf("lag after catching up = %v, want 0", v)
	}
	if v, _ := metricValue(after, "floe_assigned_partitions"); v != 2 {
		t.Errorf("assigned partitions = %v, want 2", v)
	}
	if !regexp.MustCompile(`floe_schema_versions_seen\{schema_id="4"\} 1`).MatchString(after) {
		t.Errorf("schema id 4 (payment v3) not reported as seen")
	}
	if err := c.stop(30 * time.Second); err != nil {
		t.Errorf("SIGTERM: %v\n%s", err, c.tail)
	}
}

// TestStopWhileStarting: SIGTERM while `floe run` is still starting (here
// stuck on a registry that accepts connections and never answers) is a
// clean stop: exit 0 and a log line that says so.
func TestStopWhileStarting(t *testing.T) {
	e := newProcEnv(t, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold it open, say nothing
		}
	}()
	c := startChild(t, e.runArgs("starting", append(childFlags(""), "--registry-url", "http://"+ln.Addr().String())...)...)
	if c.waitFor(20*time.Second, msgIs("configuration")) == nil {
		t.Fatalf("no configuration line:\n%s", c.tail)
	}
	if err := c.stop(20 * time.Second); err != nil {
		t.Fatalf("exit: %v\n%s", err, c.tail)
	}
	if !strings.Contains(c.tail.String(), "stopped while starting") {
		t.Fatalf("no 'stopped while starting' line:\n%s", c.tail)
	}
}
