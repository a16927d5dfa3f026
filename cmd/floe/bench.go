//go:build !nodev

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/floe-io/floe/internal/bench"
	"github.com/floe-io/floe/internal/redact"
	"github.com/floe-io/floe/keys"
)

// cmdBench runs the trigger-interval benchmark (internal/bench). With
// --single it is the child process of one run: it ingests one topic and
// prints "ready", then the result as one JSON line.
func cmdBench(ctx context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("floe bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		triggers   = fs.String("triggers", "100ms,250ms,500ms,1s,2s,5s,10s", "commit intervals to measure, comma-separated")
		events     = fs.Int("events", 2_000_000, "events per run")
		rate       = fs.Int("rate", 0, "events/s produced while ingesting (latency mode); 0: produce first, ingest at max rate")
		partitions = fs.Int("partitions", 8, "partitions of each run's topic")
		merchants  = fs.Int("merchants", 1000, "distinct merchants (each with a home currency; 5% of events in another)")
		out        = fs.String("out", "bench-results", "directory for results.csv, results.json and chart.png")
		dataDir    = fs.String("data-dir", "", "where keyring, catalogs and warehouses of the runs live; kept afterwards (default: a temporary directory, removed at the end)")
		brokers    = fs.String("brokers", "", "Kafka bootstrap servers (default: an in-process broker)")
		registry   = fs.String("registry-url", "", "Schema Registry URL (default: an in-process registry)")
		catalogURI = fs.String("catalog", "", "catalog URI (default: a SQLite catalog per run)")
		warehouse  = fs.String("warehouse", "", "warehouse location (default: a local directory per run)")
		isolate    = fs.Bool("isolate", true, "ingest each run in a child process, so CPU and peak RSS are the pipeline's alone")
		pqWriter   = fs.String("parquet-writer", "lean", "floe run's --parquet-writer: lean (floe's, the default) or iceberg-go (table.WriteRecords)")
		layout     = fs.String("ingest-layout", "auto", "floe run's --ingest-layout: partitioned (one file per (currency, merchant_id) per commit), coarse (files per currency sorted by merchant_id; compaction moves them) or auto (floe run's default: coarse for commits spanning more than 1000 partitions); also given to the soak's child")
		cpuProfile = fs.String("cpuprofile", "", "write a CPU profile of each run's ingest to <this>.<trigger>.pprof")
		logLevel   = fs.String("log-level", "warn", "log level of each run's pipeline, on stderr: debug, info (a line per commit), warn, error")

		soak         = fs.Bool("soak", false, "soak mode: produce --rate events/s for --duration into a child floe run (ingest + compaction + maintenance, as users run it), sample it every 5 s, then read the table back")
		duration     = fs.Duration("duration", 2*time.Minute, "soak: how long the load runs")
		soakTrigger  = fs.Duration("soak-trigger", time.Second, "soak: the child's --trigger")
		compactEvery = fs.Duration("compact-every", 30*time.Second, "soak: the child's --compact-every")
		settle       = fs.Duration("settle", 0, "soak: how long the child keeps running after the load (default two compaction intervals + 10 s)")
		check        = fs.Bool("check", true, "soak: read the table back and check every produced event is there once with equal values")
		runArgs      = fs.String("run-args", "", "soak: extra flags for the child floe run, space-separated")

		single = fs.Bool("single", false, "ingest one topic and print the result as JSON (a run's child process)")
		topic  = fs.String("topic", "", "--single: topic")
		keyFle = fs.String("keyring", "", "--single: keyring file")
		table  = fs.String("table", "bench.transactions", "--single: table")
		trig   = fs.Duration("trigger", time.Second, "--single: commit interval")
		label  = fs.String("label", "", "--single: progress label")
	)
	// --single and its companions are the parent's way of starting a run's
	// child process, not options for users: --help leaves them out.
	internal := map[string]bool{"single": true, "topic": true, "keyring": true, "table": true, "trigger": true, "label": true}
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage of floe bench:")
		shown := flag.NewFlagSet("floe bench", flag.ContinueOnError)
		shown.SetOutput(stderr)
		fs.VisitAll(func(f *flag.Flag) {
			if !internal[f.Name] {
				shown.Var(f.Value, f.Name, f.Usage)
			}
		})
		shown.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *layout != "partitioned" && *layout != "coarse" && *layout != "auto" {
		return usageError{fmt.Errorf("--ingest-layout: %q: want partitioned, coarse or auto", *layout)}
	}
	if *single {
		kr, err := keys.LoadFile(*keyFle)
		if err != nil {
			return err
		}
		res, err := bench.Single(ctx, bench.SingleConfig{
			Brokers: *brokers, RegistryURL: *registry, Topic: *topic, Keyring: kr,
			Catalog: *catalogURI, Warehouse: *warehouse, Table: *table,
			Trigger: *trig, Events: int64(*events), Rate: *rate, Label: *label,
			Progress: redact.Unwrap(stderr), CPUProfile: *cpuProfile, Isolated: true,
			IcebergGoWriter: *pqWriter == "iceberg-go", IngestLayout: *layout,
			Ready: func() { fmt.Fprintln(stdout, "ready") },
			Log:   newLogger(stderr, *logLevel, "text"),
		})
		if err != nil {
			return err
		}
		js, err := json.Marshal(res)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", js)
		return err
	}

	if *soak {
		return runSoak(ctx, bench.SoakConfig{
			Rate: *rate, Duration: *duration, Merchants: *merchants, Trigger: *soakTrigger,
			CompactEvery: *compactEvery, Settle: *settle, Partitions: *partitions,
			DataDir: *dataDir, Check: *check, ExtraArgs: append([]string{"--ingest-layout", *layout}, strings.Fields(*runArgs)...), Progress: stderr,
		}, *out, stdout)
	}

	c := bench.Config{
		Events: *events, Rate: *rate, Partitions: *partitions, Merchants: *merchants,
		DataDir: *dataDir, Brokers: *brokers, RegistryURL: *registry,
		Catalog: *catalogURI, Warehouse: *warehouse, Progress: redact.Unwrap(stderr),
		ParquetWriter: *pqWriter, LogLevel: *logLevel, IngestLayout: *layout,
	}
	if *pqWriter != "lean" && *pqWriter != "iceberg-go" {
		return usageError{fmt.Errorf("--parquet-writer: %q: want lean or iceberg-go", *pqWriter)}
	}
	switch *logLevel {
	case "debug", "info", "warn", "error":
	default:
		return usageError{fmt.Errorf("--log-level: want debug, info, warn or error, got %q", *logLevel)}
	}
	var bad []string
	for _, s := range strings.Split(*triggers, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			bad = append(bad, fmt.Sprintf("--triggers: %q: %v", s, err))
			continue
		}
		c.Triggers = append(c.Triggers, d)
	}
	if len(bad) > 0 {
		return usageError{fmt.Errorf("%s", strings.Join(bad, "\n"))}
	}
	if c.DataDir == "" {
		dir, err := os.MkdirTemp("", "floe-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		c.DataDir = dir
	}
	if *isolate {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("--isolate: %w", err)
		}
		c.Exe = exe
	} else {
		c.Log = newLogger(stderr, *logLevel, "text")
	}
	if *cpuProfile != "" {
		p, err := filepath.Abs(*cpuProfile)
		if err != nil {
			return err
		}
		c.CPUProfile = p
	}
	results, err := bench.Run(ctx, c)
	if len(results) > 0 {
		if werr := bench.WriteMarkdown(stdout, results); werr != nil && err == nil {
			err = werr
		}
		if werr := bench.WriteOutputs(*out, results); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

// runSoak runs `floe bench --soak` and writes soak.json, soak.csv and
// soak.png into out.
func runSoak(ctx context.Context, c bench.SoakConfig, out string, stdout io.Writer) error {
	if c.Rate <= 0 {
		return usageError{fmt.Errorf("--soak needs --rate")}
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	c.Exe = exe
	if c.DataDir == "" {
		dir, err := os.MkdirTemp("", "floe-soak-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		c.DataDir = dir
	}
	res, err := bench.Soak(ctx, c)
	if werr := bench.WriteSoakSummary(stdout, res); werr != nil && err == nil {
		err = werr
	}
	if len(res.Samples) > 0 {
		if werr := bench.WriteSoakOutputs(out, res); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}
