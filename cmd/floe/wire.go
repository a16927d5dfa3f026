package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	icecatalog "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/catalog"
	"github.com/floe-io/floe/dlqtable"
	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/ingest"
	"github.com/floe-io/floe/internal/redact"
	"github.com/floe-io/floe/keys"
	"github.com/floe-io/floe/schema"
)

// wiring is everything needed to assemble a pipeline.
type wiring struct {
	Brokers, RegistryURL, Topic, Group, DLQTopic string
	Keyring                                      ingest.Opener
	Catalog, Warehouse, Table                    string
	// CatalogProps are catalog and FileIO properties (S3, REST auth).
	CatalogProps map[string]string
	// Static assigns every partition of the topic instead of joining the
	// group (demo, backfill).
	Static bool
	// Partitions limits a static assignment (nil: every partition).
	Partitions []int32
	// Until, if set, computes the end offsets of a bounded run once the
	// source exists.
	Until func(ctx context.Context, src *ingest.KafkaSource) (map[ingest.TopicPartition]int64, error)
	// RegistryOpts configure the registry client (auth, TLS).
	RegistryOpts []schema.RegistryOption
	Opts         ingest.Options
	Log          *slog.Logger
	// DLQTable, when set, sends dead letters to this Iceberg table
	// instead of DLQTopic.
	DLQTable string
	// IcebergGoWriter writes data files with iceberg-go's writer instead
	// of the lean one (--parquet-writer iceberg-go).
	IcebergGoWriter bool
	// Kafka holds extra librdkafka properties for the consumer and the
	// dead-letter producer (--kafka-config).
	Kafka map[string]string
	// Tables: --auto-create and --table-property; nil creates missing
	// tables with floe's properties.
	Tables *tableConfig
	// InstanceID and SessionTimeout configure the group membership of a
	// source that joins the group (--instance-id, --session-timeout);
	// OnSourceEvent is told of its assignments and fencing.
	InstanceID     string
	SessionTimeout time.Duration
	OnSourceEvent  func(ingest.SourceEvent)
}

// assembled holds the parts of a running pipeline so they can be closed.
type assembled struct {
	Pipeline *ingest.Pipeline
	Source   *ingest.KafkaSource
	DLQ      ingest.DeadLetterSink
	Writer   *iceberg.Writer
	Table    *table.Table
	Ident    table.Identifier
	Registry *schema.Registry
	Catalog  icecatalog.Catalog
}

// closeCatalog releases the catalog's connections; call it last.
func (a *assembled) closeCatalog() {
	if c, ok := a.Catalog.(io.Closer); ok {
		_ = c.Close()
	}
}

// Close releases the source and the dead-letter sink (the catalog stays
// open for reading back; see closeCatalog). Safe to call twice.
func (a *assembled) Close(ctx context.Context) error {
	var errs []error
	if a.Source != nil {
		errs = append(errs, a.Source.Close())
		a.Source = nil
	}
	if a.DLQ != nil {
		errs = append(errs, a.DLQ.Close(ctx))
		a.DLQ = nil
	}
	return errors.Join(errs...)
}

func assemble(ctx context.Context, w wiring) (_ *assembled, err error) {
	reg, err := schema.NewRegistry(w.RegistryURL, w.RegistryOpts...)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	// A wrong base URL answers 404 for every schema id, which would
	// dead-letter everything as unknown_schema: check it first.
	if err := reg.Ping(ctx); err != nil {
		return nil, fmt.Errorf("registry %s: %w", redact.URL(w.RegistryURL), err)
	}
	ident, err := catalog.ParseIdentifier(w.Table)
	if err != nil {
		return nil, fmt.Errorf("--table: %w", err)
	}
	tables := w.Tables
	if tables == nil {
		d := defaultTableConfig()
		tables = &d
	}
	log := w.Log
	var (
		cat    icecatalog.Catalog
		tbl    *table.Table
		writer *iceberg.Writer
	)
	err = untilAnswers(ctx, w.Opts.OutageTimeout, log, func() error {
		cat, tbl, writer, err = openTable(ctx, w, ident, tables)
		return err
	})
	if err != nil {
		return nil, err
	}
	if why := writer.LeanWriterReason(); why != "" {
		log.Info("data files are written by iceberg-go's Parquet writer", "reason", why)
	} else {
		log.Info("data files are written by the lean Parquet writer")
	}
	a := &assembled{Writer: writer, Table: tbl, Ident: ident, Registry: reg, Catalog: cat}
	defer func() {
		if err != nil {
			_ = a.Close(context.WithoutCancel(ctx))
		}
	}()
	a.Source, err = ingest.NewKafkaSource(ingest.KafkaSourceConfig{
		Brokers: w.Brokers, Group: w.Group, Topic: w.Topic, Static: w.Static, Partitions: w.Partitions, Extra: w.Kafka,
		InstanceID: w.InstanceID, SessionTimeout: w.SessionTimeout, OnEvent: w.OnSourceEvent,
	})
	if err != nil {
		return nil, err
	}
	if w.DLQTable != "" {
		dident, err := catalog.ParseIdentifier(w.DLQTable)
		if err != nil {
			return nil, fmt.Errorf("--dlq-table: %w", err)
		}
		err = untilAnswers(ctx, w.Opts.OutageTimeout, log, func() error {
			sink, err := dlqtable.New(ctx, cat, dident, dlqtable.Options{NoCreate: !tables.AutoCreate})
			if err == nil {
				a.DLQ = sink // never a nil *Sink in the interface: Close would call it
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("dead-letter table %s: %w", w.DLQTable, err)
		}
	} else if a.DLQ, err = ingest.NewKafkaDeadLetters(w.Brokers, w.DLQTopic, producerProps(w.Kafka)); err != nil {
		return nil, err
	}
	opts := w.Opts
	opts.Group = w.Group
	opts.Logger = w.Log
	if w.Until != nil {
		if opts.Until, err = w.Until(ctx, a.Source); err != nil {
			return nil, err
		}
	}
	a.Pipeline, err = ingest.New(a.Source, schema.NewDecoder(reg), w.Keyring, writer, a.DLQ, opts)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// openTable opens the catalog, creates the table if it is missing and may
// be, and loads it for writing. On error nothing stays open.
func openTable(ctx context.Context, w wiring, ident table.Identifier, tables *tableConfig) (icecatalog.Catalog, *table.Table, *iceberg.Writer, error) {
	cat, err := catalog.Open(ctx, w.Catalog, w.Warehouse, w.CatalogProps)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("catalog: %w", err)
	}
	fail := func(err error) (icecatalog.Catalog, *table.Table, *iceberg.Writer, error) {
		if c, ok := cat.(io.Closer); ok {
			_ = c.Close()
		}
		return nil, nil, nil, fmt.Errorf("table %s: %w", w.Table, err)
	}
	sc := schema.TableSchema()
	// Tuned Parquet settings (zstd level 1, no dictionary for unique id
	// columns), metadata housekeeping and --table-property apply to tables
	// floe creates; existing tables keep theirs.
	tbl, err := catalog.EnsureTable(ctx, cat, ident, sc, schema.PartitionSpec(sc), tables.createProperties(), tables.ensureOptions()...)
	if err != nil {
		return fail(err)
	}
	log := w.Log
	writer, err := iceberg.NewWriter(ctx, cat, ident, iceberg.WithStageHook(func(stage, commitID string) {
		log.Debug("commit stage", "stage", stage, "commit_id", commitID)
	}), iceberg.WithIcebergGoWriter(w.IcebergGoWriter))
	if err != nil {
		return fail(err)
	}
	return cat, tbl, writer, nil
}

// untilAnswers runs op until it succeeds, fails with an error that is not
// the catalog or the object store being unavailable, or they stay
// unavailable past timeout (ingest.Options.OutageTimeout: 0 is the
// default, negative gives up at once), backing off from 200 ms to 2 s.
func untilAnswers(ctx context.Context, timeout time.Duration, log *slog.Logger, op func() error) error {
	if timeout == 0 {
		timeout = ingest.DefaultOutageTimeout
	}
	var (
		since time.Time
		down  string
	)
	backoff := 200 * time.Millisecond
	for {
		err := op()
		if err == nil || iceberg.Unavailable(err) == nil {
			if down != "" && err == nil {
				log.Info("outage ended", "component", down, "lasted", time.Since(since).Round(time.Millisecond).String())
			}
			return err
		}
		what := ingest.OutageOf(err)
		if down == "" {
			since, down = time.Now(), what
			log.Warn("outage began: retrying until it answers", "component", what, "err", err)
		}
		if lasted := time.Since(since); timeout < 0 || lasted >= timeout {
			return &ingest.OutageError{What: what, Lasted: lasted, Err: err}
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// consumerOnly are librdkafka properties a producer rejects or warns about.
var consumerOnly = map[string]bool{
	"session.timeout.ms": true, "heartbeat.interval.ms": true, "max.poll.interval.ms": true,
	"partition.assignment.strategy": true, "group.instance.id": true, "fetch.min.bytes": true,
	"fetch.wait.max.ms": true, "fetch.max.bytes": true, "max.partition.fetch.bytes": true,
	"queued.min.messages": true, "queued.max.messages.kbytes": true, "isolation.level": true,
	"auto.offset.reset": true, "group.protocol": true, "enable.partition.eof": true,
}

// producerProps keeps the --kafka-config properties that apply to the
// dead-letter producer (connection, TLS, SASL) and drops consumer tuning.
func producerProps(props map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range props {
		if !consumerOnly[k] {
			out[k] = v
		}
	}
	return out
}

// pipelineOptions are the ingest options every command derives from the
// configuration the same way.
func pipelineOptions(cfg *Config) ingest.Options {
	outage := cfg.OutageTimeout
	if outage == 0 {
		outage = -1 // --outage-timeout 0: give up at the first failure
	}
	return ingest.Options{
		Trigger: cfg.Trigger, MaxBatchRows: cfg.MaxBatchRows, MaxBatchBytes: cfg.MaxBatchBytes,
		MaxRecordBytes: int(cfg.MaxRecordBytes), MaxBufferBytes: cfg.MaxBufferBytes,
		MaxBatchPartitions: int(cfg.MaxBatchPartitions),
		ShutdownTimeout:    cfg.ShutdownTimeout, OutageTimeout: outage,
		OnIncompatible: cfg.OnIncompatible, OnError: cfg.OnError,
	}
}

// dlqTable is the dead-letter table --dlq table names, or "".
func dlqTable(cfg *Config) (string, error) {
	if cfg.DLQ != "table" {
		return "", nil
	}
	if cfg.DLQTable != "" {
		return cfg.DLQTable, nil
	}
	ident, err := catalog.ParseIdentifier(cfg.Table)
	if err != nil {
		return "", err
	}
	return strings.Join(dlqtable.Name(ident), "."), nil
}

// openKeyring loads the keyring file (local keys or KMS-wrapped ones) and
// reloads it on an unknown key_id (rate-limited) or when reload is called.
func openKeyring(ctx context.Context, cfg *Config, log *slog.Logger) (*keys.Reloader, error) {
	r, err := keys.NewReloader(ctx, cfg.Keyring, keys.WithMissReloadInterval(cfg.KeyringReloadInterval), keys.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("--keyring: %w", err)
	}
	return r, nil
}

// reloadOnHUP reloads the keyring on every SIGHUP until ctx ends.
func reloadOnHUP(ctx context.Context, r *keys.Reloader, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := r.Reload(ctx); err != nil {
					log.Error("keyring reload on SIGHUP failed; the keys in use stay", "err", err)
				} else {
					log.Info("keyring reloaded", "keys", len(r.IDs()))
				}
			}
		}
	}()
}

// connectionSettings turns the transport settings and --kafka-config into
// librdkafka properties and registry options.
func connectionSettings(cfg *Config, getenv func(string) string) (map[string]string, []schema.RegistryOption, error) {
	kafka := cfg.Kafka.Props()
	sec, err := cfg.Transport.kafkaProps(getenv)
	if err != nil {
		return nil, nil, err
	}
	for k, v := range sec {
		if have, ok := kafka[k]; ok && have != v {
			return nil, nil, usageError{fmt.Errorf("--kafka-config sets %s, which the --kafka-* security options set too: use one", k)}
		}
		kafka[k] = v
	}
	reg, err := cfg.Transport.registryOptions(getenv)
	if err != nil {
		return nil, nil, err
	}
	return kafka, reg, nil
}
