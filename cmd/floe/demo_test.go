package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// TestDemoTwice runs `floe demo` twice on one data directory, as a user
// would from a clean clone: both runs succeed and the second adds its own
// events to the same table.
func TestDemoTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker, a registry and a catalog")
	}
	dir := t.TempDir()
	totals := []int{}
	for run := 1; run <= 2; run++ {
		var out, errb bytes.Buffer
		code := realMain([]string{"demo", "-data-dir", dir, "-events", "3000", "-trigger", "200ms"}, envFrom(nil), &out, &errb)
		if code != 0 {
			t.Fatalf("run %d: exit %d\nstdout:\n%s\nstderr:\n%s", run, code, out.String(), errb.String())
		}
		m := regexp.MustCompile(`ingested (\d+) rows`).FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("run %d: no ingest line:\n%s", run, out.String())
		}
		ingested, _ := strconv.Atoi(m[1])
		if ingested != 3000-60 { // 2% invalid on purpose
			t.Errorf("run %d: ingested %d rows, want 2940", run, ingested)
		}
		m = regexp.MustCompile(`(\d+) rows in total`).FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("run %d: no table total:\n%s", run, out.String())
		}
		n, _ := strconv.Atoi(m[1])
		totals = append(totals, n)
		if !regexp.MustCompile(`(?m)^\s+USD\s+\d+\s+\d+\.\d\d$`).MatchString(out.String()) {
			t.Errorf("run %d: no per-currency line with a summed amount:\n%s", run, out.String())
		}
	}
	if totals[0] != 2940 || totals[1] != 2*2940 {
		t.Errorf("table totals after each run = %v, want [2940 5880]", totals)
	}
	if _, err := os.Stat(filepath.Join(dir, "catalog.db")); err != nil {
		t.Errorf("catalog not under the data dir: %v", err)
	}
	// The demo's keyring is generated in memory and never stored.
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && regexp.MustCompile(`(?i)key`).MatchString(d.Name()) {
			t.Errorf("key material file written: %s", path)
		}
		return nil
	})
}
