package main

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/floe-io/floe/ingest"
)

// openPTY returns the two ends of a new pseudo-terminal (Linux).
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Skipf("ptsname: %v", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("open pts: %v", err)
	}
	// A new pseudo-terminal is 0x0; a real one has a size.
	if err := unix.IoctlSetWinsize(int(m.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 160}); err != nil {
		t.Skipf("set window size: %v", err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

func TestProgressModeAuto(t *testing.T) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if fi, _ := null.Stat(); fi.Mode()&os.ModeCharDevice == 0 {
		t.Fatal("/dev/null is expected to be a character device")
	}
	if got := progressMode("auto", null); got != "log" {
		t.Errorf("/dev/null: %s, want log", got)
	}
	if got := progressMode("auto", &bytes.Buffer{}); got != "log" {
		t.Errorf("a buffer: %s, want log", got)
	}
	if got := progressMode("none", null); got != "none" {
		t.Errorf("explicit none: %s", got)
	}
	_, tty := openPTY(t)
	if got := progressMode("auto", tty); got != "bar" {
		t.Errorf("a terminal: %s, want bar", got)
	}
}

// fakeStats counts up like a running backfill.
type fakeStats struct{ read, rows, dead atomic.Int64 }

func (f *fakeStats) stats() ingest.Stats {
	return ingest.Stats{Consumed: f.read.Load(), Rows: f.rows.Load(), Dead: f.dead.Load(), Commits: f.rows.Load() / 100}
}

// TestProgressLogModeHasNoCarriageReturn: off a terminal, progress is log
// lines with the rows committed, and nothing is redrawn.
func TestProgressLogModeHasNoCarriageReturn(t *testing.T) {
	var buf lockedBuffer
	logs := &logWriter{w: &buf}
	log := newLogger(logs, "info", "text")
	var f fakeStats
	f.read.Store(500)
	f.rows.Store(400)
	stop := startProgress(&buf, logs, "log", 1000, f.stats, log)
	stop()
	if strings.Contains(buf.String(), "\r") || strings.Contains(buf.String(), "\x1b[") {
		t.Errorf("control characters off a terminal: %q", buf.String())
	}
}

// TestProgressBarOnTerminal draws the bar on a pseudo-terminal while log
// lines are written: every log line reaches the terminal whole, on its own
// line, not mixed into a bar; the bar reports records read and committed.
func TestProgressBarOnTerminal(t *testing.T) {
	master, tty := openPTY(t)
	var out bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(&out, master) // ends with EIO when the tty closes
	}()

	logs := &logWriter{w: tty}
	log := newLogger(logs, "info", "text")
	var f fakeStats
	const total = 1000
	stop := startProgress(tty, logs, progressMode("auto", tty), total, f.stats, log)
	for i := 1; i <= 10; i++ {
		f.read.Store(int64(i * 100))
		f.rows.Store(int64(i*100 - 50))
		log.Info("commit", "snapshot", i)
		time.Sleep(60 * time.Millisecond)
	}
	f.rows.Store(990)
	f.dead.Store(10)
	stop()
	log.Info("backfill done marker")
	time.Sleep(100 * time.Millisecond)
	tty.Close()
	master.Close()
	wg.Wait()

	text := out.String()
	if testing.Verbose() {
		t.Logf("terminal output: %q", text)
	}
	for i := 1; i <= 10; i++ {
		if !strings.Contains(text, "msg=commit snapshot="+strconv.Itoa(i)) {
			t.Errorf("log line %d lost", i)
		}
	}
	for _, line := range strings.Split(strings.ReplaceAll(text, "\r", "\n"), "\n") {
		if strings.Contains(line, "msg=commit") && (strings.Contains(line, "records/s") || strings.Contains(line, "committed")) {
			t.Errorf("a log line shares a line with the bar: %q", line)
		}
	}
	for _, want := range []string{"read", "committed", "1000 / 1000", "990 rows", "10 dead-lettered", "backfill done marker"} {
		if !strings.Contains(text, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, text)
		}
	}
	// The last log line comes after the bars' final state.
	if strings.LastIndex(text, "backfill done marker") < strings.LastIndex(text, "1000 / 1000") {
		t.Error("a log line written after the bar ended came before the bar's last drawing")
	}
}
