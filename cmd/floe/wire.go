package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	icecatalog "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/catalog"
	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/ingest"
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
	Opts  ingest.Options
	Log   *slog.Logger
	// Kafka holds extra librdkafka properties for the consumer and the
	// dead-letter producer (--kafka-config).
	Kafka map[string]string
}

// assembled holds the parts of a running pipeline so they can be closed.
type assembled struct {
	Pipeline *ingest.Pipeline
	Source   *ingest.KafkaSource
	DLQ      *ingest.KafkaDeadLetters
	Writer   *iceberg.Writer
	Table    *table.Table
	Ident    table.Identifier
	Registry *schema.Registry
	Catalog  icecatalog.Catalog
}

// Close releases the source and the dead-letter producer. Safe to call twice.
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
	reg, err := schema.NewRegistry(w.RegistryURL)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	// A wrong base URL answers 404 for every schema id, which would
	// dead-letter everything as unknown_schema: check it first.
	if err := reg.Ping(ctx); err != nil {
		return nil, fmt.Errorf("registry %s: %w", w.RegistryURL, err)
	}
	cat, err := catalog.Open(ctx, w.Catalog, w.Warehouse, w.CatalogProps)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	ident, err := catalog.ParseIdentifier(w.Table)
	if err != nil {
		return nil, fmt.Errorf("--table: %w", err)
	}
	sc := schema.TableSchema()
	tbl, err := catalog.EnsureTable(ctx, cat, ident, sc, schema.PartitionSpec(sc), nil)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", w.Table, err)
	}
	log := w.Log
	writer, err := iceberg.NewWriter(ctx, cat, ident, iceberg.WithStageHook(func(stage, commitID string) {
		log.Debug("commit stage", "stage", stage, "commit_id", commitID)
	}))
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", w.Table, err)
	}
	a := &assembled{Writer: writer, Table: tbl, Ident: ident, Registry: reg, Catalog: cat}
	defer func() {
		if err != nil {
			_ = a.Close(context.WithoutCancel(ctx))
		}
	}()
	a.Source, err = ingest.NewKafkaSource(ingest.KafkaSourceConfig{
		Brokers: w.Brokers, Group: w.Group, Topic: w.Topic, Static: w.Static, Partitions: w.Partitions, Extra: w.Kafka,
	})
	if err != nil {
		return nil, err
	}
	a.DLQ, err = ingest.NewKafkaDeadLetters(w.Brokers, w.DLQTopic, producerProps(w.Kafka))
	if err != nil {
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
