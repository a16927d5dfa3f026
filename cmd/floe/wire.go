package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/floe-io/floe/catalog"
	"github.com/floe-io/floe/dlqtable"
	"github.com/floe-io/floe/ingest"
	"github.com/floe-io/floe/internal/assembly"
	"github.com/floe-io/floe/keys"
	"github.com/floe-io/floe/schema"
)

// wiring is everything needed to assemble a pipeline.
type wiring = assembly.Config

// assembled holds the parts of a running pipeline so they can be closed.
type assembled struct{ *assembly.Assembled }

// closeCatalog releases the catalog's connections; call it last.
func (a *assembled) closeCatalog() { a.CloseCatalog() }

// assemble builds the pipeline w describes (internal/assembly, shared with
// floe bench and the ingest tests).
func assemble(ctx context.Context, w wiring) (*assembled, error) {
	a, err := assembly.New(ctx, w)
	if err != nil {
		return nil, err
	}
	return &assembled{a}, nil
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
