package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/floe-io/floe/internal/contract"
	"github.com/floe-io/floe/internal/devstack"
	"github.com/floe-io/floe/keys"
)

// Config is a whole `floe bench`: one run per trigger.
type Config struct {
	Triggers   []time.Duration
	Events     int
	Rate       int // 0: max-rate mode
	Partitions int
	Merchants  int
	// DataDir holds the keyring, catalogs and warehouses of the runs.
	DataDir string
	// Brokers and RegistryURL point at real servers; empty means the
	// in-process broker and registry.
	Brokers, RegistryURL string
	// Catalog and Warehouse point at a real catalog; empty means a SQLite
	// catalog and a local warehouse per run under DataDir. With a shared
	// catalog every run gets a table of its own (bench.run_<stamp>_<i>).
	Catalog, Warehouse string
	// Exe is the floe binary run as `Exe bench --single ...` per run; empty
	// runs the ingest in this process (CPU and RSS then include the broker).
	Exe string
	// CPUProfile, if set, is a file name prefix: each run writes
	// <prefix>.<trigger>.pprof.
	CPUProfile string
	// Progress receives progress lines; nil for none.
	Progress io.Writer
	// ParquetWriter is floe run's --parquet-writer: "lean" (default) or
	// "iceberg-go".
	ParquetWriter string
	// IngestLayout is floe run's --ingest-layout (empty: floe run's default).
	IngestLayout string
	// LogLevel is passed to the child as --log-level (empty: its default,
	// warn); Log receives the pipeline's log of an in-process run.
	LogLevel string
	Log      *slog.Logger
}

func (c *Config) validate() error {
	var errs []error
	if len(c.Triggers) == 0 {
		errs = append(errs, errors.New("--triggers: at least one"))
	}
	for _, t := range c.Triggers {
		if t <= 0 {
			errs = append(errs, fmt.Errorf("--triggers: %v is not positive", t))
		}
	}
	if c.Events <= 0 {
		errs = append(errs, errors.New("--events: must be positive"))
	}
	if c.Rate < 0 {
		errs = append(errs, errors.New("--rate: must be >= 0"))
	}
	if c.Partitions <= 0 {
		errs = append(errs, errors.New("--partitions: must be positive"))
	}
	if c.Merchants <= 0 {
		errs = append(errs, errors.New("--merchants: must be positive"))
	}
	if (c.Brokers == "") != (c.RegistryURL == "") {
		errs = append(errs, errors.New("--brokers and --registry-url go together"))
	}
	if (c.Catalog == "") != (c.Warehouse == "") {
		errs = append(errs, errors.New("--catalog and --warehouse go together"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("no data directory"))
	}
	return errors.Join(errs...)
}

// Run runs every trigger in turn and returns one result per trigger.
func Run(ctx context.Context, c Config) ([]Result, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.DataDir, 0o755); err != nil {
		return nil, err
	}
	brokers, registry := c.Brokers, c.RegistryURL
	var createTopic func(string) error
	if brokers == "" {
		stack, err := devstack.Start(ctx, devstack.Options{Partitions: c.Partitions, Topic: "bench.init"})
		if err != nil {
			return nil, fmt.Errorf("starting the in-process broker and registry: %w", err)
		}
		defer func() { _ = stack.Close() }()
		brokers, registry = stack.BrokersString(), stack.RegistryURL
		createTopic = func(t string) error { return stack.Cluster().CreateTopic(t, int32(c.Partitions), nil) }
	} else {
		createTopic = func(t string) error { return createKafkaTopic(ctx, brokers, t, c.Partitions) }
	}
	ids, err := contract.Register(ctx, registry, nil)
	if err != nil {
		return nil, fmt.Errorf("registering the contract schemas: %w", err)
	}
	keyring := devstack.GenerateKeyring("k1", "k2")
	keyFile := filepath.Join(c.DataDir, "keyring.json")
	if err := devstack.WriteKeyringFile(keyFile, keyring); err != nil {
		return nil, err
	}
	kr, err := keys.New(keyring)
	if err != nil {
		return nil, err
	}

	stamp := time.Now().UTC().Format("20060102t150405")
	var results []Result
	for i, trig := range c.Triggers {
		label := fmt.Sprintf("[%d/%d trigger %v]", i+1, len(c.Triggers), trig)
		topic := fmt.Sprintf("bench.%s.%d", stamp, i)
		if err := createTopic(topic); err != nil {
			return results, fmt.Errorf("creating topic %s: %w", topic, err)
		}
		runDir := filepath.Join(c.DataDir, fmt.Sprintf("run-%s-%d", stamp, i))
		if err := os.MkdirAll(runDir, 0o755); err != nil {
			return results, err
		}
		// Run directories are not removed between runs: on ext4, creating
		// files right after tens of thousands were deleted costs several
		// times the usual kernel time for a while (measured here: 25-45
		// us per file normally, 190-800 us for seconds after a large
		// rm -rf), which would be charged to the next run. floe bench
		// removes its temporary data directory at the end; a --data-dir
		// given to it is kept, tables and all, for inspection.
		sc := SingleConfig{
			Brokers: brokers, RegistryURL: registry, Topic: topic, Keyring: kr,
			Catalog: c.Catalog, Warehouse: c.Warehouse, Table: fmt.Sprintf("bench.run_%s_%d", stamp, i),
			Trigger: trig, Events: int64(c.Events), Rate: c.Rate, Label: label, Progress: c.Progress,
			IcebergGoWriter: c.ParquetWriter == "iceberg-go", IngestLayout: c.IngestLayout,
		}
		if sc.Catalog == "" {
			sc.Catalog = "sqlite://" + filepath.Join(runDir, "catalog.db")
			sc.Warehouse = "file://" + filepath.Join(runDir, "warehouse")
			sc.Table = "bench.transactions"
		}
		if c.CPUProfile != "" {
			sc.CPUProfile = fmt.Sprintf("%s.%v.pprof", c.CPUProfile, trig)
		}
		gen, err := devstack.NewGenerator(devstack.GenOptions{
			Seed: int64(i + 1), Merchants: c.Merchants, Keys: keyring, IDs: ids,
			Prefix: fmt.Sprintf("bench-%s-%d-", stamp, i), ForeignShare: 0.05,
		})
		if err != nil {
			return results, err
		}
		var res Result
		if c.Rate == 0 {
			if err := produce(ctx, brokers, topic, gen, c.Events, 0, label, c.Progress); err != nil {
				return results, err
			}
			res, err = c.single(ctx, sc, keyFile, nil)
		} else {
			res, err = c.single(ctx, sc, keyFile, func(ctx context.Context) error {
				return produce(ctx, brokers, topic, gen, c.Events, c.Rate, "", nil)
			})
		}
		if err != nil {
			return results, fmt.Errorf("%s: %w", label, err)
		}
		res.Merchants, res.Partitions = c.Merchants, c.Partitions
		results = append(results, res)
	}
	return results, nil
}

// single runs one ingest, in a child process when c.Exe is set. concurrent,
// if not nil, runs (producing) from the moment the ingest is ready until it
// returns; the ingest ends when all events are committed.
func (c *Config) single(ctx context.Context, sc SingleConfig, keyFile string, concurrent func(context.Context) error) (Result, error) {
	prodErr := make(chan error, 1)
	startProducing := func() {
		if concurrent == nil {
			prodErr <- nil
			return
		}
		go func() { prodErr <- concurrent(ctx) }()
	}
	var (
		res Result
		err error
	)
	if c.Exe == "" {
		sc.Ready = startProducing
		sc.Log = c.Log
		res, err = Single(ctx, sc)
	} else {
		res, err = c.child(ctx, sc, keyFile, startProducing)
	}
	if err != nil {
		return res, err
	}
	if err := <-prodErr; err != nil {
		return res, fmt.Errorf("producing: %w", err)
	}
	return res, nil
}

// child runs `floe bench --single` and reads its result: the child prints
// "ready" on a line of its own when assembled, then the result as JSON.
func (c *Config) child(ctx context.Context, sc SingleConfig, keyFile string, ready func()) (Result, error) {
	args := []string{"bench", "--single",
		"--brokers", sc.Brokers, "--registry-url", sc.RegistryURL, "--topic", sc.Topic,
		"--keyring", keyFile, "--catalog", sc.Catalog, "--warehouse", sc.Warehouse, "--table", sc.Table,
		"--trigger", sc.Trigger.String(), "--events", strconv.FormatInt(sc.Events, 10),
		"--rate", strconv.Itoa(sc.Rate), "--label", sc.Label,
	}
	if c.ParquetWriter != "" {
		args = append(args, "--parquet-writer", c.ParquetWriter)
	}
	if c.IngestLayout != "" {
		args = append(args, "--ingest-layout", c.IngestLayout)
	}
	if sc.CPUProfile != "" {
		args = append(args, "--cpuprofile", sc.CPUProfile)
	}
	if c.LogLevel != "" {
		args = append(args, "--log-level", c.LogLevel)
	}
	cmd := exec.CommandContext(ctx, c.Exe, args...)
	cmd.Stderr = c.Progress
	if cmd.Stderr == nil {
		cmd.Stderr = io.Discard
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return Result{}, err
	}
	if err := cmd.Start(); err != nil {
		return Result{}, err
	}
	var (
		res     Result
		gotRes  bool
		isReady bool
	)
	sc2 := bufio.NewScanner(out)
	sc2.Buffer(make([]byte, 64<<10), 1<<20)
	for sc2.Scan() {
		line := strings.TrimSpace(sc2.Text())
		switch {
		case line == "ready" && !isReady:
			isReady = true
			ready()
		case strings.HasPrefix(line, "{"):
			if err := json.Unmarshal([]byte(line), &res); err != nil {
				_ = cmd.Wait()
				return res, fmt.Errorf("child result: %w", err)
			}
			gotRes = true
		}
	}
	if err := cmd.Wait(); err != nil {
		if !isReady {
			ready() // let the caller's producer finish
		}
		return res, fmt.Errorf("floe bench --single: %w", err)
	}
	if !gotRes {
		return res, errors.New("floe bench --single printed no result")
	}
	return res, nil
}

// produce sends n events from gen to topic, at rate events/s (0: as fast
// as the broker takes them), with a progress line when w is not nil.
func produce(ctx context.Context, brokers, topic string, gen *devstack.Generator, n, rate int, label string, w io.Writer) error {
	var made atomic.Int64
	next := gen.Take(int64(n))
	count := func() (devstack.Event, bool) {
		e, ok := next()
		if ok {
			made.Add(1)
		}
		return e, ok
	}
	stop := func() {}
	if w != nil {
		pp := newProgressPrinter(w)
		done, finished := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(finished)
			t := time.NewTicker(500 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					pp.final("%s produced %d/%d events", label, made.Load(), n)
					return
				case <-t.C:
					pp.update("%s producing %d/%d events", label, made.Load(), n)
				}
			}
		}()
		stop = func() { close(done); <-finished }
	}
	defer stop()
	acked, err := devstack.ProduceStream(ctx, strings.Split(brokers, ","), topic, count, rate)
	if err != nil {
		return err
	}
	if err := gen.Err(); err != nil {
		return err
	}
	if acked != int64(n) {
		return fmt.Errorf("produced %d of %d events", acked, n)
	}
	return nil
}

// createKafkaTopic creates a topic on a real cluster.
func createKafkaTopic(ctx context.Context, brokers, topic string, partitions int) error {
	ac, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": brokers, "enable.metrics.push": false})
	if err != nil {
		return err
	}
	defer ac.Close()
	res, err := ac.CreateTopics(ctx, []kafka.TopicSpecification{{Topic: topic, NumPartitions: partitions, ReplicationFactor: -1}})
	if err != nil {
		return err
	}
	for _, r := range res {
		if r.Error.Code() != kafka.ErrNoError {
			return r.Error
		}
	}
	return nil
}
