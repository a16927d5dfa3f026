package main

import (
	"log/slog"
	"runtime/debug"
)

// defaultMemoryLimit is --memory-limit's default: the soft limit that keeps
// a sidecar's resident memory under about 1 GiB (the Go heap, plus
// librdkafka's queues and the runtime outside the limit) while compaction
// works off a large backlog, measured in BENCHMARKS.md.
const defaultMemoryLimit = 768 << 20

// applyMemoryLimit sets the Go runtime's soft memory limit to limit bytes
// (0: none), unless GOMEMLIMIT is set in the environment, which the runtime
// has applied already and which wins. It returns the limit in force
// (math.MaxInt64 for none).
func applyMemoryLimit(limit int64, getenv func(string) string, log *slog.Logger) int64 {
	if v := getenv("GOMEMLIMIT"); v != "" {
		in := debug.SetMemoryLimit(-1)
		log.Debug("memory limit from GOMEMLIMIT", "limit_bytes", in)
		return in
	}
	if limit == 0 {
		limit = 1<<63 - 1
	}
	debug.SetMemoryLimit(limit)
	return limit
}
