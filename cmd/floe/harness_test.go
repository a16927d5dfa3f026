package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/floe-io/floe/catalog"
	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/internal/contract"
	"github.com/floe-io/floe/internal/devstack"
	"github.com/floe-io/floe/internal/tabletest"
	"github.com/floe-io/floe/schema"
)

// The process tests run the real floe binary as a child against a broker
// and a registry that live in the test process and outlive it.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func floeBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "floe-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "floe")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = &buildFailure{err: err, out: string(out)}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type buildFailure struct {
	err error
	out string
}

func (b *buildFailure) Error() string { return "go build: " + b.err.Error() + "\n" + b.out }

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// procEnv is one broker + registry + keyring + catalog shared by the child
// processes of a test.
type procEnv struct {
	stack   *devstack.Stack
	ids     contract.IDs
	keyring map[string][]byte
	keyFile string
	dir     string
	topic   string

	// cat, when set, is the catalog URI instead of a SQLite file in dir;
	// wh the warehouse instead of a directory in dir, props the catalog
	// properties the test itself opens it with.
	cat, wh string
	props   map[string]string

	mu       sync.Mutex
	produced []devstack.Event
}

func newProcEnv(t *testing.T, partitions int) *procEnv {
	t.Helper()
	ctx := context.Background()
	st, err := devstack.Start(ctx, devstack.Options{Partitions: partitions, Topic: "payments.transactions"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ids, err := contract.Register(ctx, st.RegistryURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e := &procEnv{stack: st, ids: ids, keyring: devstack.GenerateKeyring("k1", "k2"), dir: dir, topic: "payments.transactions"}
	e.keyFile = filepath.Join(dir, "keyring.json")
	if err := devstack.WriteKeyringFile(e.keyFile, e.keyring); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *procEnv) catalogURI() string {
	if e.cat != "" {
		return e.cat
	}
	return "sqlite://" + filepath.Join(e.dir, "catalog.db")
}
func (e *procEnv) warehouse() string {
	if e.wh != "" {
		return e.wh
	}
	return "file://" + filepath.Join(e.dir, "warehouse")
}

func (e *procEnv) runArgs(group string, extra ...string) []string {
	args := []string{"run",
		"--brokers", e.stack.BrokersString(), "--registry-url", e.stack.RegistryURL,
		"--topic", e.topic, "--group", group, "--keyring", e.keyFile,
		"--catalog", e.catalogURI(), "--warehouse", e.warehouse(),
		"--table", "payments.transactions",
	}
	return append(args, extra...)
}

// produce streams n generated events at rate events/s in the background.
func (e *procEnv) produce(t *testing.T, ctx context.Context, seed int64, n int64, rate int, prefix string) <-chan error {
	t.Helper()
	return e.produceUntil(t, ctx, seed, n, rate, prefix, nil)
}

// produceUntil is produce that also ends when stop is closed.
func (e *procEnv) produceUntil(t *testing.T, ctx context.Context, seed int64, n int64, rate int, prefix string, stop <-chan struct{}) <-chan error {
	t.Helper()
	gen, err := devstack.NewGenerator(devstack.GenOptions{
		Seed: seed, Merchants: 50, Keys: e.keyring, IDs: e.ids, InvalidShare: 0.03, Prefix: prefix,
	})
	if err != nil {
		t.Fatal(err)
	}
	take := gen.Take(n)
	next := func() (devstack.Event, bool) {
		select {
		case <-stop:
			return devstack.Event{}, false
		default:
		}
		ev, ok := take()
		if ok {
			e.mu.Lock()
			e.produced = append(e.produced, ev)
			e.mu.Unlock()
		}
		return ev, ok
	}
	done := make(chan error, 1)
	go func() {
		_, err := devstack.ProduceStream(ctx, e.stack.Brokers, e.topic, next, rate)
		done <- err
	}()
	return done
}

// child is one floe process whose JSON log lines are watched.
type child struct {
	cmd    *exec.Cmd
	lines  chan map[string]any
	done   chan struct{}
	logged chan struct{} // closed at the child's first line on stderr
	err    error
	tail   *ringLog
}

type ringLog struct {
	mu    sync.Mutex
	lines []string
}

func (r *ringLog) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, s)
	if len(r.lines) > 40 {
		r.lines = r.lines[len(r.lines)-40:]
	}
}

func (r *ringLog) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	cmd := exec.Command(floeBinary(t), args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, lines: make(chan map[string]any, 1024), done: make(chan struct{}), logged: make(chan struct{}), tail: &ringLog{}}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		first := true
		for sc.Scan() {
			if first {
				close(c.logged)
				first = false
			}
			c.tail.add(sc.Text())
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				select {
				case c.lines <- m:
				default: // nobody is watching: drop
				}
			}
		}
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c
}

// waitFor returns the first log line for which match is true, or nil after
// the timeout or when the child exits.
func (c *child) waitFor(timeout time.Duration, match func(map[string]any) bool) map[string]any {
	deadline := time.After(timeout)
	for {
		select {
		case m := <-c.lines:
			if match(m) {
				return m
			}
		case <-c.done:
			return nil
		case <-deadline:
			return nil
		}
	}
}

func (c *child) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

// stop sends SIGTERM and returns the exit error.
//
// It first waits for the child's first log line: floe installs its signal
// handler before it logs anything, and a SIGTERM that arrives before that
// kills the process outright (seen once ingest became fast enough for a
// test to stop a child right after starting it).
func (c *child) stop(timeout time.Duration) error {
	select {
	case <-c.logged:
	case <-c.done:
	case <-time.After(timeout):
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return c.err
	case <-time.After(timeout):
		c.kill()
		return context.DeadlineExceeded
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// writer opens (creating if needed) the table the children write to.
func (e *procEnv) writer(t *testing.T) *iceberg.Writer {
	t.Helper()
	return e.writerFor(t, "payments.transactions")
}

func (e *procEnv) writerFor(t *testing.T, table string) *iceberg.Writer {
	t.Helper()
	ctx := context.Background()
	cat, err := catalog.Open(ctx, e.catalogURI(), e.warehouse(), e.props)
	if err != nil {
		t.Fatal(err)
	}
	ident, _ := catalog.ParseIdentifier(table)
	sc := schema.TableSchema()
	if _, err := catalog.EnsureTable(ctx, cat, ident, sc, schema.PartitionSpec(sc), nil); err != nil {
		t.Fatal(err)
	}
	w, err := iceberg.NewWriter(ctx, cat, ident)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// endOffsets are the current high watermarks of the topic.
func (e *procEnv) endOffsets(t *testing.T) iceberg.Offsets {
	t.Helper()
	recs, err := devstack.ReadAll(context.Background(), e.stack.Brokers, e.topic)
	if err != nil {
		t.Fatal(err)
	}
	ends := iceberg.Offsets{}
	for _, r := range recs {
		tp := iceberg.TopicPartition{Topic: r.Topic, Partition: r.Partition}
		if r.Offset+1 > ends[tp] {
			ends[tp] = r.Offset + 1
		}
	}
	return ends
}

// waitCaughtUp waits until the table records the end offsets for group.
func (e *procEnv) waitCaughtUp(t *testing.T, w *iceberg.Writer, group string, ends iceberg.Offsets, timeout time.Duration) {
	t.Helper()
	if len(ends) == 0 {
		t.Fatal("no end offsets to wait for: the topic read back empty")
	}
	deadline := time.Now().Add(timeout)
	for {
		got, err := w.Offsets(context.Background(), group)
		if err != nil {
			t.Fatal(err)
		}
		behind := 0
		for tp, end := range ends {
			if got[tp] < end {
				behind++
			}
		}
		if behind == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("table offsets %v never reached %v", got, ends)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkExactlyOnce reads the table and the dead-letter topic back: every
// valid produced event once in the table, every invalid one at least once
// in the dead-letter topic with its class.
func (e *procEnv) checkExactlyOnce(t *testing.T, w *iceberg.Writer) {
	t.Helper()
	ctx := context.Background()
	if err := w.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, r := range tabletest.Rows(t, w.Table()) {
		count[r["transaction_id"]]++
	}
	dl, err := devstack.ReadAll(ctx, e.stack.Brokers, e.topic+".dlq")
	if err != nil {
		t.Fatal(err)
	}
	dead := map[string]string{}
	for _, r := range dl {
		for _, h := range r.Headers {
			if h.Key == "floe.error.class" {
				dead[string(r.Key)] = string(h.Value)
			}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	valid, missing, dup := 0, 0, 0
	for _, ev := range e.produced {
		if ev.Class != "" {
			if dead[ev.TransactionID] != ev.Class {
				t.Errorf("invalid event %s (%s) not in the dead-letter topic (got %q)", ev.TransactionID, ev.Class, dead[ev.TransactionID])
			}
			if count[ev.TransactionID] != 0 {
				t.Errorf("invalid event %s is in the table", ev.TransactionID)
			}
			continue
		}
		valid++
		switch n := count[ev.TransactionID]; {
		case n == 0:
			missing++
		case n > 1:
			dup++
		}
	}
	rows := 0
	for _, n := range count {
		rows += n
	}
	t.Logf("%d events produced, %d valid, table has %d rows; %d dead letters", len(e.produced), valid, rows, len(dl))
	if missing > 0 || dup > 0 || rows != valid {
		t.Errorf("exactly once violated: %d valid events missing, %d duplicated, %d rows for %d valid events", missing, dup, rows, valid)
	}
}

func stageIs(stage string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["msg"] == "commit stage" && m["stage"] == stage }
}

func msgIs(msg string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["msg"] == msg }
}

func itoa(n int) string { return strconv.Itoa(n) }

func topicPartition(topic string, p int32) iceberg.TopicPartition {
	return iceberg.TopicPartition{Topic: topic, Partition: p}
}

func base64Std(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }
