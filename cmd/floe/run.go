package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/floe-io/floe/compaction"
	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/ingest"
	"github.com/floe-io/floe/internal/telemetry"
)

func cmdRun(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg := defaultConfig()
	var cpuProfile string
	opts := append(cfg.runOptions(),
		stringOpt("cpuprofile", "write a CPU profile of the whole run (ingest, compaction, maintenance) to this file when floe run stops", &cpuProfile),
		stringOpt("commit-mode", "self: every process commits its own snapshots; coordinated: every process writes its data files and the process holding partition 0 commits all of them in one snapshot per --trigger (many processes on one table)", &cfg.CommitMode),
		stringOpt("control-topic", "coordinated commit mode: the control topic workers and the coordinator talk over (default <topic>.floe-control; created with one partition if missing)", &cfg.ControlTopic),
	)
	rest, err := load("floe run", opts, args, getenv, stderr)
	var ue usageError
	if errors.As(err, &ue) {
		return err
	}
	if len(rest) > 0 {
		err = errors.Join(err, fmt.Errorf("unexpected arguments: %v", rest))
	}
	if cfg.CommitMode != "self" && cfg.CommitMode != "coordinated" {
		err = errors.Join(err, fmt.Errorf("--commit-mode: want self or coordinated, got %q", cfg.CommitMode))
	}
	if err := errors.Join(err, cfg.validate()); err != nil {
		return usageError{err}
	}
	log := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	logConfig(log, opts)
	applyMemoryLimit(cfg.MemoryLimit, getenv, log)
	if cpuProfile != "" {
		stop, err := startCPUProfile(cpuProfile)
		if err != nil {
			return err
		}
		defer stop(log)
	}

	props, err := cfg.Storage.props(getenv)
	if err != nil {
		return usageError{err}
	}
	kr, err := openKeyring(ctx, &cfg, log)
	if err != nil {
		return err
	}
	reloadOnHUP(ctx, kr, log)
	dlqTable, err := dlqTable(&cfg)
	if err != nil {
		return usageError{err}
	}
	start := ingest.StartEarliest
	if cfg.StartFrom == "latest" {
		start = ingest.StartLatest
	}
	kafkaProps, regOpts, err := connectionSettings(&cfg, getenv)
	if err != nil {
		return err
	}
	// While a commit cannot land the loop may stop polling for as long
	// as --outage-timeout: the group must not give the partitions away
	// first (librdkafka's default allows 5 minutes between polls).
	if _, set := kafkaProps["max.poll.interval.ms"]; !set {
		if need := cfg.OutageTimeout + time.Minute; need > 5*time.Minute {
			kafkaProps["max.poll.interval.ms"] = strconv.FormatInt(need.Milliseconds(), 10)
		}
	}
	metrics := telemetry.NewMetrics(nil)
	metrics.LogStateChanges(log)
	popts := pipelineOptions(&cfg)
	popts.StartFrom, popts.Observer = start, metrics
	a, err := assemble(ctx, wiring{
		Brokers: cfg.Brokers, RegistryURL: cfg.RegistryURL, Topic: cfg.Topic, Group: cfg.Group,
		DLQTopic: cfg.DLQTopic, DLQTable: dlqTable, Keyring: kr,
		Catalog: cfg.Catalog, Warehouse: cfg.Warehouse, Table: cfg.Table, CatalogProps: props,
		IcebergGoWriter: cfg.ParquetWriter == "iceberg-go",
		IngestLayout:    ingestLayout(&cfg, cfg.CompactEvery > 0), CoarseFileRows: int(cfg.CoarseFileRows), CoarseAbove: int(cfg.CoarseAbove),
		Opts:  popts,
		Log:   log,
		Kafka: kafkaProps, RegistryOpts: regOpts,
		Tables:     &cfg.Tables,
		InstanceID: cfg.InstanceID, SessionTimeout: cfg.SessionTimeout, OnSourceEvent: metrics.SourceEvent,
		CommitMode: cfg.CommitMode, ControlTopic: cfg.ControlTopic,
	})
	if err != nil {
		if ctx.Err() != nil {
			// SIGTERM or SIGINT while starting: nothing was consumed, so
			// stopping here is a clean stop, not a failure.
			log.Info("stopped while starting", "reason", context.Cause(ctx).Error())
			return nil
		}
		return err
	}
	defer a.closeCatalog()
	stopHTTP, err := serveHTTP(cfg.HTTP, metrics, a, log)
	if err != nil {
		_ = a.Close(context.WithoutCancel(ctx))
		return err
	}
	stopCompactor, err := startCompactor(ctx, &cfg, a, metrics, log)
	if err != nil {
		stopHTTP()
		_ = a.Close(context.WithoutCancel(ctx))
		return err
	}
	runErr := a.Pipeline.Run(ctx)
	stopCompactor()
	closeErr := a.Close(context.WithoutCancel(ctx))
	stopHTTP()
	st := a.Pipeline.Stats()
	log.Info("stopped", "consumed", st.Consumed, "rows", st.Rows, "dead_letter", st.Dead, "commits", st.Commits)
	if runErr != nil {
		return runErr
	}
	return closeErr
}

// serveHTTP starts /healthz, /readyz and /metrics unless addr is empty. The
// returned function stops the server.
func serveHTTP(addr string, m *telemetry.Metrics, a *assembled, log *slog.Logger) (func(), error) {
	if addr == "" {
		return func() {}, nil
	}
	probe := &tableProbe{load1: func(ctx context.Context) error {
		_, err := a.Catalog.LoadTable(ctx, a.Ident)
		return err
	}}
	checks := map[string]telemetry.Check{
		"partitions": func(context.Context) error {
			if m.AssignedPartitions() == 0 {
				return errors.New("no partitions assigned")
			}
			return nil
		},
		"registry": func(ctx context.Context) error { return a.Registry.Ping(ctx) },
		// Loading the table reads the catalog and then the table's
		// metadata file in the object store: its error says which is
		// down. An outage the pipeline is riding through is named even
		// when the probe happens to succeed.
		"catalog": func(ctx context.Context) error {
			if err := outageCheck(m, ingest.OutageCatalog); err != nil {
				return err
			}
			err := probe.load(ctx)
			if iceberg.Unavailable(err) == iceberg.ErrStorageUnavailable {
				return nil // the storage check reports it
			}
			return err
		},
		"storage": func(ctx context.Context) error {
			if err := outageCheck(m, ingest.OutageStorage); err != nil {
				return err
			}
			err := probe.load(ctx)
			if iceberg.Unavailable(err) == iceberg.ErrStorageUnavailable {
				return err
			}
			return nil
		},
	}
	srv, err := telemetry.Listen(addr, m, checks, log)
	if err != nil {
		return nil, err
	}
	log.Info("serving /healthz, /readyz and /metrics", "addr", srv.Addr())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(); err != nil {
			log.Error("http server", "err", err)
		}
	}()
	return func() {
		_ = srv.Shutdown(context.Background())
		<-done
	}, nil
}

// tableProbe loads the table once for the catalog and the storage checks
// of one /readyz request: a load reads the whole metadata.json, which grows
// with the snapshots kept, so it is not done twice.
type tableProbe struct {
	load1 func(context.Context) error

	mu  sync.Mutex
	at  time.Time
	err error
}

// load returns the outcome of a table load made in the last second, or of
// a new one.
func (p *tableProbe) load(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.at.IsZero() || time.Since(p.at) >= time.Second {
		p.err, p.at = p.load1(ctx), time.Now()
	}
	return p.err
}

// outageCheck fails while the pipeline reports what down.
func outageCheck(m *telemetry.Metrics, what string) error {
	if since, ok := m.OutageSince(what); ok {
		return fmt.Errorf("unavailable for %s; floe retries until --outage-timeout", time.Since(since).Round(time.Second))
	}
	return nil
}

// startCompactor runs compaction and table maintenance in the background
// every --compact-every until the returned function is called. It commits
// through the ingest Writer's Committer, so its commits and the pipeline's
// take turns instead of conflicting; commits of other processes still
// conflict, and then its rewrites give up the groups whose inputs changed.
// Its commits never fail the ingest.
func startCompactor(ctx context.Context, cfg *Config, a *assembled, m *telemetry.Metrics, log *slog.Logger) (func(), error) {
	if cfg.CompactEvery <= 0 {
		return func() {}, nil
	}
	copts := cfg.Tables.compactionOptions(cfg.TargetFileSize)
	copts.Committer = a.Writer.Committer()
	copts.OnStage = func(stage, id string) {
		log.Debug("compaction stage", "stage", stage, "commit_id", id)
	}
	comp, err := compaction.New(a.Catalog, a.Ident, copts)
	if err != nil {
		return nil, err
	}
	m.WatchCompactor(comp.Stats)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := comp.Run(cctx, cfg.CompactEvery, func(r compaction.Report, err error) {
			if err != nil {
				log.Warn("compaction run failed; the next run tries again", "err", err, "duration_ms", r.Duration.Milliseconds())
				return
			}
			log.Info("compaction", "files_rewritten", r.FilesRewritten, "files_written", r.FilesWritten,
				"duration_ms", r.Duration.Milliseconds(), "tiered", r.Tiered, "small_files_left", r.Plan.SkippedSmallFiles,
				"conflicts", r.Conflicts, "groups_given_up", r.GroupsGivenUp,
				"snapshots_expired", r.SnapshotsExpired, "orphans_removed", len(r.Orphans))
		})
		if err != nil {
			log.Error("compactor stopped", "err", err)
		}
	}()
	return func() {
		cancel()
		<-done
	}, nil
}
