package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

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
	// Until, if set, computes the end offsets of a bounded run once the
	// source exists.
	Until func(ctx context.Context, src *ingest.KafkaSource) (map[ingest.TopicPartition]int64, error)
	Opts  ingest.Options
	Log   *slog.Logger
}

// assembled holds the parts of a running pipeline so they can be closed.
type assembled struct {
	Pipeline *ingest.Pipeline
	Source   *ingest.KafkaSource
	DLQ      *ingest.KafkaDeadLetters
	Writer   *iceberg.Writer
	Table    *table.Table
	Ident    table.Identifier
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
	writer, err := iceberg.NewWriter(ctx, cat, ident)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", w.Table, err)
	}
	a := &assembled{Writer: writer, Table: tbl, Ident: ident}
	defer func() {
		if err != nil {
			_ = a.Close(context.WithoutCancel(ctx))
		}
	}()
	a.Source, err = ingest.NewKafkaSource(ingest.KafkaSourceConfig{
		Brokers: w.Brokers, Group: w.Group, Topic: w.Topic, Static: w.Static,
	})
	if err != nil {
		return nil, err
	}
	a.DLQ, err = ingest.NewKafkaDeadLetters(w.Brokers, w.DLQTopic, nil)
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
