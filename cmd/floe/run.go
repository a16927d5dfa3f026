package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/floe-io/floe/ingest"
	"github.com/floe-io/floe/keys"
)

func cmdRun(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg := defaultConfig()
	opts := cfg.runOptions()
	rest, err := load("floe run", opts, args, getenv, stderr)
	var ue usageError
	if errors.As(err, &ue) {
		return err
	}
	if len(rest) > 0 {
		err = errors.Join(err, fmt.Errorf("unexpected arguments: %v", rest))
	}
	if err := errors.Join(err, cfg.validate()); err != nil {
		return usageError{err}
	}
	log := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	logConfig(log, opts)

	props, err := cfg.Storage.props(getenv)
	if err != nil {
		return usageError{err}
	}
	kr, err := keys.LoadFile(cfg.Keyring)
	if err != nil {
		return err
	}
	start := ingest.StartEarliest
	if cfg.StartFrom == "latest" {
		start = ingest.StartLatest
	}
	a, err := assemble(ctx, wiring{
		Brokers: cfg.Brokers, RegistryURL: cfg.RegistryURL, Topic: cfg.Topic, Group: cfg.Group,
		DLQTopic: cfg.DLQTopic, Keyring: kr,
		Catalog: cfg.Catalog, Warehouse: cfg.Warehouse, Table: cfg.Table, CatalogProps: props,
		Opts: ingest.Options{
			Trigger: cfg.Trigger, MaxBatchRows: cfg.MaxBatchRows, MaxBatchBytes: cfg.MaxBatchBytes,
			StartFrom: start, ShutdownTimeout: cfg.ShutdownTimeout,
		},
		Log: log,
	})
	if err != nil {
		return err
	}
	runErr := a.Pipeline.Run(ctx)
	closeErr := a.Close(context.WithoutCancel(ctx))
	st := a.Pipeline.Stats()
	log.Info("stopped", "consumed", st.Consumed, "rows", st.Rows, "dead_letter", st.Dead, "commits", st.Commits)
	if runErr != nil {
		return runErr
	}
	return closeErr
}
