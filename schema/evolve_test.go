package schema

import (
	"errors"
	"strings"
	"testing"

	iceberggo "github.com/apache/iceberg-go"
)

func mustCompile(t *testing.T, text string) *Schema {
	t.Helper()
	s, err := Compile(100, text)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// payment builds a Payment schema with currency, merchant_id and extra
// fields (JSON field objects).
func payment(extra ...string) string {
	fields := append([]string{
		`{"name":"currency","type":"string"}`,
		`{"name":"merchant_id","type":"string"}`,
	}, extra...)
	return `{"type":"record","name":"Payment","namespace":"payments.v1","fields":[` + strings.Join(fields, ",") + `]}`
}

// v1Table is the table as it is created, before v2 and v3 evolve it.
func v1Table() *iceberggo.Schema { return TableSchema() }

func TestPlan(t *testing.T) {
	withCol := func(name string, typ iceberggo.Type, required bool) *iceberggo.Schema {
		fields := TableSchema().Fields()
		fields = append(fields, iceberggo.NestedField{ID: 16, Name: name, Type: typ, Required: required})
		return iceberggo.NewSchema(0, fields...)
	}
	tests := []struct {
		name    string
		table   *iceberggo.Schema
		writer  string
		want    string   // Changes.String(), when no error
		wantErr []string // substrings of the error
	}{
		{"v1 on contract table", contractTable(t), readSchemaFile(t, "payment-v1.avsc"), "[]", nil},
		{"v2 on contract table (int into long)", contractTable(t), readSchemaFile(t, "payment-v2.avsc"), "[]", nil},
		{"v3 on contract table", contractTable(t), readSchemaFile(t, "payment-v3.avsc"), "[]", nil},
		{"v1 on v1 table", v1Table(), readSchemaFile(t, "payment-v1.avsc"), "[]", nil},
		{"v2 on v1 table", v1Table(), readSchemaFile(t, "payment-v2.avsc"), "[add-column channel string; add-column fee_bps int]", nil},
		{"v3 on v1 table", v1Table(), readSchemaFile(t, "payment-v3.avsc"), "[add-column channel string; add-column fee_bps long; add-column country string]", nil},
		{"bad v4", TableSchema(), readSchemaFile(t, "payment-bad-v4.avsc"), "", []string{`"currency"`, "int", "string"}},
		{"widen int to long", withCol("n", iceberggo.PrimitiveTypes.Int32, false), payment(`{"name":"n","type":"long"}`), "[widen n long]", nil},
		{"widen float to double", withCol("n", iceberggo.PrimitiveTypes.Float32, false), payment(`{"name":"n","type":["null","double"]}`), "[widen n double]", nil},
		{"narrower float into double", withCol("n", iceberggo.PrimitiveTypes.Float64, false), payment(`{"name":"n","type":"float"}`), "[]", nil},
		{"widen decimal", TableSchema(), payment(`{"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":20,"scale":2}}`), "[widen amount decimal(20, 2)]", nil},
		{"narrower decimal", TableSchema(), payment(`{"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}}`), "[]", nil},
		{"fixed decimal", TableSchema(), payment(`{"name":"amount","type":{"type":"fixed","name":"D","size":8,"logicalType":"decimal","precision":18,"scale":2}}`), "[]", nil},
		{"decimal scale change", TableSchema(), payment(`{"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":18,"scale":3}}`), "", []string{`"amount"`, "decimal(18, 3)", "decimal(18, 2)"}},
		{"int into int column", withCol("n", iceberggo.PrimitiveTypes.Int32, false), payment(`{"name":"n","type":"int"}`), "[]", nil},
		{"string into long", contractTable(t), payment(`{"name":"fee_bps","type":"string"}`), "", []string{`"fee_bps"`, "string", "long"}},
		{"make optional", withCol("n", iceberggo.PrimitiveTypes.Int64, true), payment(`{"name":"n","type":["null","long"]}`), "[make-optional n long]", nil},
		{"widen and make optional", withCol("n", iceberggo.PrimitiveTypes.Int32, true), payment(`{"name":"n","type":["null","long"]}`), "[widen n long; make-optional n long]", nil},
		{"required column missing", withCol("n", iceberggo.PrimitiveTypes.Int64, true), payment(), "", []string{`required column "n"`}},
		{"add all primitive types", v1Table(), payment(
			`{"name":"b","type":"boolean"}`, `{"name":"f","type":"float"}`, `{"name":"d","type":"double"}`,
			`{"name":"raw","type":"bytes"}`, `{"name":"fx","type":{"type":"fixed","name":"F","size":4}}`,
			`{"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}}`,
			`{"name":"day","type":{"type":"int","logicalType":"date"}}`,
			`{"name":"e","type":["null",{"type":"enum","name":"E","symbols":["A"]}]}`,
		), "[add-column b boolean; add-column f float; add-column d double; add-column raw binary; add-column fx fixed[4]; add-column ts timestamptz; add-column day date; add-column e string]", nil},
		{"envelope name", TableSchema(), payment(`{"name":"event_time","type":"long"}`), "", []string{`"event_time"`, "envelope or metadata"}},
		{"metadata name", TableSchema(), payment(`{"name":"_kafka_offset","type":"long"}`), "", []string{`"_kafka_offset"`}},
		{"key_id name", TableSchema(), payment(`{"name":"key_id","type":"string"}`), "", []string{`"key_id"`}},
		{"case only", contractTable(t), payment(`{"name":"Country","type":"string"}`), "", []string{`"Country"`, `"country"`}},
		{"add map", TableSchema(), payment(`{"name":"tags","type":{"type":"map","values":"string"}}`), "[add-column tags map<string, string>]", nil},
		{"add union as struct", TableSchema(), payment(`{"name":"u","type":["null","string","long"]}`), "[add-column u struct<1: string: optional string, 2: long: optional long>]", nil},
		{"add time-millis", TableSchema(), payment(`{"name":"t","type":{"type":"int","logicalType":"time-millis"}}`), "[add-column t time]", nil},
		{"add nested record", TableSchema(), payment(`{"name":"r","type":{"type":"record","name":"R","fields":[{"name":"x","type":"int"}]}}`), "[add-column r struct<1: x: required int>]", nil},
		{"nested add", withCol("r", &iceberggo.StructType{FieldList: []iceberggo.NestedField{{ID: 17, Name: "x", Type: iceberggo.PrimitiveTypes.Int32}}}, false),
			payment(`{"name":"r","type":{"type":"record","name":"R","fields":[{"name":"x","type":"long"},{"name":"y","type":["null","string"]}]}}`), "[widen r.x long; add-column r.y string]", nil},
		{"add inside list element", withCol("l", &iceberggo.ListType{ElementID: 17, Element: &iceberggo.StructType{FieldList: []iceberggo.NestedField{{ID: 18, Name: "x", Type: iceberggo.PrimitiveTypes.Int32}}}}, false),
			payment(`{"name":"l","type":{"type":"array","items":{"type":"record","name":"I","fields":[{"name":"x","type":"int"},{"name":"y","type":"string"}]}}}`), "[add-column l.element.y string]", nil},
		{"add inside map value", withCol("m", &iceberggo.MapType{KeyID: 17, KeyType: iceberggo.PrimitiveTypes.String, ValueID: 18, ValueType: &iceberggo.StructType{FieldList: []iceberggo.NestedField{{ID: 19, Name: "x", Type: iceberggo.PrimitiveTypes.Int32}}}}, false),
			payment(`{"name":"m","type":{"type":"map","values":{"type":"record","name":"V","fields":[{"name":"x","type":"int"},{"name":"y","type":"double"}]}}}`), "[add-column m.value.y double]", nil},
		{"union gains a branch", withCol("u", &iceberggo.StructType{FieldList: []iceberggo.NestedField{{ID: 17, Name: "string", Type: iceberggo.PrimitiveTypes.String}, {ID: 18, Name: "long", Type: iceberggo.PrimitiveTypes.Int64}}}, false),
			payment(`{"name":"u","type":["null","string","long","boolean"]}`), "[add-column u.boolean boolean]", nil},
		{"rename by alias", contractTable(t), payment(`{"name":"region","aliases":["country"],"type":["null","string"]}`), "[rename country region]", nil},
		{"nested rename by alias", withCol("r", &iceberggo.StructType{FieldList: []iceberggo.NestedField{{ID: 17, Name: "x", Type: iceberggo.PrimitiveTypes.Int32}}}, false),
			payment(`{"name":"r","type":{"type":"record","name":"R","fields":[{"name":"z","aliases":["x"],"type":"int"}]}}`), "[rename r.x z]", nil},
		{"list element made optional", withCol("l", &iceberggo.ListType{ElementID: 17, Element: iceberggo.PrimitiveTypes.Int32, ElementRequired: true}, false),
			payment(`{"name":"l","type":{"type":"array","items":["null","int"]}}`), "[make-optional l.element int]", nil},
		{"nested type changed", withCol("r", &iceberggo.StructType{FieldList: []iceberggo.NestedField{{ID: 17, Name: "x", Type: iceberggo.PrimitiveTypes.Int32}}}, false),
			payment(`{"name":"r","type":{"type":"record","name":"R","fields":[{"name":"x","type":"string"}]}}`), "", []string{`"r.x"`, "string", "int"}},
		{"record into string column", TableSchema(), payment(`{"name":"status","type":{"type":"record","name":"S","fields":[{"name":"x","type":"int"}]}}`), "", []string{`"status"`, "record"}},
		{"nested required missing", withCol("r", &iceberggo.StructType{FieldList: []iceberggo.NestedField{{ID: 17, Name: "x", Type: iceberggo.PrimitiveTypes.Int32, Required: true}, {ID: 18, Name: "y", Type: iceberggo.PrimitiveTypes.Int32}}}, false),
			payment(`{"name":"r","type":{"type":"record","name":"R","fields":[{"name":"y","type":"int"}]}}`), "", []string{`"r.x"`, "required"}},
		{"recursive record", TableSchema(), payment(`{"name":"node","type":{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"]}]}}`), "", []string{`"node.next"`, "recursive"}},
		{"recursive through a list", TableSchema(), payment(`{"name":"tree","type":{"type":"record","name":"T","fields":[{"name":"kids","type":{"type":"array","items":"T"}}]}}`), "", []string{`"tree.kids.element"`, "recursive"}},
		{"timestamp-nanos", TableSchema(), payment(`{"name":"t","type":{"type":"long","logicalType":"timestamp-nanos"}}`), "", []string{`"t"`, "timestamp-nanos"}},
		{"duration", TableSchema(), payment(`{"name":"d","type":{"type":"fixed","name":"D","size":12,"logicalType":"duration"}}`), "", []string{`"d"`, "duration"}},
		{"nested duration", TableSchema(), payment(`{"name":"r","type":{"type":"record","name":"R","fields":[{"name":"d","type":{"type":"fixed","name":"D","size":12,"logicalType":"duration"}}]}}`), "", []string{`"r.d"`, "duration"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Plan(tc.table, mustCompile(t, tc.writer))
			if tc.wantErr != nil {
				if !errors.Is(err, ErrIncompatibleSchema) {
					t.Fatalf("Plan = %v, %v; want ErrIncompatibleSchema", got, err)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tc.want {
				t.Fatalf("Plan = %s, want %s", got, tc.want)
			}
			// Applying the changes leaves nothing more to do.
			evolved, err := ApplyChanges(tc.table, got)
			if err != nil {
				t.Fatal(err)
			}
			again, err := Plan(evolved, mustCompile(t, tc.writer))
			if err != nil || len(again) != 0 {
				t.Fatalf("Plan after ApplyChanges = %v, %v", again, err)
			}
		})
	}
}

// TestPlanEvolutionSequence walks v1 -> v2 -> v3 on a table created for v1.
func TestPlanEvolutionSequence(t *testing.T) {
	tbl := v1Table()
	for _, f := range []string{"payment-v1.avsc", "payment-v2.avsc", "payment-v3.avsc"} {
		ch, err := Plan(tbl, mustCompile(t, readSchemaFile(t, f)))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if tbl, err = ApplyChanges(tbl, ch); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		t.Logf("%s: %s", f, ch)
	}
	feeBps, ok := tbl.FindFieldByName("fee_bps")
	if !ok || !feeBps.Type.Equals(iceberggo.PrimitiveTypes.Int64) || feeBps.Required {
		t.Fatalf("fee_bps after v3 = %+v", feeBps)
	}
	if _, err := Plan(tbl, mustCompile(t, readSchemaFile(t, "payment-bad-v4.avsc"))); !errors.Is(err, ErrIncompatibleSchema) {
		t.Fatalf("bad v4 after evolution: %v", err)
	}
	// v2 (fee_bps int) still writes into the widened table.
	if ch, err := Plan(tbl, mustCompile(t, readSchemaFile(t, "payment-v2.avsc"))); err != nil || len(ch) != 0 {
		t.Fatalf("v2 after v3: %v %v", ch, err)
	}
}
