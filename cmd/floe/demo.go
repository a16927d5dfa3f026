//go:build !nodev

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/ingest"
	"github.com/floe-io/floe/internal/contract"
	"github.com/floe-io/floe/internal/devstack"
	"github.com/floe-io/floe/keys"
)

type demoConfig struct {
	dataDir      string
	events       int
	partitions   int
	merchants    int
	invalidShare float64
	trigger      time.Duration
	logLevel     string
	layout       string
}

func cmdDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	dc := demoConfig{}
	fs := flag.NewFlagSet("floe demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&dc.dataDir, "data-dir", "floe-data", "where the SQLite catalog and the warehouse live")
	fs.IntVar(&dc.events, "events", 20000, "events to produce")
	fs.IntVar(&dc.partitions, "partitions", 4, "partitions of the demo topic")
	fs.IntVar(&dc.merchants, "merchants", 40, "distinct merchants")
	fs.Float64Var(&dc.invalidShare, "invalid-share", 0.02, "share of invalid events (spread over the error classes)")
	fs.DurationVar(&dc.trigger, "trigger", time.Second, "commit interval")
	fs.StringVar(&dc.logLevel, "log-level", "warn", "debug|info|warn|error")
	fs.StringVar(&dc.layout, "ingest-layout", iceberg.LayoutPartitioned, "partitioned or coarse (as floe run's --ingest-layout; the demo runs no compactor, where floe run's default, auto, writes partitioned)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	var errs []string
	if dc.events <= 0 {
		errs = append(errs, "--events: must be positive")
	}
	if dc.partitions <= 0 {
		errs = append(errs, "--partitions: must be positive")
	}
	if dc.merchants <= 0 {
		errs = append(errs, "--merchants: must be positive")
	}
	if dc.invalidShare < 0 || dc.invalidShare >= 1 {
		errs = append(errs, "--invalid-share: must be in [0, 1)")
	}
	if dc.trigger <= 0 {
		errs = append(errs, "--trigger: must be positive")
	}
	if dc.layout != iceberg.LayoutPartitioned && dc.layout != iceberg.LayoutCoarse {
		errs = append(errs, "--ingest-layout: want partitioned or coarse")
	}
	if len(errs) > 0 {
		return usageError{fmt.Errorf("%s", strings.Join(errs, "\n"))}
	}
	log := newLogger(stderr, dc.logLevel, "text")
	began := time.Now()

	dir, err := filepath.Abs(dc.dataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	topic := "payments.transactions"
	stack, err := devstack.Start(ctx, devstack.Options{Partitions: dc.partitions, Topic: topic})
	if err != nil {
		return fmt.Errorf("starting the in-process broker and registry: %w", err)
	}
	defer func() { _ = stack.Close() }()
	fmt.Fprintf(stdout, "in-process Kafka broker at %s, Schema Registry at %s\n", stack.BrokersString(), stack.RegistryURL)

	ids, err := contract.Register(ctx, stack.RegistryURL, nil)
	if err != nil {
		return fmt.Errorf("registering the contract schemas: %w", err)
	}
	// The keyring lives in memory only: the demo never writes keys to disk.
	keyring := devstack.GenerateKeyring("k1", "k2")
	kr, err := keys.New(keyring)
	if err != nil {
		return err
	}
	runID := time.Now().UTC().Format("20060102T150405.000Z")
	gen, err := devstack.NewGenerator(devstack.GenOptions{
		Seed: time.Now().UnixNano(), Merchants: dc.merchants, Keys: keyring, IDs: ids,
		InvalidShare: dc.invalidShare, Prefix: "demo-" + runID + "-",
	})
	if err != nil {
		return err
	}
	events := make([]devstack.Event, dc.events)
	invalid := 0
	for i := range events {
		events[i] = gen.Next()
		if events[i].Class != "" {
			invalid++
		}
	}
	if err := devstack.Produce(ctx, stack.Brokers, topic, events); err != nil {
		return fmt.Errorf("producing: %w", err)
	}
	fmt.Fprintf(stdout, "produced %d encrypted events (%d invalid on purpose) to %s, %d partitions\n", len(events), invalid, topic, dc.partitions)

	group := "floe-demo-" + runID
	a, err := assemble(ctx, wiring{
		Brokers: stack.BrokersString(), RegistryURL: stack.RegistryURL, Topic: topic, Group: group,
		DLQTopic: topic + ".dlq", Keyring: kr,
		Catalog:   "sqlite://" + filepath.Join(dir, "catalog.db"),
		Warehouse: "file://" + filepath.Join(dir, "warehouse"),
		Table:     "payments.transactions",
		Static:    true,
		Until: func(ctx context.Context, src *ingest.KafkaSource) (map[ingest.TopicPartition]int64, error) {
			return src.EndOffsets(ctx)
		},
		Opts:         ingest.Options{Trigger: dc.trigger},
		Log:          log,
		IngestLayout: dc.layout,
	})
	if err != nil {
		return err
	}
	defer a.closeCatalog()
	runErr := a.Pipeline.Run(ctx)
	if err := a.Close(context.WithoutCancel(ctx)); err != nil && runErr == nil {
		runErr = err
	}
	if runErr != nil {
		return runErr
	}
	st := a.Pipeline.Stats()
	fmt.Fprintf(stdout, "ingested %d rows in %d snapshots (%d data files, %s), %d dead-lettered to %s.dlq",
		st.Rows, st.Commits, st.Files, humanBytes(st.Bytes), st.Dead, topic)
	if st.Dead > 0 {
		classes := make([]string, 0, len(st.DeadByClass))
		for c, n := range st.DeadByClass {
			classes = append(classes, fmt.Sprintf("%s %d", c, n))
		}
		sort.Strings(classes)
		fmt.Fprintf(stdout, " (%s)", strings.Join(classes, ", "))
	}
	fmt.Fprintln(stdout)

	rep, err := readReport(ctx, a.Writer, group)
	if err != nil {
		return fmt.Errorf("reading the table back: %w", err)
	}
	rep.print(stdout)
	fmt.Fprintf(stdout, "done in %s\n", time.Since(began).Round(10*time.Millisecond))
	return nil
}
