package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// helpGroups orders the options of `floe run` (and backfill, compact) by
// what they configure. An option not named here is placed by its prefix
// (see groupOf), else under "Other".
var helpGroups = []struct {
	title string
	names []string
}{
	{"Kafka", []string{"brokers", "topic", "group", "instance-id", "session-timeout", "start-from", "kafka-config"}},
	{"Schema Registry", []string{"registry-url"}},
	{"Keys", []string{"keyring", "keyring-reload-interval"}},
	{"Table and catalog", []string{"catalog", "warehouse", "table", "auto-create", "table-property", "parquet-writer", "ingest-layout", "coarse-file-rows", "coarse-above"}},
	{"Object storage (S3)", nil},
	{"Commits and limits", []string{"trigger", "max-batch-rows", "max-batch-bytes", "max-batch-partitions",
		"max-buffer-bytes", "max-record-bytes", "memory-limit", "shutdown-timeout", "outage-timeout",
		"commit-mode", "control-topic"}},
	{"Errors and dead letters", []string{"on-error", "on-incompatible-schema", "dlq", "dlq-topic", "dlq-table"}},
	{"Compaction and maintenance", []string{"compact-every", "target-file-size", "expire-keep-last", "expire-older-than", "orphan-older-than", "orphans-every"}},
	{"Backfill range", []string{"from", "to"}},
	{"Mode", []string{"dry-run", "progress"}},
	{"Observability", []string{"http", "log-level", "log-format", "cpuprofile"}},
	{"Other", nil},
}

// groupOf names the help group of an option.
func groupOf(name string) string {
	for _, g := range helpGroups {
		for _, n := range g.names {
			if n == name {
				return g.title
			}
		}
	}
	for _, p := range []struct{ prefix, group string }{
		{"kafka-", "Kafka"}, {"registry-", "Schema Registry"}, {"s3-", "Object storage (S3)"},
		{"catalog-", "Table and catalog"}, {"table-", "Table and catalog"}, {"dlq-", "Errors and dead letters"},
		{"compact", "Compaction and maintenance"}, {"expire-", "Compaction and maintenance"},
		{"orphan-", "Compaction and maintenance"}, {"log-", "Observability"}, {"metrics", "Observability"},
	} {
		if strings.HasPrefix(name, p.prefix) {
			return p.group
		}
	}
	return "Other"
}

// printUsage writes the grouped help of a command that takes opts.
func printUsage(w io.Writer, name string, opts []option) {
	fmt.Fprintf(w, "Usage: %s [flags]\n\n", name)
	fmt.Fprint(w, `Every setting is a flag, an environment variable FLOE_<NAME> (--max-batch-rows:
FLOE_MAX_BATCH_ROWS) and a key of the YAML config file (max-batch-rows: 1000). The file
is --config or, without it, FLOE_CONFIG. Later sources win: defaults, the file, the
environment, flags. Secrets are never flags: each has a *-file option or an environment
variable (see the option).
`)
	byGroup := map[string][]option{}
	for _, o := range opts {
		g := groupOf(o.name)
		byGroup[g] = append(byGroup[g], o)
	}
	for _, g := range helpGroups {
		list := byGroup[g.title]
		if len(list) == 0 {
			continue
		}
		// Listed names first, in their order; the rest as defined.
		ordered := make([]option, 0, len(list))
		for _, n := range g.names {
			for _, o := range list {
				if o.name == n {
					ordered = append(ordered, o)
				}
			}
		}
		for _, o := range list {
			listed := false
			for _, n := range g.names {
				listed = listed || n == o.name
			}
			if !listed {
				ordered = append(ordered, o)
			}
		}
		fmt.Fprintf(w, "\n%s:\n", g.title)
		for _, o := range ordered {
			printOption(w, o)
		}
	}
	fmt.Fprint(w, "\nConfig file:\n  --config file\n        YAML config file; keys are the flag names (env FLOE_CONFIG)\n")
}

func printOption(w io.Writer, o option) {
	head := "  --" + o.name
	if !o.isBool {
		kind := o.kind
		if kind == "" {
			kind = "value"
		}
		head += " " + kind
	}
	fmt.Fprintln(w, head)
	tail := "env " + o.env()
	if def := o.get(); def != "" && def != "false" && def != "0" && def != "0s" {
		tail = fmt.Sprintf("default %q; %s", def, tail)
	}
	fmt.Fprintf(w, "        %s (%s)\n", o.usage, tail)
}

// version and commit are set at build time with -ldflags "-X
// main.version=v1.2.3 -X main.commit=abc123" (the image does: its build
// context has no .git); otherwise they come from the build information.
var version, commit string

// versionText describes the build: floe's version and commit, the Go
// toolchain and the librdkafka linked in.
func versionText() string {
	v, rev, modified, when := version, commit, false, ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if rev == "" {
					rev = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			case "vcs.time":
				when = s.Value
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	if rev == "" {
		rev = "unknown"
	}
	if modified {
		rev += " (modified)"
	}
	if when != "" {
		rev += " " + when
	}
	_, rdk := kafka.LibraryVersion()
	return fmt.Sprintf("floe %s\ncommit %s\n%s %s/%s\nlibrdkafka %s\n", v, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH, rdk)
}
