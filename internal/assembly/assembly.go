// Package assembly builds floe's ingest pipeline from its configuration: the
// Kafka source, the registry client, the Iceberg writer of the table
// (created if missing), the dead-letter sink and the pipeline options. floe
// run, floe backfill, floe demo, floe bench and the ingest integration tests
// all build their pipeline here, so a benchmark measures what floe run
// wires.
package assembly

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	iceberggo "github.com/apache/iceberg-go"
	icecatalog "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/catalog"
	"github.com/floe-io/floe/coord"
	"github.com/floe-io/floe/dlqtable"
	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/ingest"
	"github.com/floe-io/floe/internal/redact"
	"github.com/floe-io/floe/schema"
)

// Config is everything needed to assemble a pipeline. Zero ingest options
// take ingest.DefaultOptions.
type Config struct {
	Brokers, RegistryURL, Topic, Group, DLQTopic string
	Keyring                                      ingest.Opener
	Catalog, Warehouse, Table                    string
	// CatalogProps are catalog and FileIO properties (S3, REST auth).
	CatalogProps map[string]string
	// Static assigns every partition of the topic instead of joining the
	// group (demo, backfill, bench).
	Static bool
	// Partitions limits a static assignment (nil: every partition).
	Partitions []int32
	// Until, if set, computes the end offsets of a bounded run once the
	// source exists.
	Until func(ctx context.Context, src *ingest.KafkaSource) (map[ingest.TopicPartition]int64, error)
	// RegistryOpts configure the registry client (auth, TLS).
	RegistryOpts []schema.RegistryOption
	// Opts are the pipeline options; Group and Logger are set from Group
	// and Log.
	Opts ingest.Options
	// Log receives the pipeline's log (nil: discarded).
	Log *slog.Logger
	// DLQTable, when set, sends dead letters to this Iceberg table
	// instead of DLQTopic.
	DLQTable string
	// IcebergGoWriter writes data files with iceberg-go's writer instead
	// of the lean one (--parquet-writer iceberg-go).
	IcebergGoWriter bool
	// IngestLayout is --ingest-layout: "" or iceberg.LayoutPartitioned
	// writes one file per default-spec partition per commit;
	// iceberg.LayoutCoarse adds the table's coarse spec if missing and
	// writes each commit in it (iceberg.WithCoarseLayout), in files of
	// about CoarseFileRows rows (0: iceberg.DefaultCoarseFileRows);
	// iceberg.LayoutAuto does so only for record batches spanning more
	// than CoarseAbove default-spec partitions (iceberg.WithAutoLayout; 0:
	// iceberg.DefaultCoarseAbove).
	IngestLayout   string
	CoarseFileRows int
	CoarseAbove    int
	// Kafka holds extra librdkafka properties for the consumer and the
	// dead-letter producer (--kafka-config).
	Kafka map[string]string
	// Tables says how missing tables are created; nil creates them with
	// DefaultTableProperties.
	Tables Tables
	// InstanceID and SessionTimeout configure the group membership of a
	// source that joins the group (--instance-id, --session-timeout);
	// OnSourceEvent is told of its assignments and fencing.
	InstanceID     string
	SessionTimeout time.Duration
	OnSourceEvent  func(ingest.SourceEvent)
	// WrapSource, if set, wraps the Kafka source the pipeline reads (a
	// benchmark's timing).
	WrapSource func(ingest.Source) ingest.Source
	// CommitMode is "self" (or ""): the process commits its own
	// snapshots; or "coordinated": it stages its batches and the process
	// holding partition 0 of Topic commits every process's batches in one
	// snapshot per trigger (package coord), talking over ControlTopic
	// (default <Topic>.floe-control). Not with Static.
	CommitMode, ControlTopic string
}

// Commit modes.
const (
	CommitSelf        = "self"
	CommitCoordinated = "coordinated"
)

// Tables decides whether and how a missing table is created.
type Tables interface {
	// MayCreate says whether a missing table (and dead-letter table) is
	// created; false refuses to start without it.
	MayCreate() bool
	// CreateProperties are the properties of a table floe creates.
	CreateProperties() iceberggo.Properties
}

// DefaultTableProperties are the properties of a table floe creates unless
// told otherwise: the tuned Parquet settings for the contract's columns
// (catalog.EnsureTable adds the metadata housekeeping ones).
func DefaultTableProperties() iceberggo.Properties {
	return iceberg.TunedWriteProperties(schema.UniqueColumns()...)
}

type defaultTables struct{}

func (defaultTables) MayCreate() bool                        { return true }
func (defaultTables) CreateProperties() iceberggo.Properties { return DefaultTableProperties() }

// Assembled holds the parts of a pipeline so they can be closed.
type Assembled struct {
	Pipeline *ingest.Pipeline
	Source   *ingest.KafkaSource
	DLQ      ingest.DeadLetterSink
	Writer   *iceberg.Writer
	Table    *table.Table
	Ident    table.Identifier
	Registry *schema.Registry
	Catalog  icecatalog.Catalog
	// Coordinator is this process's coordinator in the coordinated
	// commit mode (nil otherwise).
	Coordinator *coord.Coordinator
	// closers end the coordinated mode's parts, in order, after the
	// source.
	closers []func()
}

// CloseCatalog releases the catalog's connections; call it last.
func (a *Assembled) CloseCatalog() {
	if c, ok := a.Catalog.(io.Closer); ok {
		_ = c.Close()
	}
}

// Close releases the source and the dead-letter sink (the catalog stays
// open for reading back; see CloseCatalog). Safe to call twice.
func (a *Assembled) Close(ctx context.Context) error {
	var errs []error
	if a.Source != nil {
		errs = append(errs, a.Source.Close())
		a.Source = nil
	}
	if a.DLQ != nil {
		errs = append(errs, a.DLQ.Close(ctx))
		a.DLQ = nil
	}
	for _, c := range a.closers {
		c()
	}
	a.closers = nil
	return errors.Join(errs...)
}

// New assembles the pipeline c describes. On error everything it opened
// but the catalog is closed.
func New(ctx context.Context, c Config) (_ *Assembled, err error) {
	reg, err := schema.NewRegistry(c.RegistryURL, c.RegistryOpts...)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	// A wrong base URL answers 404 for every schema id, which would
	// dead-letter everything as unknown_schema: check it first.
	if err := reg.Ping(ctx); err != nil {
		return nil, fmt.Errorf("registry %s: %w", redact.URL(c.RegistryURL), err)
	}
	ident, err := catalog.ParseIdentifier(c.Table)
	if err != nil {
		return nil, fmt.Errorf("--table: %w", err)
	}
	tables := c.Tables
	if tables == nil {
		tables = defaultTables{}
	}
	log := c.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var (
		cat    icecatalog.Catalog
		tbl    *table.Table
		writer *iceberg.Writer
	)
	err = untilAnswers(ctx, c.Opts.OutageTimeout, log, func() error {
		cat, tbl, writer, err = openTable(ctx, c, ident, tables, log)
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
	switch c.IngestLayout {
	case iceberg.LayoutCoarse:
		if why := writer.CoarseLayoutReason(); why != "" {
			log.Warn("ingest layout coarse: commits are written in the default partition spec", "reason", why)
		} else {
			log.Info("ingest layout coarse: commits are written in the coarse partition spec; compaction moves them to the default spec")
		}
	case iceberg.LayoutAuto:
		if why := writer.CoarseLayoutReason(); why != "" {
			log.Info("ingest layout auto: commits are written in the default partition spec", "reason", why)
		} else if writer.WritesCoarse() {
			above := c.CoarseAbove
			if above <= 0 {
				above = iceberg.DefaultCoarseAbove
			}
			log.Info("ingest layout auto: a commit spanning more partitions than coarse_above is written in the coarse partition spec, which compaction moves to the default spec", "coarse_above", above)
		}
	}
	a := &Assembled{Writer: writer, Table: tbl, Ident: ident, Registry: reg, Catalog: cat}
	defer func() {
		if err != nil {
			_ = a.Close(context.WithoutCancel(ctx))
		}
	}()
	var w ingest.Writer = writer
	onEvent := c.OnSourceEvent
	switch c.CommitMode {
	case "", CommitSelf:
	case CommitCoordinated:
		if c.Static {
			return nil, errors.New("the coordinated commit mode needs group membership (floe run)")
		}
		var worker *coord.Worker
		worker, onEvent, err = a.coordinated(ctx, c, writer, log)
		if err != nil {
			return nil, err
		}
		w = worker
	default:
		return nil, fmt.Errorf("commit mode %q: want %s or %s", c.CommitMode, CommitSelf, CommitCoordinated)
	}
	a.Source, err = ingest.NewKafkaSource(ingest.KafkaSourceConfig{
		Brokers: c.Brokers, Group: c.Group, Topic: c.Topic, Static: c.Static, Partitions: c.Partitions, Extra: c.Kafka,
		InstanceID: c.InstanceID, SessionTimeout: c.SessionTimeout, OnEvent: onEvent,
		FetchWait: ingest.FetchWaitFor(trigger(c.Opts)),
	})
	if err != nil {
		return nil, err
	}
	if c.DLQTable != "" {
		dident, err := catalog.ParseIdentifier(c.DLQTable)
		if err != nil {
			return nil, fmt.Errorf("--dlq-table: %w", err)
		}
		err = untilAnswers(ctx, c.Opts.OutageTimeout, log, func() error {
			sink, err := dlqtable.New(ctx, cat, dident, dlqtable.Options{NoCreate: !tables.MayCreate()})
			if err == nil {
				a.DLQ = sink // never a nil *Sink in the interface: Close would call it
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("dead-letter table %s: %w", c.DLQTable, err)
		}
	} else if a.DLQ, err = ingest.NewKafkaDeadLetters(c.Brokers, c.DLQTopic, ProducerProps(c.Kafka)); err != nil {
		return nil, err
	}
	opts := c.Opts
	opts.Group = c.Group
	opts.Logger = log
	if c.Until != nil {
		if opts.Until, err = c.Until(ctx, a.Source); err != nil {
			return nil, err
		}
	}
	var src ingest.Source = a.Source
	if c.WrapSource != nil {
		src = c.WrapSource(src)
	}
	a.Pipeline, err = ingest.New(src, schema.NewDecoder(reg), c.Keyring, w, a.DLQ, opts)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// coordinated opens the control topic and this process's worker and
// coordinator, and returns the worker and the source event callback that
// makes the process the coordinator while it holds partition 0 of the
// topic. The role is handed over only at the next assignment, not at a
// revocation: during the rebalance every process commits what it holds,
// and the old coordinator is still there to commit it.
func (a *Assembled) coordinated(ctx context.Context, c Config, writer *iceberg.Writer, log *slog.Logger) (*coord.Worker, func(ingest.SourceEvent), error) {
	topic := c.ControlTopic
	if topic == "" {
		topic = c.Topic + ".floe-control"
	}
	bus, err := coord.NewKafkaBus(ctx, c.Brokers, topic, ProducerProps(c.Kafka), c.Kafka, log)
	if err != nil {
		return nil, nil, err
	}
	o := coord.Options{Trigger: trigger(c.Opts), Sender: c.InstanceID, Log: log}
	worker := coord.NewWorker(writer, bus, o)
	co := coord.NewCoordinator(writer, bus, o)
	a.Coordinator = co
	// The coordinator's last round and the worker's answers still need
	// the bus: close it last.
	a.closers = append(a.closers, co.Close, worker.Close, func() { _ = bus.Close() })
	log.Info("coordinated commits: control topic", "topic", topic)
	p0 := ingest.TopicPartition{Topic: c.Topic, Partition: 0}
	next := c.OnSourceEvent
	return worker, func(ev ingest.SourceEvent) {
		if ev.Kind == ingest.SourceAssigned {
			co.SetActive(slices.Contains(ev.TopicPartitions, p0))
		}
		if next != nil {
			next(ev)
		}
	}, nil
}

// openTable opens the catalog, creates the table if it is missing and may
// be, and loads it for writing. On error nothing stays open.
func openTable(ctx context.Context, c Config, ident table.Identifier, tables Tables, log *slog.Logger) (icecatalog.Catalog, *table.Table, *iceberg.Writer, error) {
	cat, err := catalog.Open(ctx, c.Catalog, c.Warehouse, c.CatalogProps)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("catalog: %w", err)
	}
	fail := func(err error) (icecatalog.Catalog, *table.Table, *iceberg.Writer, error) {
		if cl, ok := cat.(io.Closer); ok {
			_ = cl.Close()
		}
		return nil, nil, nil, fmt.Errorf("table %s: %w", c.Table, err)
	}
	sc := schema.TableSchema()
	// Tables floe creates get the creation properties; existing tables
	// keep theirs.
	tbl, err := catalog.EnsureTable(ctx, cat, ident, sc, schema.PartitionSpec(sc), tables.CreateProperties(), catalog.WithCreate(tables.MayCreate()))
	if err != nil {
		return fail(err)
	}
	wopts := []iceberg.WriterOption{iceberg.WithStageHook(func(stage, commitID string) {
		log.Debug("commit stage", "stage", stage, "commit_id", commitID)
	}), iceberg.WithIcebergGoWriter(c.IcebergGoWriter)}
	switch c.IngestLayout {
	case "", iceberg.LayoutPartitioned:
	case iceberg.LayoutCoarse:
		if _, err := iceberg.EnsureCoarseSpec(ctx, cat, ident); err != nil {
			return fail(err)
		}
		wopts = append(wopts, iceberg.WithCoarseLayout(c.CoarseFileRows))
	case iceberg.LayoutAuto:
		// The default layout: a table whose spec allows no coarse layout
		// is written partitioned (logged here), not refused.
		switch _, err := iceberg.EnsureCoarseSpec(ctx, cat, ident); {
		case err == nil:
			wopts = append(wopts, iceberg.WithAutoLayout(c.CoarseFileRows, c.CoarseAbove))
		case errors.Is(err, iceberg.ErrNoCoarseSpec):
			log.Info("ingest layout auto: commits are written in the default partition spec", "reason", err.Error())
		default:
			return fail(err)
		}
	default:
		return fail(fmt.Errorf("ingest layout %q: want %s, %s or %s", c.IngestLayout, iceberg.LayoutPartitioned, iceberg.LayoutCoarse, iceberg.LayoutAuto))
	}
	writer, err := iceberg.NewWriter(ctx, cat, ident, wopts...)
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

// ProducerProps keeps the --kafka-config properties that apply to the
// dead-letter producer (connection, TLS, SASL) and drops consumer tuning.
func ProducerProps(props map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range props {
		if !consumerOnly[k] {
			out[k] = v
		}
	}
	return out
}

// trigger is the pipeline's interval trigger, the default when unset.
func trigger(o ingest.Options) time.Duration {
	if o.Trigger <= 0 {
		return ingest.DefaultOptions().Trigger
	}
	return o.Trigger
}
