package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/floe-io/floe/iceberg"
)

func envFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "floe.yaml")
	yaml := "brokers: file:9092\ntrigger: 5s\nmax-batch-rows: 10\ngroup: from-file\nmax-batch-bytes: 2MiB\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	env := envFrom(map[string]string{"FLOE_TRIGGER": "3s", "FLOE_GROUP": "from-env", "FLOE_TOPIC": "t-env"})
	_, err := load("floe run", cfg.runOptions(), []string{"--config", file, "--group", "from-flag"}, env, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Brokers != "file:9092" {
		t.Errorf("brokers = %q, want the file's value", cfg.Brokers)
	}
	if cfg.Trigger != 3*time.Second {
		t.Errorf("trigger = %s, want env (3s) over file (5s)", cfg.Trigger)
	}
	if cfg.Group != "from-flag" {
		t.Errorf("group = %q, want the flag's value over env and file", cfg.Group)
	}
	if cfg.Topic != "t-env" || cfg.MaxBatchRows != 10 || cfg.MaxBatchBytes != 2<<20 {
		t.Errorf("topic %q rows %d bytes %d", cfg.Topic, cfg.MaxBatchRows, cfg.MaxBatchBytes)
	}
	if cfg.Catalog != "sqlite://floe-data/catalog.db" {
		t.Errorf("catalog default lost: %q", cfg.Catalog)
	}
}

func TestConfigReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "floe.yaml")
	if err := os.WriteFile(file, []byte("trigger: soon\nbogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	_, err := load("floe run", cfg.runOptions(), []string{"--config", file, "--max-batch-rows", "many"}, envFrom(map[string]string{"FLOE_MAX_BATCH_BYTES": "lots"}), &bytes.Buffer{})
	if err == nil {
		t.Fatal("bad values accepted")
	}
	for _, want := range []string{"--trigger", `unknown setting "bogus"`, "--max-batch-rows", "FLOE_MAX_BATCH_BYTES"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}

	cfg = defaultConfig()
	cfg.StartFrom, cfg.Trigger, cfg.RegistryURL, cfg.Table = "middle", 0, "localhost:8081", "nodot"
	cfg.ParquetWriter = "arrow"
	cfg.IngestLayout, cfg.CoarseAbove = "fancy", 0
	err = cfg.validate()
	for _, want := range []string{"--brokers is required", "--keyring is required", "--start-from", "--trigger", "--registry-url", "--table", "--parquet-writer", "--ingest-layout: want partitioned, coarse or auto", "--coarse-above"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validation does not report %s:\n%v", want, err)
		}
	}
}

// TestIngestLayoutDefault checks the default layout is auto, and that auto
// is written partitioned by a process without a compactor.
func TestIngestLayoutDefault(t *testing.T) {
	cfg := defaultConfig()
	if cfg.IngestLayout != iceberg.LayoutAuto || cfg.CoarseAbove != iceberg.DefaultCoarseAbove {
		t.Fatalf("default --ingest-layout %q, --coarse-above %d", cfg.IngestLayout, cfg.CoarseAbove)
	}
	for _, c := range []struct {
		layout     string
		compacting bool
		want       string
	}{
		{iceberg.LayoutAuto, true, iceberg.LayoutAuto},
		{iceberg.LayoutAuto, false, iceberg.LayoutPartitioned},
		{iceberg.LayoutCoarse, false, iceberg.LayoutCoarse},
		{iceberg.LayoutPartitioned, true, iceberg.LayoutPartitioned},
	} {
		cfg.IngestLayout = c.layout
		if got := ingestLayout(&cfg, c.compacting); got != c.want {
			t.Errorf("ingestLayout(%s, compacting %v) = %s, want %s", c.layout, c.compacting, got, c.want)
		}
	}
}

func TestRunBadUsageExitsTwo(t *testing.T) {
	var out, errb bytes.Buffer
	code := realMain([]string{"run", "--trigger", "x"}, envFrom(nil), &out, &errb)
	if code != 2 {
		t.Fatalf("exit %d, want 2; stderr:\n%s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "--trigger") || !strings.Contains(errb.String(), "--brokers is required") {
		t.Errorf("stderr does not name the options:\n%s", errb.String())
	}
	if code := realMain([]string{"nonsense"}, envFrom(nil), &out, &errb); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"128MiB": 128 << 20, "1GB": 1e9, "42": 42, "4K": 4096} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseSize("-1"); err == nil {
		t.Error("negative size accepted")
	}
}
