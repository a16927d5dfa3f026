package main

import (
	"context"
	"errors"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/floe-io/floe/internal/testserver"
)

// logTime is the time of a JSON log line.
func logTime(t *testing.T, m map[string]any) time.Time {
	t.Helper()
	s, _ := m["time"].(string)
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("log line without a time: %v", m)
	}
	return at
}

// waitReady polls /readyz until it answers code with a body containing
// want.
func waitReady(t *testing.T, c *child, url string, code int, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, body := scrape(t, url)
		if got == code && strings.Contains(body, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: %d %s, want %d with %q\n%s", got, body, code, want, c.tail)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRunRidesThroughPostgresRestart: `floe run` on a PostgreSQL catalog
// under load; the server is stopped for 4 s and started again. floe keeps
// running, /readyz answers 503 naming the catalog while it is down, the
// outage is logged once when it begins and once when it ends, and after
// the load every valid event is in the table exactly once.
func TestRunRidesThroughPostgresRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs floe as a child process")
	}
	pg := testserver.StartPostgres(t)
	e := newProcEnv(t, 2)
	e.cat = pg.NewDatabase(t)
	rideThrough(t, e, "pg-outage", "catalog", "pgo-", nil, pg.Stop, pg.Start)
}

// TestRunOutageTimeout: with --outage-timeout 2s, a catalog that does not
// come back makes `floe run` exit 1 with a message naming it and how long
// it was down; a restart once it is back commits every event exactly once.
func TestRunOutageTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("runs floe as a child process")
	}
	pg := testserver.StartPostgres(t)
	e := newProcEnv(t, 2)
	e.cat = pg.NewDatabase(t)
	const group = "pg-timeout"
	args := e.runArgs(group, "--trigger", "200ms", "--http", "", "--log-format", "json", "--compact-every", "0", "--outage-timeout", "2s")
	c := startChild(t, args...)
	defer c.kill()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	produced := e.produce(t, ctx, 22, 3000, 1000, "pgt-")
	if c.waitFor(60*time.Second, msgIs("commit")) == nil {
		t.Fatalf("no first commit:\n%s", c.tail)
	}
	pg.Stop(t)
	down := time.Now()
	select {
	case <-c.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("floe run still running 60s into a catalog outage with --outage-timeout 2s:\n%s", c.tail)
	}
	took := time.Since(down)
	var exit *exec.ExitError
	if !errors.As(c.err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v, want exit status 1\n%s", c.err, c.tail)
	}
	// The outage may be met by a commit or by a schema update (the
	// message then starts "floe run: evolving the table ...").
	last := lastLine(c.tail.String())
	if !strings.HasPrefix(last, "floe run: ") || !strings.Contains(last, "catalog unavailable for 2") ||
		!strings.Contains(last, "(--outage-timeout)") || !strings.Contains(last, "connection refused") {
		t.Errorf("last line %q, want 'floe run: ... catalog unavailable for 2...s (--outage-timeout): ... connection refused'\n%s", last, c.tail)
	}
	t.Logf("exited %v after the catalog stopped: %s", took.Round(100*time.Millisecond), last)

	pg.Start(t)
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	c = startChild(t, e.runArgs(group, "--trigger", "200ms", "--http", "", "--log-format", "json", "--compact-every", "0")...)
	defer c.kill()
	w := e.writer(t)
	e.waitCaughtUp(t, w, group, e.endOffsets(t), 90*time.Second)
	if err := c.stop(30 * time.Second); err != nil {
		t.Fatalf("floe run after the outage: %v\n%s", err, c.tail)
	}
	e.checkExactlyOnce(t, w)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// TestRunStartsWhileCatalogDown: `floe run` started while the PostgreSQL
// catalog is stopped waits for it (logging the outage once) instead of
// exiting, and commits every event once it is started.
func TestRunStartsWhileCatalogDown(t *testing.T) {
	if testing.Short() {
		t.Skip("runs floe as a child process")
	}
	pg := testserver.StartPostgres(t)
	e := newProcEnv(t, 2)
	e.cat = pg.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := <-e.produce(t, ctx, 23, 1000, 0, "pgs-"); err != nil {
		t.Fatal(err)
	}
	pg.Stop(t)
	const group = "pg-start"
	c := startChild(t, e.runArgs(group, "--trigger", "200ms", "--http", "", "--log-format", "json", "--compact-every", "0")...)
	defer c.kill()
	if m := c.waitFor(30*time.Second, msgIs("outage began: retrying until it answers")); m == nil || m["component"] != "catalog" {
		t.Fatalf("no catalog outage logged at start (%v):\n%s", m, c.tail)
	}
	time.Sleep(2 * time.Second)
	pg.Start(t)
	up := time.Now()
	m := c.waitFor(60*time.Second, msgIs("commit"))
	if m == nil {
		t.Fatalf("no commit after the catalog came back:\n%s", c.tail)
	}
	w := e.writer(t)
	e.waitCaughtUp(t, w, group, e.endOffsets(t), 60*time.Second)
	if err := c.stop(30 * time.Second); err != nil {
		t.Fatalf("floe run: %v\n%s", err, c.tail)
	}
	e.checkExactlyOnce(t, w)
	t.Logf("started with the catalog down: first commit %v after it came back", logTime(t, m).Sub(up).Round(time.Millisecond))
}

// TestRunRidesThroughS3Restart: `floe run` with an S3 warehouse under load;
// the object store stops answering for 4 s and comes back with its
// objects. /readyz names the storage meanwhile; every valid event ends up
// in the table exactly once.
func TestRunRidesThroughS3Restart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs floe as a child process")
	}
	s3 := testserver.StartS3(t)
	s3.CreateBucket(t, "lake")
	e := newProcEnv(t, 2)
	e.wh, e.props = "s3://lake/wh", s3.Props()
	t.Setenv(envS3SecretAccessKey, s3.SecretAccessKey)
	rideThrough(t, e, "s3-outage", "storage", "s3o-",
		[]string{"--s3-endpoint", s3.Endpoint, "--s3-region", "us-east-1", "--s3-access-key-id", s3.AccessKeyID},
		s3.Stop, s3.Start)
}

// rideThrough runs `floe run` (group, extra args) under load, calls stop
// once it has committed, checks that the outage of component is logged and
// named by /readyz, calls start 4 s after stop, and checks that a commit
// lands, the outage's end is logged, /readyz is ok again and every valid
// event (ids with prefix) is in the table exactly once. It logs the
// recovery: from start to the next commit landing.
func rideThrough(t *testing.T, e *procEnv, group, component, prefix string, extra []string, stop, start func(testing.TB)) {
	t.Helper()
	addr := freeAddr(t)
	args := e.runArgs(group, append([]string{"--trigger", "200ms", "--http", addr, "--log-format", "json", "--compact-every", "0"}, extra...)...)
	c := startChild(t, args...)
	defer c.kill()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	produced := e.produce(t, ctx, 21, 6000, 1000, prefix)
	if c.waitFor(60*time.Second, msgIs("commit")) == nil {
		t.Fatalf("no first commit:\n%s", c.tail)
	}

	stop(t)
	down := time.Now()
	if m := c.waitFor(30*time.Second, msgIs("outage began: retrying until it answers")); m == nil || m["component"] != component {
		t.Fatalf("no %s outage logged (%v):\n%s", component, m, c.tail)
	}
	readyz := "http://" + addr + "/readyz"
	waitReady(t, c, readyz, http.StatusServiceUnavailable, `"`+component+`":"unavailable for`, 10*time.Second)
	time.Sleep(time.Until(down.Add(4 * time.Second)))
	start(t)
	up := time.Now()
	m := c.waitFor(60*time.Second, func(m map[string]any) bool { return m["msg"] == "commit" || m["msg"] == "outage ended" })
	var ended map[string]any
	if m != nil && m["msg"] == "outage ended" {
		ended, m = m, c.waitFor(60*time.Second, msgIs("commit"))
	} else {
		ended = c.waitFor(10*time.Second, msgIs("outage ended"))
	}
	if m == nil {
		t.Fatalf("no commit after the %s came back:\n%s", component, c.tail)
	}
	recovery := logTime(t, m).Sub(up)
	if ended == nil || ended["component"] != component {
		t.Errorf("no 'outage ended' line for the %s: %v", component, ended)
	}
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	w := e.writer(t)
	e.waitCaughtUp(t, w, group, e.endOffsets(t), 90*time.Second)
	waitReady(t, c, readyz, http.StatusOK, `"`+component+`":"ok"`, 20*time.Second)
	if err := c.stop(30 * time.Second); err != nil {
		t.Fatalf("floe run after the outage: %v\n%s", err, c.tail)
	}
	e.checkExactlyOnce(t, w)
	t.Logf("floe run, %s down 4s: recovery (back to the next commit landing) %v", component, recovery.Round(time.Millisecond))
}
