package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go/table"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/mapping")

// TestMappingGolden maps every testdata/mapping/*.avsc to Iceberg and
// compares with its .golden file: the Iceberg schema JSON, or the refusal
// (which must name the field path). When a .json sample record (Avro JSON
// encoding) is next to it, the sample is decoded by goavro from its binary
// form, appended to the table the schema evolves a new table into, and the
// Arrow row is part of the golden file too. Run with -update to rewrite.
func TestMappingGolden(t *testing.T) {
	const dir = "../testdata/mapping"
	files, err := filepath.Glob(filepath.Join(dir, "*.avsc"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no schemas in %s: %v", dir, err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".avsc")
		t.Run(name, func(t *testing.T) {
			text, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got := renderMapping(t, string(text), strings.TrimSuffix(file, ".avsc")+".json")
			golden := strings.TrimSuffix(file, ".avsc") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./schema -run TestMappingGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("mapping of %s differs from %s:\n--- got\n%s\n--- want\n%s", file, golden, got, want)
			}
		})
	}
}

func renderMapping(t *testing.T, text, samplePath string) []byte {
	t.Helper()
	s := mustCompile(t, text)
	var out bytes.Buffer
	sc, err := s.IcebergSchema()
	refused := strings.HasPrefix(filepath.Base(samplePath), "refused-")
	if err != nil {
		if !refused {
			t.Fatalf("refused: %v", err)
		}
		if !errors.Is(err, ErrIncompatibleSchema) || !strings.Contains(err.Error(), `field "`) {
			t.Fatalf("refusal %v does not wrap ErrIncompatibleSchema or name a field", err)
		}
		// Plan refuses it the same way.
		if _, perr := Plan(TableSchema(), s); perr == nil || perr.Error() != err.Error() {
			t.Fatalf("Plan = %v, want the mapping's error", perr)
		}
		out.WriteString("refused: " + err.Error() + "\n")
		return out.Bytes()
	}
	if refused {
		t.Fatalf("mapped a schema that must be refused: %s", sc)
	}
	j, err := json.MarshalIndent(sc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	out.Write(j)
	out.WriteString("\n")

	// The schema evolves a new table; an appender compiles against it.
	changes, err := Plan(TableSchema(), s)
	if err != nil {
		t.Fatal(err)
	}
	evolved, err := ApplyChanges(TableSchema(), changes)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := Plan(evolved, s); err != nil || len(again) != 0 {
		t.Fatalf("Plan after ApplyChanges = %v, %v", again, err)
	}
	full, err := table.SchemaToArrowSchema(evolved, nil, true, false)
	if err != nil {
		t.Fatal(err)
	}
	row := RowArrowSchema(full)
	a, err := NewAppender(row, s)
	if err != nil {
		t.Fatal(err)
	}
	sample, err := os.ReadFile(samplePath)
	if errors.Is(err, os.ErrNotExist) {
		return out.Bytes()
	} else if err != nil {
		t.Fatal(err)
	}
	native, _, err := s.Codec.NativeFromTextual(sample)
	if err != nil {
		t.Fatalf("sample: %v", err)
	}
	bin, err := s.Codec.BinaryFromNative(nil, native)
	if err != nil {
		t.Fatalf("sample: %v", err)
	}
	p, err := decodePayload(s, bin)
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rb := array.NewRecordBuilder(mem, row)
	defer rb.Release()
	a.Append(rb, &Envelope{TransactionID: "tx-1"}, &p, RowMeta{Topic: "t", Partition: 1, Offset: 2})
	rec := rb.NewRecordBatch()
	defer rec.Release()
	out.WriteString("\nsample row:\n")
	for i, f := range row.Fields() {
		col := rec.Column(i)
		if f.Name == EventTimeColumn || reservedNames[f.Name] {
			continue
		}
		v, err := json.Marshal(col.GetOneForMarshal(0))
		if err != nil {
			t.Fatal(err)
		}
		out.WriteString(f.Name + ": " + string(v) + "\n")
	}
	return out.Bytes()
}
