// Command floe lands encrypted payment events from Kafka in Apache Iceberg
// tables. It only wires the packages together: see ingest, schema, keys,
// iceberg and catalog for how each stage works.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `floe lands encrypted payment events from Kafka in Apache Iceberg tables.

Usage:
  floe demo [flags]   run the whole pipeline on an in-process broker, registry and SQLite catalog
  floe run  [flags]   the long-running ingestion job against real servers
  floe backfill [flags]  a one-shot run over an offset or time range, then a summary
  floe produce [flags] generate encrypted contract events into any Kafka and Schema Registry
  floe compact [flags] compact small files, expire snapshots, remove orphans (--dry-run: plan only)
  floe doctor [flags]  check every file is where the table metadata says (--repair: move old-layout files there)
  floe bench [flags]   the trigger-interval benchmark: throughput, latency, files, CPU, RSS per trigger
  floe version        version, commit, Go and librdkafka versions (also --version)
  floe help           this text

Run "floe COMMAND -h" for the flags of a command. Settings also come from FLOE_<NAME>
environment variables and from a YAML file (--config or FLOE_CONFIG).
Exit codes: 0 done, 1 failed, 2 bad usage.
`

func main() {
	os.Exit(realMain(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func realMain(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	// Whatever floe writes passes the secrets it was given: a secret that
	// reaches a message by a path the rules miss is replaced there.
	stdout, stderr = secrets.Writer(stdout), secrets.Writer(stderr)
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var err error
	switch args[0] {
	case "run":
		err = cmdRun(ctx, args[1:], getenv, stdout, stderr)
	case "backfill":
		err = cmdBackfill(ctx, args[1:], getenv, stdout, stderr)
	case "produce":
		err = cmdProduce(ctx, args[1:], getenv, stdout, stderr)
	case "compact":
		err = cmdCompact(ctx, args[1:], getenv, stdout, stderr)
	case "demo":
		err = cmdDemo(ctx, args[1:], getenv, stdout, stderr)
	case "doctor":
		err = cmdDoctor(ctx, args[1:], getenv, stdout, stderr)
	case "bench":
		err = cmdBench(ctx, args[1:], getenv, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprint(stdout, versionText())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "floe: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "floe %s: bad usage:\n%s\n", args[0], indent(err.Error()))
		return 2
	default:
		fmt.Fprintf(stderr, "floe %s: %s\n", args[0], err)
		return 1
	}
}

func indent(s string) string {
	out := "  "
	for _, r := range s {
		out += string(r)
		if r == '\n' {
			out += "  "
		}
	}
	return out
}
