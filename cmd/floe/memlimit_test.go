package main

import (
	"io"
	"log/slog"
	"runtime/debug"
	"testing"
)

func TestApplyMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	gcBefore := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetMemoryLimit(before); debug.SetGCPercent(gcBefore) })
	gcPercent := func() int { p := debug.SetGCPercent(100); debug.SetGCPercent(p); return p }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	if got := applyMemoryLimit(512<<20, env(nil), log); got != 512<<20 || debug.SetMemoryLimit(-1) != 512<<20 {
		t.Errorf("--memory-limit 512MiB: applied %d, runtime has %d", got, debug.SetMemoryLimit(-1))
	}
	if p := gcPercent(); p != gcPercentUnderLimit {
		t.Errorf("under a limit: GC percent %d, want %d", p, gcPercentUnderLimit)
	}
	debug.SetGCPercent(100)
	if got := applyMemoryLimit(0, env(nil), log); got != 1<<63-1 || debug.SetMemoryLimit(-1) != 1<<63-1 {
		t.Errorf("--memory-limit 0: applied %d, runtime has %d, want no limit", got, debug.SetMemoryLimit(-1))
	}
	if p := gcPercent(); p != 100 {
		t.Errorf("without a limit: GC percent %d, want Go's 100", p)
	}
	// GOGC in the environment wins.
	if applyMemoryLimit(512<<20, env(map[string]string{"GOGC": "100"}), log); gcPercent() != 100 {
		t.Errorf("with GOGC set: GC percent %d, want the environment's 100", gcPercent())
	}
	// GOMEMLIMIT in the environment: the runtime applied it at start; the
	// option must leave it alone.
	debug.SetMemoryLimit(300 << 20)
	if got := applyMemoryLimit(512<<20, env(map[string]string{"GOMEMLIMIT": "300MiB"}), log); got != 300<<20 || debug.SetMemoryLimit(-1) != 300<<20 {
		t.Errorf("with GOMEMLIMIT: applied %d, runtime has %d, want 300 MiB kept", got, debug.SetMemoryLimit(-1))
	}
}

func TestMemoryLimitOption(t *testing.T) {
	cfg := defaultConfig()
	if cfg.MemoryLimit != defaultMemoryLimit {
		t.Fatalf("default %d, want %d", cfg.MemoryLimit, defaultMemoryLimit)
	}
	if _, err := load("floe run", cfg.runOptions(), []string{"--memory-limit", "1GiB"}, func(string) string { return "" }, io.Discard); err != nil {
		t.Fatal(err)
	}
	if cfg.MemoryLimit != 1<<30 {
		t.Errorf("--memory-limit 1GiB: %d", cfg.MemoryLimit)
	}
	cfg.MemoryLimit = -1
	if err := cfg.validate(); err == nil {
		t.Error("a negative --memory-limit validated")
	}
}
