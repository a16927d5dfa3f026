package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/floe-io/floe/catalog"
	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/ingest"
	"github.com/floe-io/floe/internal/redact"
)

// backfillConfig holds the settings only backfill has.
type backfillConfig struct {
	From, To string
	DryRun   bool
	Progress string
}

func (c *Config) backfillOptions(b *backfillConfig) []option {
	var opts []option
	for _, o := range c.runOptions() {
		switch o.name {
		case "start-from", "http", "compact-every", "target-file-size":
			continue // a backfill has explicit ranges and no sidecar endpoints
		case "expire-keep-last", "expire-older-than", "orphan-older-than":
			continue // a backfill runs no compactor (floe compact has these)
		case "instance-id", "session-timeout":
			continue // a backfill assigns its partitions; it never joins the group
		}
		opts = append(opts, o)
	}
	return append(opts,
		stringOpt("from", "where each partition starts: earliest|latest|offsets:P=O[,P=O]|time:RFC3339", &b.From),
		stringOpt("to", "where each partition ends (exclusive), captured at start: latest|offsets:P=O[,P=O]|time:RFC3339", &b.To),
		boolOpt("dry-run", "print the ranges and row counts only", &b.DryRun),
		stringOpt("progress", "auto (a bar on a terminal, log lines otherwise), bar, log or none", &b.Progress),
	)
}

func cmdBackfill(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg := defaultConfig()
	cfg.Group = "" // derived from the topic unless given
	bc := backfillConfig{From: "earliest", To: "latest", Progress: "auto"}
	opts := cfg.backfillOptions(&bc)
	rest, err := load("floe backfill", opts, args, getenv, stderr)
	var ue usageError
	if errors.As(err, &ue) {
		return err
	}
	if len(rest) > 0 {
		err = errors.Join(err, fmt.Errorf("unexpected arguments: %v", rest))
	}
	if cfg.Group == "" && cfg.Topic != "" {
		cfg.Group = "floe-backfill." + cfg.Topic
	}
	from, ferr := parseRangeSpec(bc.From)
	if ferr != nil {
		err = errors.Join(err, fmt.Errorf("--from: %w", ferr))
	} else if from.kind == "latest" {
		err = errors.Join(err, errors.New("--from latest would read nothing"))
	}
	to, terr := parseRangeSpec(bc.To)
	if terr != nil {
		err = errors.Join(err, fmt.Errorf("--to: %w", terr))
	} else if to.kind == "earliest" {
		err = errors.Join(err, errors.New("--to earliest would read nothing"))
	}
	dryRun := bc.DryRun
	switch bc.Progress {
	case "auto", "bar", "log", "none":
	default:
		err = errors.Join(err, fmt.Errorf("--progress: want auto, bar, log or none, got %q", bc.Progress))
	}
	if err := errors.Join(err, cfg.validate()); err != nil {
		return usageError{err}
	}
	logs := &logWriter{w: stderr}
	log := newLogger(logs, cfg.LogLevel, cfg.LogFormat)
	applyMemoryLimit(cfg.MemoryLimit, getenv, log)
	kafkaProps, regOpts, err := connectionSettings(&cfg, getenv)
	if err != nil {
		return err
	}

	props, err := cfg.Storage.props(getenv)
	if err != nil {
		return err
	}
	ranges, err := backfillRanges(ctx, &cfg, kafkaProps, props, from, to)
	if err != nil {
		return err
	}
	var total int64
	for _, r := range ranges {
		total += r.Rows()
	}
	if dryRun {
		printRanges(stdout, &cfg, ranges, total)
		return nil
	}
	kr, err := openKeyring(ctx, &cfg, log)
	if err != nil {
		return err
	}
	dlqTable, err := dlqTable(&cfg)
	if err != nil {
		return usageError{err}
	}

	parts := make([]int32, len(ranges))
	until := map[ingest.TopicPartition]int64{}
	starts := map[ingest.TopicPartition]int64{}
	for i, r := range ranges {
		parts[i] = r.TP.Partition
		until[r.TP] = r.To
		starts[r.TP] = r.From
	}
	popts := pipelineOptions(&cfg)
	popts.Start = starts
	began := time.Now()
	a, err := assemble(ctx, wiring{
		Brokers: cfg.Brokers, RegistryURL: cfg.RegistryURL, Topic: cfg.Topic, Group: cfg.Group,
		DLQTopic: cfg.DLQTopic, DLQTable: dlqTable, Keyring: kr,
		Catalog: cfg.Catalog, Warehouse: cfg.Warehouse, Table: cfg.Table, CatalogProps: props,
		IcebergGoWriter: cfg.ParquetWriter == "iceberg-go",
		IngestLayout:    ingestLayout(&cfg, false), CoarseFileRows: int(cfg.CoarseFileRows), CoarseAbove: int(cfg.CoarseAbove),
		Static: true, Partitions: parts,
		Until: func(context.Context, *ingest.KafkaSource) (map[ingest.TopicPartition]int64, error) { return until, nil },
		Opts:  popts,
		Log:   log, Kafka: kafkaProps, RegistryOpts: regOpts,
		Tables: &cfg.Tables,
	})
	if err != nil {
		return err
	}
	defer a.closeCatalog()
	log.Info("backfill started", "group", cfg.Group, "partitions", len(ranges), "records", total)
	// The bar is drawn on the terminal itself (stderr unwrapped from the
	// secrets filter: a bar holds counts only); log lines go above it
	// through the filter.
	tty := redact.Unwrap(stderr)
	stopProgress := startProgress(tty, logs, progressMode(bc.Progress, tty), total, a.Pipeline.Stats, log)
	runErr := a.Pipeline.Run(ctx)
	stopProgress()
	if err := a.Close(context.WithoutCancel(ctx)); err != nil && runErr == nil {
		runErr = err
	}
	if runErr != nil {
		return runErr
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted; what was committed stays, and running the same backfill again resumes there")
	}
	printSummary(stdout, a.Pipeline.Stats(), time.Since(began))
	return nil
}

// backfillRanges resolves --from/--to against the brokers and, if the table
// exists, the offsets an earlier run of the same backfill committed.
func backfillRanges(ctx context.Context, cfg *Config, kafkaProps, catalogProps map[string]string, from, to rangeSpec) ([]partRange, error) {
	src, err := ingest.NewKafkaSource(ingest.KafkaSourceConfig{Brokers: cfg.Brokers, Topic: cfg.Topic, Static: true, Extra: kafkaProps})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	parts, err := src.TopicPartitions(ctx)
	if err != nil {
		return nil, err
	}
	ranges, err := resolveRanges(src, cfg.Topic, parts, from, to)
	if err != nil {
		return nil, usageError{err}
	}
	cat, err := catalog.Open(ctx, cfg.Catalog, cfg.Warehouse, catalogProps)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	if c, ok := cat.(io.Closer); ok {
		defer c.Close()
	}
	ident, err := catalog.ParseIdentifier(cfg.Table)
	if err != nil {
		return nil, usageError{fmt.Errorf("--table: %w", err)}
	}
	exists, err := cat.CheckTableExists(ctx, ident)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", cfg.Table, err)
	}
	if !exists {
		return ranges, nil
	}
	w, err := iceberg.NewWriter(ctx, cat, ident)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", cfg.Table, err)
	}
	done, err := w.Offsets(ctx, cfg.Group)
	if err != nil {
		return nil, fmt.Errorf("table %s: offsets of %s: %w", cfg.Table, cfg.Group, err)
	}
	for i := range ranges {
		if off, ok := done[ranges[i].TP]; ok {
			ranges[i].Resume = off
		}
	}
	return ranges, nil
}

func printRanges(w io.Writer, cfg *Config, ranges []partRange, total int64) {
	fmt.Fprintf(w, "backfill of %s into %s as group %s (dry run: nothing read or written)\n", cfg.Topic, cfg.Table, cfg.Group)
	fmt.Fprintf(w, "  %9s %12s %12s %12s %12s\n", "partition", "from", "to", "resume at", "records")
	for _, r := range ranges {
		resume := "-"
		if r.Resume >= 0 {
			resume = fmt.Sprint(r.Resume)
		}
		fmt.Fprintf(w, "  %9d %12d %12d %12s %12d\n", r.TP.Partition, r.From, r.To, resume, r.Rows())
	}
	fmt.Fprintf(w, "  %d records to read in %d partitions\n", total, len(ranges))
}

func printSummary(w io.Writer, st ingest.Stats, elapsed time.Duration) {
	rate := 0.0
	if elapsed > 0 {
		rate = float64(st.Consumed) / elapsed.Seconds()
	}
	fmt.Fprintf(w, "backfill done: %d records read, %d rows committed in %d snapshots (%d data files, %s), %s elapsed, %.0f records/s\n",
		st.Consumed, st.Rows, st.Commits, st.Files, humanBytes(st.Bytes), elapsed.Round(time.Millisecond), rate)
	if st.Dead > 0 {
		classes := make([]string, 0, len(st.DeadByClass))
		for c, n := range st.DeadByClass {
			classes = append(classes, fmt.Sprintf("%s %d", c, n))
		}
		sort.Strings(classes)
		fmt.Fprintf(w, "dead-lettered: %d (%s)\n", st.Dead, strings.Join(classes, ", "))
	} else {
		fmt.Fprintln(w, "dead-lettered: 0")
	}
}

// progressMode resolves --progress auto: a bar when w is a terminal, log
// lines otherwise (a file, a pipe, /dev/null).
func progressMode(mode string, w io.Writer) string {
	if mode != "auto" {
		return mode
	}
	if isTerminal(w) {
		// A terminal without a size (some CI pseudo-terminals) cannot
		// lay a bar out.
		if cols, _, err := term.GetSize(int(w.(*os.File).Fd())); err == nil && cols > 0 {
			return "bar"
		}
	}
	return "log"
}

// isTerminal reports whether w is a terminal. A character device is not
// enough (/dev/null is one): ask the terminal driver.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// logWriter is the log handler's output: stderr, or, while a progress bar
// is drawn, the bar's container, which prints each line above the bars.
type logWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *logWriter) set(w io.Writer) {
	l.mu.Lock()
	l.w = w
	l.mu.Unlock()
}

// startProgress reports progress until the returned function is called.
// "bar": two bars on stderr, records read and records committed (rows in
// committed snapshots plus dead letters), redrawn in place, with the log
// lines (logs' writer) printed above them. "log": a log line every 10 s.
func startProgress(stderr io.Writer, logs *logWriter, mode string, total int64, stats func() ingest.Stats, log *slog.Logger) func() {
	if mode == "none" || total == 0 {
		return func() {}
	}
	began := time.Now()
	if mode == "log" {
		return every(10*time.Second, func() {
			st := stats()
			rate, eta := progressRate(st.Consumed, total, time.Since(began))
			log.Info("backfill progress", "records", st.Consumed, "of", total, "rows_committed", st.Rows,
				"dead_letter", st.Dead, "records_per_s", int64(rate), "eta", eta.String())
		}, nil)
	}
	c := mpb.New(mpb.WithOutput(stderr), mpb.WithAutoRefresh(), mpb.WithRefreshRate(200*time.Millisecond), mpb.WithWidth(100))
	read := c.AddBar(total,
		mpb.PrependDecorators(decor.Name("read     ", decor.WC{W: 10}), decor.CountersNoUnit("%d / %d", decor.WC{W: 24})),
		mpb.AppendDecorators(decor.Percentage(decor.WC{W: 5}), decor.AverageSpeed(nil, "  %.0f records/s"), decor.Name("  ETA "), decor.AverageETA(decor.ET_STYLE_GO)))
	committed := c.AddBar(total,
		mpb.PrependDecorators(decor.Name("committed", decor.WC{W: 10}), decor.CountersNoUnit("%d / %d", decor.WC{W: 24})),
		mpb.AppendDecorators(decor.Percentage(decor.WC{W: 5}), decor.Any(func(decor.Statistics) string {
			st := stats()
			return fmt.Sprintf("  %d rows in %d snapshots, %d dead-lettered", st.Rows, st.Commits, st.Dead)
		})))
	logs.set(secrets.Writer(c))
	update := func() {
		st := stats()
		read.SetCurrent(min(st.Consumed, total))
		committed.SetCurrent(min(st.Rows+st.Dead, total))
	}
	return every(200*time.Millisecond, update, func() {
		update()
		// Whatever was not reached (an interrupted run) ends the bar where
		// it stands.
		read.SetTotal(-1, true)
		committed.SetTotal(-1, true)
		logs.set(stderr)
		c.Wait()
	})
}

// every runs tick every d until the returned function is called, which
// then runs last (if not nil) and returns when both are done.
func every(d time.Duration, tick, last func()) func() {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-stop:
				if last != nil {
					last()
				}
				return
			case <-t.C:
				tick()
			}
		}
	}()
	return func() { close(stop); <-done }
}

func progressRate(n, total int64, elapsed time.Duration) (float64, time.Duration) {
	if elapsed <= 0 || n == 0 {
		return 0, 0
	}
	rate := float64(n) / elapsed.Seconds()
	eta := time.Duration(float64(max(0, total-n)) / rate * float64(time.Second))
	return rate, eta.Round(time.Second)
}
