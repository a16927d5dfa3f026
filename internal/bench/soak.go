package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/floe-io/floe/catalog"
	"github.com/floe-io/floe/internal/contract"
	"github.com/floe-io/floe/internal/devstack"
)

// SoakConfig is one `floe bench --soak`: a steady rate for a duration into
// a child `floe run` (ingest, compaction, expiry, orphan removal and
// metrics in one process, exactly as a user runs it), sampled every
// Interval, then kept running for Settle after the load stops.
type SoakConfig struct {
	// Exe is the floe binary; the child is `Exe run ...`.
	Exe string
	// Rate (events/s) for Duration, Merchants distinct merchants.
	Rate      int
	Duration  time.Duration
	Merchants int
	// Trigger and CompactEvery are the child's --trigger and --compact-every.
	Trigger, CompactEvery time.Duration
	// Settle is how long the child keeps running after the last event was
	// produced (default two compaction intervals plus 10 s).
	Settle time.Duration
	// Interval between samples (default 5 s).
	Interval   time.Duration
	Partitions int
	// DataDir holds the keyring, catalog, warehouse and the child's log.
	DataDir string
	// ExtraArgs are appended to the child's command line (e.g.
	// --target-file-size).
	ExtraArgs []string
	// Check reads the table back at the end and compares every row with
	// what was produced (exactly once, values equal).
	Check bool
	// Progress receives a line per sample; nil for none.
	Progress io.Writer
}

// SoakSample is one point of a soak's time series.
type SoakSample struct {
	T            float64 `json:"t_s"`
	Produced     int64   `json:"produced"`
	RowsVisible  int64   `json:"rows_committed"`
	Lag          int64   `json:"lag_records"`
	LiveFiles    int64   `json:"live_data_files"`
	LiveBytes    int64   `json:"live_bytes"`
	LiveRows     int64   `json:"live_rows"`
	Snapshots    int     `json:"snapshots"`
	RSSBytes     int64   `json:"rss_bytes"`
	CPUSeconds   float64 `json:"cpu_s"`
	CPUPercent   float64 `json:"cpu_percent"`
	Runs         int64   `json:"compaction_runs"`
	Failures     int64   `json:"compaction_failures"`
	Rewritten    int64   `json:"files_rewritten"`
	CompWritten  int64   `json:"compaction_files_written"`
	IngestFiles  int64   `json:"ingest_files_written"`
	IngestBytes  int64   `json:"ingest_bytes_written"`
	CompBytesOut int64   `json:"compaction_bytes_written"`
}

// SoakResult is the whole soak.
type SoakResult struct {
	Rate         int           `json:"rate"`
	DurationS    float64       `json:"duration_s"`
	Merchants    int           `json:"merchants"`
	Trigger      string        `json:"trigger"`
	CompactEvery string        `json:"compact_every"`
	Args         []string      `json:"child_args"`
	Samples      []SoakSample  `json:"samples"`
	Produced     int64         `json:"produced"`
	LoadSeconds  float64       `json:"load_seconds"`
	Summary      SoakSummary   `json:"summary"`
	Check        *SoakCheck    `json:"check,omitempty"`
	Compactions  []SoakRunLine `json:"compaction_runs"`
	PeakRSSBytes int64         `json:"peak_rss_bytes"`
}

// SoakSummary are the figures the issue asks for.
type SoakSummary struct {
	// Rows committed per second while the load ran (ingest throughput).
	IngestEventsPS float64 `json:"ingest_events_per_s"`
	// At the end: live files and distinct partitions.
	FinalLiveFiles    int64   `json:"final_live_files"`
	FinalPartitions   int64   `json:"final_partitions"`
	FilesPerPartition float64 `json:"files_per_partition"`
	// FinalOtherSpecFiles are live files of a spec other than the default
	// (the coarse layout's files the compactor has not moved yet); they
	// are counted in FinalLiveFiles, their partitions in FinalPartitions.
	FinalOtherSpecFiles int64   `json:"final_other_spec_files"`
	PeakLiveFiles       int64   `json:"peak_live_files"`
	RunsCompleted       int64   `json:"compaction_runs_completed"`
	FilesRewritten      int64   `json:"files_rewritten"`
	FilesWrittenPerM    float64 `json:"files_written_per_million"`
	BytesWrittenPerM    float64 `json:"bytes_written_per_million"`
	CPUSecondsPerM      float64 `json:"cpu_s_per_million"`
	CPUSecondsTotal     float64 `json:"cpu_s_total"`
	MaxCompactionRunMs  float64 `json:"max_compaction_run_ms"`
	SettleSeconds       float64 `json:"settle_s"`
}

// SoakRunLine is one "compaction" log line of the child.
type SoakRunLine struct {
	T         float64 `json:"t_s"`
	Rewritten int64   `json:"files_rewritten"`
	Written   int64   `json:"files_written"`
	DurMs     float64 `json:"duration_ms"`
	Failed    bool    `json:"failed"`
}

func (c *SoakConfig) defaults() error {
	if c.Interval <= 0 {
		c.Interval = 5 * time.Second
	}
	if c.Partitions <= 0 {
		c.Partitions = 8
	}
	if c.Settle <= 0 {
		c.Settle = 2*c.CompactEvery + 10*time.Second
	}
	var errs []error
	if c.Rate <= 0 || c.Duration <= 0 || c.Merchants <= 0 {
		errs = append(errs, errors.New("soak: --rate, --duration and --merchants must be positive"))
	}
	if c.Trigger <= 0 {
		errs = append(errs, errors.New("soak: --trigger must be positive"))
	}
	if c.Exe == "" || c.DataDir == "" {
		errs = append(errs, errors.New("soak: no floe binary or data directory"))
	}
	return errors.Join(errs...)
}

// Soak runs one soak.
func Soak(ctx context.Context, c SoakConfig) (SoakResult, error) {
	if err := c.defaults(); err != nil {
		return SoakResult{}, err
	}
	res := SoakResult{Rate: c.Rate, DurationS: c.Duration.Seconds(), Merchants: c.Merchants,
		Trigger: c.Trigger.String(), CompactEvery: c.CompactEvery.String()}
	if err := os.MkdirAll(c.DataDir, 0o755); err != nil {
		return res, err
	}
	const topic = "soak.payments"
	stack, err := devstack.Start(ctx, devstack.Options{Partitions: c.Partitions, Topic: topic})
	if err != nil {
		return res, fmt.Errorf("starting the in-process broker and registry: %w", err)
	}
	defer func() { _ = stack.Close() }()
	ids, err := contract.Register(ctx, stack.RegistryURL, nil)
	if err != nil {
		return res, err
	}
	keyring := devstack.GenerateKeyring("k1", "k2")
	keyFile := filepath.Join(c.DataDir, "keyring.json")
	if err := devstack.WriteKeyringFile(keyFile, keyring); err != nil {
		return res, err
	}
	addr, err := freePort()
	if err != nil {
		return res, err
	}
	catURI := "sqlite://" + filepath.Join(c.DataDir, "catalog.db")
	wh := "file://" + filepath.Join(c.DataDir, "warehouse")
	const tableName = "soak.transactions"
	args := []string{"run",
		"--brokers", stack.BrokersString(), "--registry-url", stack.RegistryURL,
		"--topic", topic, "--group", "soak", "--keyring", keyFile,
		"--catalog", catURI, "--warehouse", wh, "--table", tableName,
		"--trigger", c.Trigger.String(), "--compact-every", c.CompactEvery.String(),
		"--http", addr, "--log-format", "json", "--log-level", "info",
	}
	args = append(args, c.ExtraArgs...)
	res.Args = args[1:]
	logPath := filepath.Join(c.DataDir, "floe-run.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return res, err
	}
	defer logFile.Close()
	cmd := exec.CommandContext(ctx, c.Exe, args...)
	cmd.Stdout = io.Discard
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return res, err
	}
	if err := cmd.Start(); err != nil {
		return res, err
	}
	childDone := make(chan error, 1)
	start := time.Now()
	var (
		runsMu sync.Mutex
		runs   []SoakRunLine
	)
	logRead := make(chan struct{})
	go func() {
		defer close(logRead)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			_, _ = logFile.Write(append(line, '\n'))
			if r, ok := parseRunLine(line, time.Since(start)); ok {
				runsMu.Lock()
				runs = append(runs, r)
				runsMu.Unlock()
			}
		}
	}()
	go func() { <-logRead; childDone <- cmd.Wait() }()
	killChild := func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
	}

	// Wait for the child's metrics endpoint: it serves once assembled.
	if err := waitHTTP(ctx, "http://"+addr+"/metrics", 60*time.Second, childDone); err != nil {
		killChild()
		return res, fmt.Errorf("floe run did not come up (log: %s): %w", logPath, err)
	}

	// Produce at the rate, recording each valid event's expected row.
	gen, err := devstack.NewGenerator(devstack.GenOptions{
		Seed: 12, Merchants: c.Merchants, Keys: keyring, IDs: ids, Prefix: soakPrefix, ForeignShare: 0.05,
	})
	if err != nil {
		killChild()
		return res, err
	}
	total := int64(float64(c.Rate) * c.Duration.Seconds())
	expect := newExpectations(total)
	var produced atomic.Int64
	next := gen.Take(total)
	prodErr := make(chan error, 1)
	loadStart := time.Now()
	var loadEnd atomic.Int64
	go func() {
		acked, err := devstack.ProduceStream(ctx, stack.Brokers, topic, func() (devstack.Event, bool) {
			e, ok := next()
			if ok {
				if c.Check {
					expect.add(e)
				}
				produced.Add(1)
			}
			return e, ok
		}, c.Rate)
		loadEnd.Store(int64(time.Since(loadStart)))
		if err == nil && acked != total {
			err = fmt.Errorf("produced %d of %d events", acked, total)
		}
		prodErr <- errors.Join(err, gen.Err())
	}()

	cat, err := catalog.Open(ctx, catURI, wh, nil)
	if err != nil {
		killChild()
		return res, err
	}
	defer func() {
		if cl, ok := cat.(io.Closer); ok {
			_ = cl.Close()
		}
	}()
	ident, _ := catalog.ParseIdentifier(tableName)

	tick := time.NewTicker(c.Interval)
	defer tick.Stop()
	var (
		prev       SoakSample
		settleFrom time.Time
		produceErr error
		producing  = true
	)
	sample := func() (SoakSample, error) {
		s := SoakSample{T: time.Since(start).Seconds(), Produced: produced.Load()}
		m, err := scrapeMetrics(ctx, "http://"+addr+"/metrics")
		if err != nil {
			return s, err
		}
		s.RowsVisible = int64(m["floe_rows_committed_total"])
		dead := int64(m["floe_records_dead_lettered_total"])
		s.Lag = s.Produced - s.RowsVisible - dead
		s.Runs = int64(m["floe_compaction_runs_total"])
		s.Failures = int64(m["floe_compaction_failures_total"])
		s.Rewritten = int64(m["floe_compaction_files_rewritten_total"])
		s.CompWritten = int64(m["floe_compaction_files_written_total"])
		s.CompBytesOut = int64(m["floe_compaction_bytes_written_total"])
		s.IngestFiles = int64(m["floe_data_files_written_total"])
		s.IngestBytes = int64(m["floe_data_bytes_written_total"])
		if st, err := procStat(cmd.Process.Pid); err == nil {
			s.RSSBytes, s.CPUSeconds = st.rss, st.cpu
			res.PeakRSSBytes = max(res.PeakRSSBytes, st.hwm)
		}
		if dt := s.T - prev.T; dt > 0 && prev.T > 0 {
			s.CPUPercent = (s.CPUSeconds - prev.CPUSeconds) / dt * 100
		}
		if tbl, err := cat.LoadTable(ctx, ident); err == nil {
			if snap := tbl.CurrentSnapshot(); snap != nil && snap.Summary != nil {
				p := snap.Summary.Properties
				s.LiveFiles, _ = strconv.ParseInt(p["total-data-files"], 10, 64)
				s.LiveBytes, _ = strconv.ParseInt(p["total-files-size"], 10, 64)
				s.LiveRows, _ = strconv.ParseInt(p["total-records"], 10, 64)
			}
			s.Snapshots = len(tbl.Metadata().Snapshots())
		}
		return s, nil
	}
	progress := func(s SoakSample) {
		if c.Progress == nil {
			return
		}
		fmt.Fprintf(c.Progress, "t=%5.0fs produced %9d committed %9d lag %8d | live files %7d (%s) rows %9d | RSS %s CPU %5.0f%% | runs %d (failed %d) rewritten %d\n",
			s.T, s.Produced, s.RowsVisible, s.Lag, s.LiveFiles, human(s.LiveBytes), s.LiveRows,
			human(s.RSSBytes), s.CPUPercent, s.Runs, s.Failures, s.Rewritten)
	}
loop:
	for {
		select {
		case <-ctx.Done():
			killChild()
			return res, ctx.Err()
		case err := <-childDone:
			return res, fmt.Errorf("floe run exited early (log: %s): %v", logPath, err)
		case err := <-prodErr:
			producing = false
			produceErr = err
			if err != nil {
				killChild()
				return res, fmt.Errorf("producing: %w", err)
			}
			settleFrom = time.Now()
		case <-tick.C:
			s, err := sample()
			if err != nil {
				if c.Progress != nil {
					fmt.Fprintf(c.Progress, "sample: %v\n", err)
				}
				continue
			}
			res.Samples = append(res.Samples, s)
			progress(s)
			prev = s
			if !producing && s.Lag <= 0 && time.Since(settleFrom) >= c.Settle {
				break loop
			}
		}
	}
	_ = produceErr
	res.Produced = produced.Load()
	res.LoadSeconds = time.Duration(loadEnd.Load()).Seconds()
	// A first summary from the samples, in case stopping fails.
	if n := len(res.Samples); n > 0 {
		res.summarize(res.Samples[n-1].LiveFiles, 0, settleFrom, loadStart)
	}

	// Stop the child like an operator would, and wait for it.
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-childDone:
		if err != nil {
			return res, fmt.Errorf("floe run did not stop cleanly (log: %s): %v", logPath, err)
		}
	case <-time.After(2 * time.Minute):
		killChild()
		return res, fmt.Errorf("floe run did not stop within 2 minutes of SIGTERM (log: %s)", logPath)
	}
	runsMu.Lock()
	res.Compactions = runs
	runsMu.Unlock()

	tbl, err := cat.LoadTable(ctx, ident)
	if err != nil {
		return res, err
	}
	files, parts, other, err := liveFilesAndPartitions(ctx, tbl)
	if err != nil {
		return res, err
	}
	res.summarize(files, parts, settleFrom, loadStart)
	res.Summary.FinalOtherSpecFiles = other
	if c.Check {
		chk, err := checkRows(ctx, tbl, expect)
		res.Check = &chk
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

func (r *SoakResult) summarize(files, parts int64, settleFrom, loadStart time.Time) {
	s := &r.Summary
	s.FinalLiveFiles, s.FinalPartitions = files, parts
	if parts > 0 {
		s.FilesPerPartition = float64(files) / float64(parts)
	}
	s.SettleSeconds = time.Since(settleFrom).Seconds()
	if len(r.Samples) == 0 {
		return
	}
	last := r.Samples[len(r.Samples)-1]
	loadEndT := settleFrom.Sub(loadStart).Seconds()
	for _, x := range r.Samples {
		s.PeakLiveFiles = max(s.PeakLiveFiles, x.LiveFiles)
	}
	if r.LoadSeconds > 0 {
		// Rows committed by the end of the load, per second of load.
		var atEnd int64
		for _, x := range r.Samples {
			if x.T <= r.Samples[0].T+loadEndT+1 {
				atEnd = x.RowsVisible
			}
		}
		s.IngestEventsPS = float64(atEnd) / r.LoadSeconds
	}
	s.RunsCompleted = last.Runs - last.Failures
	s.FilesRewritten = last.Rewritten
	s.CPUSecondsTotal = last.CPUSeconds
	if last.RowsVisible > 0 {
		m := float64(last.RowsVisible) / 1e6
		s.FilesWrittenPerM = float64(last.IngestFiles+last.CompWritten) / m
		s.BytesWrittenPerM = float64(last.IngestBytes+last.CompBytesOut) / m
		s.CPUSecondsPerM = last.CPUSeconds / m
	}
	for _, l := range r.Compactions {
		s.MaxCompactionRunMs = max(s.MaxCompactionRunMs, l.DurMs)
	}
}

const soakPrefix = "soak-"

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitHTTP(ctx context.Context, url string, timeout time.Duration, exited <-chan error) error {
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("timeout")
		}
		select {
		case err := <-exited:
			return fmt.Errorf("exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// scrapeMetrics reads a Prometheus text page and sums each metric over its
// labels.
func scrapeMetrics(ctx context.Context, url string) (map[string]float64, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(cctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return parseMetrics(resp.Body)
}

func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		name := line[:sp]
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		out[strings.TrimSpace(name)] += v
	}
	return out, sc.Err()
}

type procInfo struct {
	rss, hwm int64
	cpu      float64
}

// procStat reads a process's resident set, peak resident set and CPU time
// (user + system) from /proc (Linux; clock ticks of 1/100 s).
func procStat(pid int) (procInfo, error) {
	var p procInfo
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return p, err
	}
	for _, line := range strings.Split(string(st), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[2] != "kB" {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			p.rss = n << 10
		case "VmHWM:":
			p.hwm = n << 10
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return p, err
	}
	// Fields after the command name (which may hold spaces) start at ')'.
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		f := strings.Fields(s[i+1:])
		if len(f) > 12 {
			ut, _ := strconv.ParseFloat(f[11], 64)
			stt, _ := strconv.ParseFloat(f[12], 64)
			p.cpu = (ut + stt) / 100
		}
	}
	return p, nil
}
