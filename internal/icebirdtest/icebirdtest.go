// Package icebirdtest runs icebird, an Iceberg reader in JavaScript that
// shares no code with iceberg-go (its own metadata JSON, Avro manifest and
// Parquet readers, the last through hyparquet), over floe's tables for
// tests. Every location is resolved literally (testdata/icebird/read.mjs),
// as Spark, Trino and Java Iceberg resolve it. .ci/run installs icebird
// (npm ci --prefix testdata/icebird); without it Read fails the test under
// CI and skips it elsewhere.
package icebirdtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math/big"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/apache/iceberg-go/table"
)

// Table is one table to read.
type Table struct {
	TableURL     string `json:"table_url"`
	MetadataFile string `json:"metadata_file"`
	S3Endpoint   string `json:"s3_endpoint,omitempty"`
}

// Of is tbl at its current metadata; s3Endpoint is the S3 server's base
// URL for an s3:// table, else "".
func Of(tbl *table.Table, s3Endpoint string) Table {
	return Table{TableURL: tbl.Location(), MetadataFile: path.Base(tbl.MetadataLocation()), S3Endpoint: s3Endpoint}
}

// Result is what icebird read of one table: the rows of its current
// snapshot and the live data files of its manifests.
type Result struct {
	Table string           `json:"table"`
	Rows  []map[string]any `json:"rows"`
	Files []struct {
		Path        string         `json:"path"`
		Partition   map[string]any `json:"partition"`
		RecordCount string         `json:"record_count"`
	} `json:"files"`
}

// Cents is a decimal(…,2) value as icebird returns it (a JSON number) in
// hundredths, exactly (no float rounding).
func Cents(v any) (int64, bool) {
	f, ok := v.(float64)
	if !ok {
		return 0, false
	}
	r, _ := new(big.Float).Mul(big.NewFloat(f), big.NewFloat(100)).Float64()
	if r < 0 {
		return int64(r - 0.5), true
	}
	return int64(r + 0.5), true
}

// Read reads tables with icebird.
func Read(t testing.TB, tables ...Table) []Result {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(self), "..", "..", "testdata", "icebird")
	node, err := exec.LookPath("node")
	if _, serr := os.Stat(filepath.Join(dir, "node_modules", "icebird")); err != nil || serr != nil {
		msg := "node or icebird missing: run npm ci --prefix testdata/icebird"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	arg, err := json.Marshal(tables)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join(dir, "read.mjs"), string(arg))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("icebird: %v\n%s", err, stderr.String())
	}
	var res []Result
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 256<<20)
	for sc.Scan() {
		var r Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		res = append(res, r)
	}
	if len(res) != len(tables) {
		t.Fatalf("icebird read %d tables of %d\n%s", len(res), len(tables), stderr.String())
	}
	return res
}
