package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/floe-io/floe/ingest"
	"github.com/floe-io/floe/internal/assembly"
)

// SingleConfig is one ingest run: what `floe bench --single` does in the
// child process.
type SingleConfig struct {
	Brokers, RegistryURL, Topic string
	// Keyring decrypts the payloads.
	Keyring ingest.Opener
	// Catalog and Warehouse are the catalog URI and warehouse location;
	// Table the identifier, created if missing.
	Catalog, Warehouse, Table string
	Trigger                   time.Duration
	// Events is how many events the topic holds (Rate 0) or will hold
	// (Rate > 0); the run ends when all are committed.
	Events int64
	// Rate > 0 means the events are being produced while this runs:
	// latency is measured from the Kafka record timestamps and the run
	// stops once Events rows are committed. Rate 0 means the topic is
	// complete: the run reads it to its end offsets and latency is
	// measured from the moment each record was polled.
	Rate int
	// Label prefixes the progress line.
	Label string
	// Progress receives a progress line (carriage-return updated on a
	// terminal, plain lines elsewhere); nil
	// for none.
	Progress io.Writer
	// Ready, if set, is called once the pipeline is assembled, just
	// before it starts consuming.
	Ready func()
	// CPUProfile, if set, is where a pprof CPU profile of the ingest goes.
	CPUProfile string
	// Log receives the pipeline's log (default: warnings to stderr).
	Log *slog.Logger
	// IcebergGoWriter writes data files with iceberg-go's writer, as
	// floe run --parquet-writer iceberg-go does.
	IcebergGoWriter bool
	// IngestLayout is floe run's --ingest-layout (empty: partitioned; auto
	// as in floe run with a compactor: coarse above the threshold).
	IngestLayout string
	// Isolated marks the result as measured in a process of its own.
	Isolated bool
}

// Single assembles floe's pipeline against the given servers, ingests the
// topic and measures it.
func Single(ctx context.Context, c SingleConfig) (Result, error) {
	res := Result{Trigger: c.Trigger.String(), TriggerMs: c.Trigger.Milliseconds(), RateTarget: c.Rate, Isolated: c.Isolated}
	res.Mode = "max"
	res.LatencyFrom = "poll"
	if c.Rate > 0 {
		res.Mode, res.LatencyFrom = "rate", "produce"
	}
	log := c.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	var (
		ts          *timedSource
		mu          sync.Mutex
		commitTimes []float32
		writeTimes  []float32
		visible     = map[ingest.TopicPartition]int64{}
		committed   atomic.Int64
	)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The pipeline floe run builds (internal/assembly), reading every
	// partition of the topic; the source is wrapped to time each record.
	group := "floe-bench-" + c.Topic
	w := assembly.Config{
		Brokers: c.Brokers, RegistryURL: c.RegistryURL, Topic: c.Topic, Group: group, DLQTopic: c.Topic + ".dlq",
		Keyring: c.Keyring, Catalog: c.Catalog, Warehouse: c.Warehouse, Table: c.Table,
		Static: true, IcebergGoWriter: c.IcebergGoWriter, IngestLayout: c.IngestLayout, Log: log,
		WrapSource: func(src ingest.Source) ingest.Source {
			ts = newTimedSource(src, c.Rate == 0, int(c.Events))
			return ts
		},
		Opts: ingest.Options{
			Trigger: c.Trigger,
			OnCommit: func(ci ingest.CommitInfo) {
				ts.committed(ci.Committed, ci.Offsets)
				mu.Lock()
				commitTimes = append(commitTimes, float32(ms(ci.Duration)))
				writeTimes = append(writeTimes, float32(ms(ci.WriteDuration)))
				var sum int64
				for tp, off := range ci.Offsets {
					visible[tp] = off
				}
				for _, off := range visible {
					sum += off
				}
				mu.Unlock()
				committed.Store(sum)
				if c.Rate > 0 && sum >= c.Events {
					cancel()
				}
			},
		},
	}
	if c.Rate == 0 {
		w.Until = func(ctx context.Context, src *ingest.KafkaSource) (map[ingest.TopicPartition]int64, error) {
			return src.EndOffsets(ctx)
		}
	}
	a, err := assembly.New(ctx, w)
	if err != nil {
		return res, err
	}
	defer a.CloseCatalog()
	defer func() { _ = a.Close(context.WithoutCancel(ctx)) }()
	p := a.Pipeline
	metaDir := metadataDir(a.Writer.Table().Location())
	metaBefore := dirSize(metaDir)

	if c.CPUProfile != "" {
		f, err := os.Create(c.CPUProfile)
		if err != nil {
			return res, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return res, err
		}
		defer pprof.StopCPUProfile()
	}
	if c.Ready != nil {
		c.Ready()
	}
	stopProgress := progress(c.Progress, c.Label, c.Events, func() (int64, int64) {
		st := p.Stats()
		return st.Rows, st.Commits
	})
	ru0 := rusage()
	start := time.Now()
	runErr := p.Run(runCtx)
	elapsed := time.Since(start)
	ru1 := rusage()
	stopProgress()
	if runErr != nil {
		return res, runErr
	}
	if c.Rate > 0 && committed.Load() < c.Events {
		return res, fmt.Errorf("stopped with %d of %d events committed: %w", committed.Load(), c.Events, ctx.Err())
	}

	st := p.Stats()
	res.Events = st.Rows
	res.Seconds = elapsed.Seconds()
	res.EventsPS = float64(st.Rows) / elapsed.Seconds()
	res.KafkaByte = ts.bytes
	res.MBPS = float64(ts.bytes) / 1e6 / elapsed.Seconds()
	lat := percentiles(ts.latencies, 50, 95, 99, 100)
	res.LatencyP50Ms, res.LatencyP95Ms, res.LatencyP99Ms, res.LatencyMaxMs = lat[0], lat[1], lat[2], lat[3]
	res.Commits = st.Commits
	res.CommitsPerMin = float64(st.Commits) / elapsed.Minutes()
	res.DataFiles = st.Files
	res.DataBytes = st.Bytes
	if st.Files > 0 {
		res.AvgFileBytes = float64(st.Bytes) / float64(st.Files)
	}
	if st.Commits > 0 {
		res.FilesPerCommit = float64(st.Files) / float64(st.Commits)
	}
	ct := percentiles(commitTimes, 50, 100)
	res.CommitP50Ms, res.CommitMaxMs = ct[0], ct[1]
	res.WriteP50Ms = percentiles(writeTimes, 50)[0]
	res.StalledS = st.Stalled.Seconds()
	if metaDir != "" {
		res.MetadataBytes = dirSize(metaDir) - metaBefore
		if st.Commits > 0 {
			res.MetadataPerCommit = float64(res.MetadataBytes) / float64(st.Commits)
		}
	} else {
		res.MetadataBytes = -1
	}
	res.CPUSeconds = ru1.cpu - ru0.cpu
	if st.Rows > 0 {
		res.CPUSPerMillion = res.CPUSeconds / float64(st.Rows) * 1e6
	}
	res.PeakRSSBytes = ru1.maxRSS
	return res, nil
}

type usage struct {
	cpu    float64 // user + system seconds
	maxRSS int64   // bytes
}

func rusage() usage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return usage{}
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	u := usage{cpu: tv(ru.Utime) + tv(ru.Stime), maxRSS: int64(ru.Maxrss) * 1024} // Linux: KiB
	// ru_maxrss survives exec: a child started by os/exec (clone with
	// CLONE_VM) begins with its parent's peak, which for floe bench is the
	// in-process broker holding every produced event. VmHWM is the peak of
	// this process's own memory map.
	if hwm, ok := vmHWM(); ok {
		u.maxRSS = hwm
	}
	return u
}

// vmHWM reads the peak resident set of this process's address space from
// /proc/self/status (Linux).
func vmHWM() (int64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	return parseVmHWM(b)
}

func parseVmHWM(status []byte) (int64, bool) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte("VmHWM:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, false
		}
		n, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, false
		}
		return n * 1024, true
	}
	return 0, false
}

// metadataDir is the local metadata directory of a table location, or ""
// when the warehouse is not a local file system.
func metadataDir(location string) string {
	if p, ok := strings.CutPrefix(location, "file://"); ok {
		return filepath.Join(p, "metadata")
	}
	if strings.HasPrefix(location, "/") {
		return filepath.Join(location, "metadata")
	}
	return ""
}

func dirSize(dir string) int64 {
	if dir == "" {
		return 0
	}
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// progress prints "label rows/total commits ev/s" every half second until
// the returned function is called.
func progress(w io.Writer, label string, total int64, get func() (rows, commits int64)) func() {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	start := time.Now()
	pp := newProgressPrinter(w)
	go func() {
		defer close(finished)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				rows, commits := get()
				pp.final("%s ingested %d/%d rows, %d commits, %.0f events/s", label, rows, total, commits, float64(rows)/time.Since(start).Seconds())
				return
			case <-t.C:
				rows, commits := get()
				pp.update("%s ingested %d/%d rows, %d commits, %.0f events/s", label, rows, total, commits, float64(rows)/time.Since(start).Seconds())
			}
		}
	}()
	return func() { close(done); <-finished }
}
