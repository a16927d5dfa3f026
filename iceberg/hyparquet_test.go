package iceberg_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// TestLeanFilesReadByHyparquet reads the lean writer's files with
// hyparquet, a JavaScript Parquet implementation that shares no code with
// arrow-go, and compares every value with the rows written. .ci/run
// installs it (npm ci --prefix iceberg/testdata/hyparquet); without it the
// test fails under CI and is skipped elsewhere.
func TestLeanFilesReadByHyparquet(t *testing.T) {
	dir, err := filepath.Abs("testdata/hyparquet")
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if _, serr := os.Stat(filepath.Join(dir, "node_modules", "hyparquet")); err != nil || serr != nil {
		msg := "node or hyparquet missing: run npm ci --prefix iceberg/testdata/hyparquet"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}

	w := wideTable(t, nil)
	rec := wideRecord(t, w.ArrowSchema(), 2000, 5)
	want := renderRows(t, rec)
	rec.Retain() // Commit releases it; renderRows is done.
	commitRecord(t, w, rec)
	rec.Release()

	var paths []string
	for _, df := range dataFiles(t, w.Table()) {
		paths = append(paths, literalPath(t, df.FilePath()))
	}
	cmd := exec.Command(node, append([]string{filepath.Join(dir, "read.mjs")}, paths...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hyparquet: %v\n%s", err, stderr.String())
	}
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var f struct {
			File      string           `json:"file"`
			NumRows   int              `json:"num_rows"`
			CreatedBy string           `json:"created_by"`
			Rows      []map[string]any `json:"rows"`
		}
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			t.Fatal(err)
		}
		if f.NumRows != len(f.Rows) {
			t.Fatalf("%s: footer says %d rows, read %d", f.File, f.NumRows, len(f.Rows))
		}
		for _, got := range f.Rows {
			id, _ := got["transaction_id"].(string)
			exp, ok := want[id]
			if !ok {
				t.Fatalf("%s: row %q was not written", f.File, id)
			}
			for col, ev := range exp {
				if !sameValue(ev, got[col]) {
					t.Fatalf("%s: row %s column %s: hyparquet read %#v, wrote %#v", f.File, id, col, got[col], ev)
				}
			}
			delete(want, id)
			seen++
		}
	}
	if len(want) != 0 || seen != 2000 {
		t.Fatalf("hyparquet read %d rows; %d written rows not found", seen, len(want))
	}
}

// expected values, as hyparquet renders them after read.mjs.
type (
	approxFloat float64   // decimals: hyparquet returns a float64
	approxTime  time.Time // timestamps and dates: a JS Date, millisecond precision
)

func renderRows(t *testing.T, rec arrow.RecordBatch) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for i := range int(rec.NumRows()) {
		row := map[string]any{}
		for c, f := range rec.Schema().Fields() {
			col := rec.Column(c)
			if col.IsNull(i) {
				row[f.Name] = nil
				continue
			}
			switch a := col.(type) {
			case *array.String:
				row[f.Name] = a.Value(i)
			case *array.Binary:
				row[f.Name] = hex.EncodeToString(a.Value(i))
			case *array.Boolean:
				row[f.Name] = a.Value(i)
			case *array.Int32:
				row[f.Name] = float64(a.Value(i))
			case *array.Int64:
				row[f.Name] = strconv.FormatInt(a.Value(i), 10)
			case *array.Date32:
				row[f.Name] = approxTime(time.Unix(int64(a.Value(i))*86400, 0).UTC())
			case *array.Timestamp:
				row[f.Name] = approxTime(time.UnixMicro(int64(a.Value(i))).UTC())
			case *array.Decimal128:
				scale := f.Type.(*arrow.Decimal128Type).Scale
				row[f.Name] = approxFloat(a.Value(i).ToFloat64(scale))
			default:
				t.Fatalf("column %s: %T", f.Name, col)
			}
		}
		out[row["transaction_id"].(string)] = row
	}
	return out
}

func sameValue(want, got any) bool {
	switch w := want.(type) {
	case nil:
		return got == nil
	case approxFloat:
		g, ok := got.(float64)
		return ok && math.Abs(g-float64(w)) <= 1e-12*math.Max(1, math.Abs(float64(w)))
	case approxTime:
		s, ok := got.(string)
		if !ok {
			return false
		}
		g, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return false
		}
		d := g.Sub(time.Time(w))
		return d > -time.Millisecond && d < time.Millisecond
	default:
		return want == got
	}
}
