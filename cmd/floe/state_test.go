package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestStateLinesAndMetrics: `floe run` logs one line per state
// change and /metrics shows the state, so a stall reads differently from
// an idle topic. The registry sits behind a proxy the test turns off: with
// it down floe is in the "outage" state (records retried, not
// dead-lettered), and back to "running" when it answers again.
func TestStateLinesAndMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("runs floe as a child process")
	}
	e := newProcEnv(t, 2)
	target, err := url.Parse(e.stack.RegistryURL)
	if err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() && r.URL.Path != "/subjects" { // /subjects: floe's start-up ping
			http.Error(w, `{"error_code":50301,"message":"down for the test"}`, http.StatusServiceUnavailable)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()

	addr := freeAddr(t)
	args := e.runArgs("state", "--registry-url", proxy.URL, "--http", addr, "--log-format", "json", "--trigger", "200ms", "--instance-id", "state-0")
	c := startChild(t, args...)
	defer c.kill()
	metrics := func() string {
		_, body := scrape(t, "http://"+addr+"/metrics")
		return body
	}
	waitMetric := func(what, re string) string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			body := metrics()
			if regexp.MustCompile(`(?m)^` + re + `$`).MatchString(body) {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: /metrics never matched %s:\n%s\n%s", what, re, grepLines(body, "floe_state", "floe_outage"), c.tail)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// Assigned, nothing to read yet: running (an idle topic), no outage.
	if c.waitFor(30*time.Second, msgIs("partitions assigned")) == nil {
		t.Fatalf("no partitions assigned:\n%s", c.tail)
	}
	// (The pipeline counts its partitions a moment before the source
	// counts the change: wait for both.)
	waitMetric("idle", `floe_state_changes_total\{change="assigned"\} 1`)
	body := waitMetric("idle", `floe_state\{state="running"\} 1`)
	for _, re := range []string{`floe_state\{state="outage"\} 0`, `floe_outage\{component="registry"\} 0`, `floe_assigned_partitions 2`} {
		if !regexp.MustCompile(`(?m)^` + re + `$`).MatchString(body) {
			t.Errorf("idle: /metrics lacks %s", re)
		}
	}

	down.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := <-e.produce(t, ctx, 31, 2000, 0, "state-"); err != nil {
		t.Fatal(err)
	}
	began := c.waitFor(30*time.Second, msgIs("outage began: retrying until it answers"))
	if began == nil || began["component"] != "registry" {
		t.Fatalf("no outage-began line for the registry (%v):\n%s", began, c.tail)
	}
	waitMetric("outage", `floe_state\{state="outage"\} 1`)
	waitMetric("outage", `floe_outage\{component="registry"\} 1`)
	time.Sleep(time.Second)

	down.Store(false)
	ended := c.waitFor(30*time.Second, msgIs("outage ended"))
	if ended == nil || ended["component"] != "registry" {
		t.Fatalf("no outage-ended line for the registry (%v):\n%s", ended, c.tail)
	}
	w := e.writer(t)
	e.waitCaughtUp(t, w, "state", e.endOffsets(t), 60*time.Second)
	body = waitMetric("recovered", `floe_state\{state="running"\} 1`)
	for _, re := range []string{`floe_outage\{component="registry"\} 0`,
		`floe_state_changes_total\{change="outage_began"\} 1`, `floe_state_changes_total\{change="outage_ended"\} 1`} {
		if !regexp.MustCompile(`(?m)^` + re + `$`).MatchString(body) {
			t.Errorf("after the outage: /metrics lacks %s:\n%s", re, grepLines(body, "floe_state", "floe_outage"))
		}
	}
	if v, _ := metricValue(body, "floe_outage_seconds_total"); v < 1 {
		t.Errorf("floe_outage_seconds_total = %v, want >= 1 (the registry was down over a second)", v)
	}
	if n := strings.Count(c.tail.String(), `"msg":"outage began`); n > 1 {
		t.Errorf("%d outage-began lines for one outage", n)
	}
	if err := c.stop(30 * time.Second); err != nil {
		t.Errorf("SIGTERM: %v\n%s", err, c.tail)
	}
	e.checkExactlyOnce(t, w)
}

func grepLines(body string, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}
