package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/apache/iceberg-go/table"

	"github.com/floe-io/floe/catalog"
	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/internal/bench"
)

// TestBenchQuick runs the real binary's `floe bench` on the embedded
// default (each run's ingest in a child process) and checks its outputs.
func TestBenchQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the floe binary")
	}
	bin := floeBinary(t)
	out := t.TempDir()
	data := t.TempDir()
	cmd := exec.Command(bin, "bench", "--events", "20000", "--triggers", "200ms,1s",
		"--merchants", "40", "--partitions", "4", "--out", out, "--data-dir", data, "--log-level", "info")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("floe bench: %v\nstderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "| trigger |") || strings.Count(stdout.String(), "| max |") != 2 {
		t.Errorf("stdout has no two-row Markdown table:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "ingested 20000/20000 rows") {
		t.Errorf("no final progress line on stderr:\n%s", stderr.String())
	}
	if strings.Contains(stderr.String(), "\r") {
		t.Error("carriage returns in progress written to a pipe (only a terminal gets them)")
	}
	// --log-level info: the children's pipelines log each commit.
	if !regexp.MustCompile(`msg=commit .*write_ms=\d+`).MatchString(stderr.String()) {
		t.Errorf("no commit log line with write_ms on stderr:\n%s", stderr.String())
	}

	// A --data-dir given is kept: each run's catalog and warehouse.
	runs, _ := filepath.Glob(filepath.Join(data, "run-*"))
	if len(runs) != 2 {
		t.Errorf("%d run directories kept in --data-dir, want 2", len(runs))
	}
	for _, r := range runs {
		if files, _ := filepath.Glob(filepath.Join(r, "warehouse", "*", "*", "data", "*", "*", "*.parquet")); len(files) == 0 {
			t.Errorf("%s: no data files kept", r)
		}
		if _, err := os.Stat(filepath.Join(r, "catalog.db")); err != nil {
			t.Errorf("%s: %v", r, err)
		}
	}

	js, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rs []bench.Result
	if err := json.Unmarshal(js, &rs); err != nil {
		t.Fatal(err)
	}
	// The promised fields, by their JSON names.
	var raw []map[string]any
	if err := json.Unmarshal(js, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"trigger", "events", "events_per_s", "mb_per_s", "latency_p50_ms", "latency_p95_ms",
		"latency_p99_ms", "commits", "data_files", "avg_file_bytes", "cpu_s_per_million", "peak_rss_bytes"} {
		if _, ok := raw[0][k]; !ok {
			t.Errorf("results.json lacks %q", k)
		}
	}
	if len(rs) != 2 || rs[0].Trigger != "200ms" || rs[1].Trigger != "1s" {
		t.Fatalf("results: %+v", rs)
	}
	for _, r := range rs {
		switch {
		case r.Events != 20000:
			t.Errorf("%s: %d events", r.Trigger, r.Events)
		case r.EventsPS <= 0 || r.MBPS <= 0:
			t.Errorf("%s: throughput %v ev/s %v MB/s", r.Trigger, r.EventsPS, r.MBPS)
		case !(0 < r.LatencyP50Ms && r.LatencyP50Ms <= r.LatencyP95Ms && r.LatencyP95Ms <= r.LatencyP99Ms):
			t.Errorf("%s: latency p50 %v p95 %v p99 %v", r.Trigger, r.LatencyP50Ms, r.LatencyP95Ms, r.LatencyP99Ms)
		case r.Commits < 1 || r.DataFiles < r.Commits || r.AvgFileBytes <= 0:
			t.Errorf("%s: commits %d files %d avg %v", r.Trigger, r.Commits, r.DataFiles, r.AvgFileBytes)
		case r.CPUSPerMillion <= 0 || r.PeakRSSBytes < 1<<20 || !r.Isolated:
			t.Errorf("%s: cpu %v s/M, rss %d, isolated %v", r.Trigger, r.CPUSPerMillion, r.PeakRSSBytes, r.Isolated)
		case r.MetadataBytes <= 0:
			t.Errorf("%s: metadata growth %d", r.Trigger, r.MetadataBytes)
		case !(0 < r.WriteP50Ms && r.WriteP50Ms <= r.CommitP50Ms) || r.StalledS < 0:
			t.Errorf("%s: write p50 %v ms of commit p50 %v ms, stalled %v s", r.Trigger, r.WriteP50Ms, r.CommitP50Ms, r.StalledS)
		}
	}

	f, err := os.Open(filepath.Join(out, "results.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0][0] != "trigger" || rows[2][0] != "1s" {
		t.Errorf("results.csv: %v", rows)
	}

	img, err := os.Open(filepath.Join(out, "chart.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	cfg, err := png.DecodeConfig(img)
	if err != nil || cfg.Width < 200 || cfg.Height < 200 {
		t.Errorf("chart.png: %v, %dx%d", err, cfg.Width, cfg.Height)
	}
}

// TestBenchUsage: bad options are refused before anything runs, exit 2.
func TestBenchUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"--parquet-writer", "x"}, "--parquet-writer"},
		{[]string{"--triggers", "1s,soon"}, "--triggers"},
	} {
		var out, errb bytes.Buffer
		code := realMain(append([]string{"bench", "--data-dir", t.TempDir()}, c.args...), envFrom(nil), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("floe bench %v: exit %d, stderr %q; want 2 naming %s", c.args, code, errb.String(), c.want)
		}
	}
}

// TestBenchHelpHidesInternalFlags: --help lists the options a user sets,
// not the flags the parent passes to a run's child process.
func TestBenchHelpHidesInternalFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	_ = cmdBench(t.Context(), []string{"--help"}, func(string) string { return "" }, &stdout, &stderr)
	help := stderr.String()
	for _, f := range []string{"-events", "-triggers", "-rate", "-parquet-writer"} {
		if !strings.Contains(help, "  "+f+" ") {
			t.Errorf("--help does not show %s:\n%s", f, help)
		}
	}
	for _, f := range []string{"-single", "-topic", "-keyring", "-table", "-trigger", "-label"} {
		if regexp.MustCompile(`(?m)^\s+` + f + `\b(\s|$)`).MatchString(help) {
			t.Errorf("--help shows internal flag %s:\n%s", f, help)
		}
	}
}

// TestSoakDefaultLayout runs a short soak of `floe run` in its default
// layout (auto, here with --coarse-above 20 so that the soak's commits of
// ~90 partitions are written coarse) with compaction every 5 s during the
// load: commits were written in the coarse spec, every event is read back
// exactly once with equal values (nothing lost, nothing doubled while the
// compactor moves rows from the coarse spec to the default one), no
// coarse-spec file is left after the settle time, and there is at most 1.5
// files per partition.
func TestSoakDefaultLayout(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the floe binary")
	}
	bin := floeBinary(t)
	out, data := t.TempDir(), t.TempDir()
	cmd := exec.Command(bin, "bench", "--soak", "--rate", "2000", "--duration", "20s", "--merchants", "40",
		"--partitions", "4", "--soak-trigger", "500ms", "--compact-every", "5s", "--settle", "15s",
		"--run-args", "--coarse-file-rows 50 --coarse-above 20", "--data-dir", data, "--out", out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("floe bench --soak: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	raw, err := os.ReadFile(filepath.Join(out, "soak.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Args    []string `json:"child_args"`
		Summary struct {
			FilesPerPartition float64 `json:"files_per_partition"`
			OtherSpec         int64   `json:"final_other_spec_files"`
			Runs              int64   `json:"compaction_runs_completed"`
			Rewritten         int64   `json:"files_rewritten"`
		} `json:"summary"`
		Check *struct {
			OK         bool  `json:"ok"`
			Rows       int64 `json:"rows"`
			Missing    int64 `json:"missing"`
			Duplicated int64 `json:"duplicated"`
		} `json:"check"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(res.Args, "auto") || !slices.Contains(res.Args, "--coarse-above") {
		t.Errorf("the child was not given the default layout and the threshold: %v", res.Args)
	}
	// Compaction has moved the coarse files, but the snapshots that added
	// them are still retained: their manifests are of the coarse spec.
	ctx := t.Context()
	cat, err := catalog.Open(ctx, "sqlite://"+filepath.Join(data, "catalog.db"), "file://"+filepath.Join(data, "warehouse"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := cat.LoadTable(ctx, []string{"soak", "transactions"})
	if err != nil {
		t.Fatal(err)
	}
	coarseManifests := coarseAppends(t, tbl)
	if coarseManifests == 0 {
		t.Error("no append snapshot wrote a manifest of the coarse spec: the default layout did not write coarse")
	}
	if res.Check == nil || !res.Check.OK || res.Check.Rows == 0 {
		t.Errorf("rows check: %+v\n%s", res.Check, stdout.String())
	}
	s := res.Summary
	if s.Runs < 2 || s.Rewritten == 0 || s.OtherSpec != 0 || s.FilesPerPartition > 1.5 {
		t.Errorf("after the soak: %d runs, %d files rewritten, %d coarse files left, %.2f files per partition; want >= 2 runs, 0 coarse files, <= 1.5 per partition\n%s",
			s.Runs, s.Rewritten, s.OtherSpec, s.FilesPerPartition, stdout.String())
	}
}

// coarseAppends counts the manifests of the coarse spec that retained
// append snapshots wrote: how many commits were written coarse.
func coarseAppends(t *testing.T, tbl *table.Table) int {
	t.Helper()
	coarse, ok := iceberg.CoarseSpec(tbl.Metadata())
	if !ok {
		t.Fatal("the table has no coarse spec")
	}
	fsys, err := tbl.FS(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, snap := range tbl.Metadata().Snapshots() {
		if snap.Summary == nil || snap.Summary.Operation != "append" {
			continue
		}
		mfs, err := snap.Manifests(fsys)
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.SnapshotID() == snap.SnapshotID && int(mf.PartitionSpecID()) == coarse.ID() {
				n++
			}
		}
	}
	return n
}
