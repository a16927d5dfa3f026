package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/floe-io/floe/compaction"
	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/ingest"
	"github.com/floe-io/floe/internal/redact"
)

// Config is every setting of `floe run` (and the subset other commands
// use). Values come from defaults, then a YAML file (--config), then FLOE_*
// environment variables, then flags: the later source wins.
type Config struct {
	Brokers         string
	RegistryURL     string
	Topic           string
	Group           string
	Keyring         string
	Catalog         string
	Warehouse       string
	Table           string
	Trigger         time.Duration
	MaxBatchRows    int64
	MaxBatchBytes   int64
	DLQTopic        string
	StartFrom       string
	OnIncompatible  string
	LogLevel        string
	LogFormat       string
	ShutdownTimeout time.Duration
	OutageTimeout   time.Duration
	HTTP            string
	Kafka           kafkaConfig
	// Limits and error handling.
	MaxRecordBytes        int64
	MaxBufferBytes        int64
	MemoryLimit           int64
	MaxBatchPartitions    int64
	OnError               string
	ParquetWriter         string
	IngestLayout          string
	CoarseFileRows        int64
	CoarseAbove           int64
	DLQ                   string
	DLQTable              string
	KeyringReloadInterval time.Duration
	// Transport security (transport.go).
	Transport transportConfig
	// Background compaction.
	CompactEvery   time.Duration
	TargetFileSize int64
	// Storage: object storage and remote catalog settings (storage.go).
	Storage storageConfig
	// Tables: creation and maintenance of the table (tables.go).
	Tables tableConfig
	// Group membership: static membership so a restart takes
	// its predecessor's partitions at once.
	InstanceID     string
	SessionTimeout time.Duration
	// Scale-out: who commits (floe run only).
	CommitMode   string
	ControlTopic string
}

// defaultConfig is floe's defaults: the pipeline's come from
// ingest.DefaultOptions and the compactor's from package compaction, so
// the flags show what a zero option means there.
func defaultConfig() Config {
	p := ingest.DefaultOptions()
	return Config{
		Topic:           "payments.transactions",
		Group:           "floe",
		CommitMode:      "self",
		Catalog:         "sqlite://floe-data/catalog.db",
		Warehouse:       "file://floe-data/warehouse",
		Table:           "payments.transactions",
		Trigger:         p.Trigger,
		MaxBatchRows:    p.MaxBatchRows,
		MaxBatchBytes:   p.MaxBatchBytes,
		StartFrom:       "earliest",
		OnIncompatible:  p.OnIncompatible,
		LogLevel:        "info",
		LogFormat:       "text",
		ShutdownTimeout: p.ShutdownTimeout,
		OutageTimeout:   p.OutageTimeout,
		HTTP:            ":9464",

		MaxRecordBytes:        int64(p.MaxRecordBytes),
		MaxBufferBytes:        p.MaxBufferBytes,
		MemoryLimit:           defaultMemoryLimit,
		MaxBatchPartitions:    int64(p.MaxBatchPartitions),
		OnError:               p.OnError,
		ParquetWriter:         "lean",
		IngestLayout:          iceberg.LayoutAuto,
		CoarseFileRows:        iceberg.DefaultCoarseFileRows,
		CoarseAbove:           iceberg.DefaultCoarseAbove,
		DLQ:                   "topic",
		KeyringReloadInterval: 10 * time.Second,
		CompactEvery:          5 * time.Minute,
		TargetFileSize:        compaction.DefaultTargetFileSize,
		Tables:                defaultTableConfig(),

		InstanceID:     defaultInstanceID(),
		SessionTimeout: 10 * time.Second,
	}
}

// defaultInstanceID is the host name: the pod name under Kubernetes, which
// a StatefulSet keeps across restarts.
func defaultInstanceID() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	return h
}

// option binds one setting to its flag, environment variable and YAML key
// (all derived from name).
type option struct {
	name   string
	usage  string
	set    func(string) error
	get    func() string
	secret bool
	isBool bool // a flag that needs no value: --dry-run
	// fromFlag, when set, takes a command-line value instead of set (a
	// repeatable flag, or one that refuses secrets on a command line).
	fromFlag func(string) error
	// fromYAML, when set, takes the YAML node whatever its kind (a map).
	fromYAML func(*yaml.Node) error
	// redacted: get already hides the secrets in the value.
	redacted bool
	// kind names the value in --help: string, duration, size, int.
	kind string
}

func (o option) env() string {
	return "FLOE_" + strings.ToUpper(strings.ReplaceAll(o.name, "-", "_"))
}

func stringOpt(name, usage string, p *string) option {
	return option{name: name, usage: usage, kind: "string",
		set: func(s string) error { *p = s; return nil },
		get: func() string { return *p }}
}

func boolOpt(name, usage string, p *bool) option {
	return option{name: name, usage: usage, isBool: true,
		set: func(s string) error {
			b, err := strconv.ParseBool(s)
			if err != nil {
				return fmt.Errorf("want true or false, got %q", s)
			}
			*p = b
			return nil
		},
		get: func() string { return strconv.FormatBool(*p) }}
}

func durationOpt(name, usage string, p *time.Duration) option {
	return option{name: name, usage: usage, kind: "duration",
		set: func(s string) error {
			d, err := time.ParseDuration(s)
			if err != nil {
				return fmt.Errorf("not a duration (e.g. 500ms, 1s, 2m): %q", s)
			}
			*p = d
			return nil
		},
		get: func() string { return p.String() }}
}

func intOpt(name, usage string, p *int64) option {
	return option{name: name, usage: usage, kind: "int",
		set: func(s string) error {
			n, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
			if err != nil {
				return fmt.Errorf("not an integer: %q", s)
			}
			*p = n
			return nil
		},
		get: func() string { return strconv.FormatInt(*p, 10) }}
}

func sizeOpt(name, usage string, p *int64) option {
	return option{name: name, usage: usage, kind: "size",
		set: func(s string) error {
			n, err := parseSize(s)
			if err != nil {
				return err
			}
			*p = n
			return nil
		},
		get: func() string { return formatSize(*p) }}
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1},
}

// parseSize reads "128MiB", "64MB", "1048576".
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a size (e.g. 64MiB, 1GB, 1048576): %q", s)
	}
	return n * mult, nil
}

func formatSize(n int64) string {
	switch {
	case n > 0 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n > 0 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return strconv.FormatInt(n, 10)
}

// runOptions are the settings shared by run (and later backfill).
func (c *Config) runOptions() []option {
	return append([]option{
		stringOpt("brokers", "Kafka bootstrap servers, host:port[,host:port]", &c.Brokers),
		stringOpt("registry-url", "Schema Registry base URL", &c.RegistryURL),
		stringOpt("topic", "topic to consume", &c.Topic),
		stringOpt("group", "consumer group; its offsets live in the table's snapshots", &c.Group),
		stringOpt("keyring", `keyring file, JSON {"keys": {"k1": "<base64 32 bytes>"}}`, &c.Keyring),
		stringOpt("catalog", "catalog URI: sqlite:///path/catalog.db, postgres://user@host/db, https://rest-catalog, glue://", &c.Catalog),
		stringOpt("warehouse", "warehouse location: file:///path/warehouse or s3://bucket/prefix", &c.Warehouse),
		stringOpt("table", "table identifier, namespace.name", &c.Table),
		durationOpt("trigger", "commit interval: the longest a row waits to become visible", &c.Trigger),
		intOpt("max-batch-rows", "commit early when this many rows are buffered", &c.MaxBatchRows),
		sizeOpt("max-batch-bytes", "commit early when this many record bytes are buffered", &c.MaxBatchBytes),
		stringOpt("dlq-topic", "dead-letter topic (default <topic>.dlq)", &c.DLQTopic),
		stringOpt("start-from", "where a group the table has never seen starts: earliest|latest", &c.StartFrom),
		stringOpt("on-incompatible-schema", "a record whose writer schema the table cannot take: dlq (dead-letter it) or fail (stop)", &c.OnIncompatible),
		stringOpt("log-level", "debug|info|warn|error", &c.LogLevel),
		stringOpt("log-format", "text|json", &c.LogFormat),
		durationOpt("shutdown-timeout", "how long the final commit may take after SIGTERM", &c.ShutdownTimeout),
		durationOpt("outage-timeout", "how long the catalog or the object store may stay down (commits retried, fetching paused, /readyz 503) before floe exits 1; 0 exits at the first failure", &c.OutageTimeout),
		stringOpt("http", `listen address of /healthz, /readyz and /metrics ("" turns it off)`, &c.HTTP),
		c.Kafka.option(),
		sizeOpt("max-record-bytes", "records larger than this (key + value) are dead-lettered as too_large", &c.MaxRecordBytes),
		sizeOpt("max-buffer-bytes", "memory the buffered rows may take before floe commits and stops fetching until done", &c.MaxBufferBytes),
		sizeOpt("memory-limit", "soft limit on the process's Go memory (as GOMEMLIMIT): near it the garbage collector runs more often instead of letting the heap grow; under it GOGC defaults to 200; 0 turns it off; a GOMEMLIMIT or GOGC in the environment wins", &c.MemoryLimit),
		intOpt("max-batch-partitions", "commit early when a batch spans this many table partitions (data files)", &c.MaxBatchPartitions),
		stringOpt("on-error", "a record that cannot be ingested: dlq (dead-letter it, go on) or fail (commit what came before, then stop)", &c.OnError),
		stringOpt("parquet-writer", "data file writer: lean (floe's; tables of flat primitive columns) or iceberg-go (table.WriteRecords); lean falls back to iceberg-go for tables it cannot write", &c.ParquetWriter),
		stringOpt("ingest-layout", "how commits lay out rows: partitioned (one data file per (currency, merchant_id) partition per commit, the table's default spec), coarse (a few files per currency per commit in an extra identity(currency) spec, rows sorted by merchant_id; the compactor moves them into the default spec) or auto (coarse for a commit spanning more than --coarse-above partitions, else partitioned; partitioned when no compactor runs: --compact-every 0, floe backfill)", &c.IngestLayout),
		intOpt("coarse-file-rows", "with --ingest-layout coarse or auto: rows per coarse data file (files are cut at merchant boundaries)", &c.CoarseFileRows),
		intOpt("coarse-above", "with --ingest-layout auto: a commit whose rows span more (currency, merchant_id) partitions than this is written in the coarse layout", &c.CoarseAbove),
		stringOpt("dlq", "dead-letter sink: topic (--dlq-topic) or table (--dlq-table)", &c.DLQ),
		stringOpt("dlq-table", "dead-letter Iceberg table (default <table>_dlq)", &c.DLQTable),
		durationOpt("compact-every", "background compaction and maintenance interval (0 turns it off)", &c.CompactEvery),
		sizeOpt("target-file-size", "size compacted data files aim at", &c.TargetFileSize),
		durationOpt("keyring-reload-interval", "at most one keyring reload per interval when an unknown key_id arrives (SIGHUP reloads at once)", &c.KeyringReloadInterval),
		stringOpt("instance-id", `static group member id (group.instance.id): a restart with the same id gets its partitions back at once; every process of a group needs its own; "" joins dynamically (default the host name)`, &c.InstanceID),
		durationOpt("session-timeout", "how long the group waits for a silent member before moving its partitions (session.timeout.ms)", &c.SessionTimeout),
	}, append(append(c.Storage.options(), c.Transport.options()...), c.Tables.options()...)...)
}

// load fills the options from a YAML file, the environment and the
// command line, in that order of precedence (flags win). An unknown flag is
// a usageError; bad values are joined into one plain error.
func load(name string, opts []option, args []string, getenv func(string) string, stderr io.Writer) (rest []string, err error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var configPath string
	fs.StringVar(&configPath, "config", "", "YAML config file; keys are the flag names (env FLOE_CONFIG)")
	fs.Usage = func() { printUsage(stderr, name, opts) }
	type setFlag struct {
		opt   option
		value string
	}
	var fromFlags []setFlag
	byName := map[string]option{}
	for _, o := range opts {
		o := o
		byName[o.name] = o
		usage := fmt.Sprintf("%s (env %s, default %q)", o.usage, o.env(), o.get())
		record := func(s string) error {
			fromFlags = append(fromFlags, setFlag{o, s})
			return nil
		}
		if o.isBool {
			fs.BoolFunc(o.name, usage, record)
		} else {
			fs.Func(o.name, usage, record)
		}
	}
	if err := fs.Parse(args); err != nil {
		return nil, usageError{err}
	}
	var errs []error
	if configPath == "" {
		configPath = getenv("FLOE_CONFIG")
	}
	if configPath != "" {
		errs = append(errs, loadYAML(configPath, byName)...)
	}
	for _, o := range opts {
		if v, ok := lookupEnv(getenv, o.env()); ok {
			if err := o.set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s (from %s): %w", "--"+o.name, o.env(), err))
			}
		}
	}
	for _, f := range fromFlags {
		set := f.opt.set
		if f.opt.fromFlag != nil {
			set = f.opt.fromFlag
		}
		if err := set(f.value); err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", f.opt.name, err))
		}
	}
	// Passwords in URL-valued settings (user info) are secrets too.
	for _, o := range opts {
		secrets.AddURL(o.get())
	}
	// Bad values are returned with the remaining arguments so the caller
	// can add its validation's findings and report everything at once.
	return fs.Args(), errors.Join(errs...)
}

func lookupEnv(getenv func(string) string, key string) (string, bool) {
	v := getenv(key)
	return v, v != ""
}

func loadYAML(path string, byName map[string]option) []error {
	data, err := os.ReadFile(path)
	if err != nil {
		return []error{fmt.Errorf("--config: %w", err)}
	}
	var doc map[string]yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return []error{fmt.Errorf("--config %s: %w", path, err)}
	}
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		node := doc[k]
		o, ok := byName[k]
		if !ok {
			errs = append(errs, fmt.Errorf("--config %s: line %d: unknown setting %q", path, node.Line, k))
			continue
		}
		if o.fromYAML != nil {
			if err := o.fromYAML(&node); err != nil {
				errs = append(errs, fmt.Errorf("--%s (from %s line %d): %w", k, path, node.Line, err))
			}
			continue
		}
		if node.Kind != yaml.ScalarNode {
			errs = append(errs, fmt.Errorf("--config %s: line %d: %s must be a single value", path, node.Line, k))
			continue
		}
		if err := o.set(node.Value); err != nil {
			errs = append(errs, fmt.Errorf("--%s (from %s line %d): %w", k, path, node.Line, err))
		}
	}
	return errs
}

// validate reports every problem of a run configuration at once.
func (c *Config) validate() error {
	var errs []error
	req := func(name, v string) {
		if strings.TrimSpace(v) == "" {
			errs = append(errs, fmt.Errorf("--%s is required", name))
		}
	}
	req("brokers", c.Brokers)
	req("registry-url", c.RegistryURL)
	req("topic", c.Topic)
	req("group", c.Group)
	req("keyring", c.Keyring)
	req("catalog", c.Catalog)
	req("warehouse", c.Warehouse)
	req("table", c.Table)
	if c.Keyring != "" {
		if _, err := os.Stat(c.Keyring); err != nil {
			errs = append(errs, fmt.Errorf("--keyring: %w", err))
		}
	}
	if c.RegistryURL != "" {
		errs = append(errs, checkHTTPURL("registry-url", c.RegistryURL))
	}
	if c.Table != "" && !strings.Contains(c.Table, ".") {
		errs = append(errs, fmt.Errorf("--table: want namespace.name, got %q", c.Table))
	}
	if c.Trigger <= 0 {
		errs = append(errs, fmt.Errorf("--trigger: must be positive, got %s", c.Trigger))
	}
	if c.MaxBatchRows <= 0 {
		errs = append(errs, fmt.Errorf("--max-batch-rows: must be positive, got %d", c.MaxBatchRows))
	}
	if c.MaxBatchBytes <= 0 {
		errs = append(errs, fmt.Errorf("--max-batch-bytes: must be positive, got %d", c.MaxBatchBytes))
	}
	if c.StartFrom != "earliest" && c.StartFrom != "latest" {
		errs = append(errs, fmt.Errorf("--start-from: want earliest or latest, got %q", c.StartFrom))
	}
	if c.OnIncompatible != "dlq" && c.OnIncompatible != "fail" {
		errs = append(errs, fmt.Errorf("--on-incompatible-schema: want dlq or fail, got %q", c.OnIncompatible))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level: want debug, info, warn or error, got %q", c.LogLevel))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format: want text or json, got %q", c.LogFormat))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--shutdown-timeout: must be positive, got %s", c.ShutdownTimeout))
	}
	if c.OutageTimeout < 0 {
		errs = append(errs, fmt.Errorf("--outage-timeout: must not be negative, got %s", c.OutageTimeout))
	}
	errs = append(errs, c.Transport.validate())
	if c.MaxRecordBytes <= 0 {
		errs = append(errs, fmt.Errorf("--max-record-bytes: must be positive, got %d", c.MaxRecordBytes))
	}
	if c.MemoryLimit < 0 {
		errs = append(errs, fmt.Errorf("--memory-limit: must not be negative, got %d", c.MemoryLimit))
	}
	if c.MaxBufferBytes <= 0 {
		errs = append(errs, fmt.Errorf("--max-buffer-bytes: must be positive, got %d", c.MaxBufferBytes))
	}
	if c.MaxBatchPartitions <= 0 {
		errs = append(errs, fmt.Errorf("--max-batch-partitions: must be positive, got %d", c.MaxBatchPartitions))
	}
	if c.ParquetWriter != "lean" && c.ParquetWriter != "iceberg-go" {
		errs = append(errs, fmt.Errorf("--parquet-writer: want lean or iceberg-go, got %q", c.ParquetWriter))
	}
	if c.IngestLayout != iceberg.LayoutPartitioned && c.IngestLayout != iceberg.LayoutCoarse && c.IngestLayout != iceberg.LayoutAuto {
		errs = append(errs, fmt.Errorf("--ingest-layout: want partitioned, coarse or auto, got %q", c.IngestLayout))
	}
	if c.CoarseFileRows <= 0 {
		errs = append(errs, fmt.Errorf("--coarse-file-rows: must be positive, got %d", c.CoarseFileRows))
	}
	if c.CoarseAbove <= 0 {
		errs = append(errs, fmt.Errorf("--coarse-above: must be positive, got %d", c.CoarseAbove))
	}
	if c.OnError != "dlq" && c.OnError != "fail" {
		errs = append(errs, fmt.Errorf("--on-error: want dlq or fail, got %q", c.OnError))
	}
	if c.DLQ != "topic" && c.DLQ != "table" {
		errs = append(errs, fmt.Errorf("--dlq: want topic or table, got %q", c.DLQ))
	}
	if c.CompactEvery < 0 {
		errs = append(errs, fmt.Errorf("--compact-every: must not be negative, got %s", c.CompactEvery))
	}
	if c.TargetFileSize <= 0 {
		errs = append(errs, fmt.Errorf("--target-file-size: must be positive, got %d", c.TargetFileSize))
	}
	if c.KeyringReloadInterval <= 0 {
		errs = append(errs, fmt.Errorf("--keyring-reload-interval: must be positive, got %s", c.KeyringReloadInterval))
	}
	if c.SessionTimeout < time.Second {
		errs = append(errs, fmt.Errorf("--session-timeout: must be at least 1s, got %s", c.SessionTimeout))
	}
	errs = append(errs, c.Storage.validate(), c.Tables.validate())
	if c.DLQTopic == "" && c.Topic != "" {
		c.DLQTopic = c.Topic + ".dlq"
	}
	if c.DLQTopic != "" && c.DLQTopic == c.Topic {
		errs = append(errs, fmt.Errorf("--dlq-topic: must differ from --topic"))
	}
	return errors.Join(errs...)
}

// usageError marks bad usage: exit code 2.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// checkHTTPURL checks that v is an absolute http(s) URL. Its errors show
// the URL with the password of any user info redacted, and never the URL
// parser's own error (it quotes the whole URL).
func checkHTTPURL(name, v string) error {
	shown := redact.URL(v)
	if !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
		return fmt.Errorf("--%s: must start with http:// or https://, got %q", name, shown)
	}
	u, err := url.Parse(v)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("--%s: %q is not a URL: %s", name, shown, redact.URL(err.Error()))
	}
	if u.Host == "" {
		return fmt.Errorf("--%s: %q has no host", name, shown)
	}
	return nil
}

// ingestLayout is the --ingest-layout a process uses: auto means
// partitioned where no compactor runs in it (compacting false: --compact-every
// 0, floe backfill), since only the compactor moves coarse files into the
// table's partition spec.
func ingestLayout(c *Config, compacting bool) string {
	if c.IngestLayout == iceberg.LayoutAuto && !compacting {
		return iceberg.LayoutPartitioned
	}
	return c.IngestLayout
}
