package schema

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

func TestTableSchema(t *testing.T) {
	type col struct {
		id       int
		name     string
		typ      string
		required bool
	}
	check := func(s *iceberggo.Schema, want []col) {
		t.Helper()
		fields := s.Fields()
		if len(fields) != len(want) {
			t.Fatalf("%d fields, want %d:\n%s", len(fields), len(want), s)
		}
		for i, w := range want {
			f := fields[i]
			if f.ID != w.id || f.Name != w.name || f.Type.String() != w.typ || f.Required != w.required {
				t.Errorf("field %d = %d %s %s required=%v, want %d %s %s required=%v", i, f.ID, f.Name, f.Type, f.Required, w.id, w.name, w.typ, w.required)
			}
		}
	}
	// A new table: envelope, payment-v1 and metadata columns.
	s := TableSchema()
	check(s, []col{
		{1, "transaction_id", "string", true}, {2, "event_time", "timestamptz", true}, {3, "source", "string", false},
		{4, "amount", "decimal(18, 2)", false}, {5, "currency", "string", false}, {6, "user_id", "string", false},
		{7, "merchant_id", "string", false}, {8, "status", "string", false}, {9, "_kafka_topic", "string", false},
		{10, "_kafka_partition", "int", false}, {11, "_kafka_offset", "long", false}, {12, "_ingested_at", "timestamptz", false},
	})
	// After v2 and v3: the contract's columns in the contract's order.
	check(contractTable(t), []col{
		{1, "transaction_id", "string", true}, {2, "event_time", "timestamptz", true}, {3, "source", "string", false},
		{4, "amount", "decimal(18, 2)", false}, {5, "currency", "string", false}, {6, "user_id", "string", false},
		{7, "merchant_id", "string", false}, {8, "status", "string", false}, {13, "channel", "string", false},
		{14, "fee_bps", "long", false}, {15, "country", "string", false}, {9, "_kafka_topic", "string", false},
		{10, "_kafka_partition", "int", false}, {11, "_kafka_offset", "long", false}, {12, "_ingested_at", "timestamptz", false},
	})

	spec := PartitionSpec(s)
	if spec.NumFields() != 2 {
		t.Fatalf("spec %s", spec)
	}
	for i, w := range []struct {
		name     string
		source   int
		fieldID  int
		identity string
	}{{"currency", 5, 1000, "identity"}, {"merchant_id", 7, 1001, "identity"}} {
		f := spec.Field(i)
		if f.Name != w.name || f.SourceID() != w.source || f.FieldID != w.fieldID || f.Transform.String() != w.identity {
			t.Errorf("partition field %d = %+v", i, f)
		}
	}
}

// TestArrowTypes pins the Arrow types iceberg-go gives the table columns, on
// which the Appender relies.
func TestArrowTypes(t *testing.T) {
	full, err := table.SchemaToArrowSchema(contractTable(t), nil, true, false)
	if err != nil {
		t.Fatal(err)
	}
	row := RowArrowSchema(full)
	if row.NumFields() != full.NumFields()-1 {
		t.Fatalf("row has %d fields, full %d", row.NumFields(), full.NumFields())
	}
	if _, ok := row.FieldsByName(IngestedAtColumn); ok {
		t.Fatal("row schema still has _ingested_at")
	}
	want := map[string]string{
		"transaction_id": "utf8", "event_time": "timestamp[us, tz=UTC]", "amount": "decimal(18, 2)",
		"fee_bps": "int64", "_kafka_partition": "int32", "_kafka_offset": "int64", "status": "utf8",
	}
	for name, typ := range want {
		fs, ok := row.FieldsByName(name)
		if !ok {
			t.Fatalf("no %s", name)
		}
		if got := fs[0].Type.String(); got != typ {
			t.Errorf("%s: arrow type %s, want %s", name, got, typ)
		}
	}
	if f, _ := row.FieldsByName("transaction_id"); f[0].Nullable {
		t.Error("transaction_id is nullable")
	}
	if f, _ := row.FieldsByName("amount"); f[0].Type.(*arrow.Decimal128Type).Scale != 2 {
		t.Error("amount scale")
	}
	large, err := table.SchemaToArrowSchema(contractTable(t), nil, true, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewAppender(RowArrowSchema(large), mustCompile(t, readSchemaFile(t, "payment-v3.avsc"))); err != nil {
		t.Fatalf("large types: %v", err)
	}
}
