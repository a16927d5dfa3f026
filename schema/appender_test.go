package schema

import (
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

func TestAppenderValues(t *testing.T) {
	tbl, err := ApplyChanges(contractTable(t), Changes{
		{Kind: AddColumn, Name: "b", Type: iceberggo.PrimitiveTypes.Bool},
		{Kind: AddColumn, Name: "d", Type: iceberggo.PrimitiveTypes.Float64},
		{Kind: AddColumn, Name: "day", Type: iceberggo.PrimitiveTypes.Date},
		{Kind: AddColumn, Name: "ts", Type: iceberggo.PrimitiveTypes.TimestampTz},
		{Kind: AddColumn, Name: "raw", Type: iceberggo.PrimitiveTypes.Binary},
		{Kind: AddColumn, Name: "fx", Type: iceberggo.FixedTypeOf(2)},
	})
	if err != nil {
		t.Fatal(err)
	}
	full, err := table.SchemaToArrowSchema(tbl, nil, true, false)
	if err != nil {
		t.Fatal(err)
	}
	row := RowArrowSchema(full)
	w := mustCompile(t, payment(
		`{"name":"amount","type":["null",{"type":"bytes","logicalType":"decimal","precision":18,"scale":2}]}`,
		`{"name":"fee_bps","type":"int"}`,
		`{"name":"status","type":{"type":"enum","name":"S","symbols":["A","B"]}}`,
		`{"name":"b","type":"boolean"}`, `{"name":"d","type":"float"}`,
		`{"name":"day","type":{"type":"int","logicalType":"date"}}`,
		`{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}}`,
		`{"name":"raw","type":"bytes"}`, `{"name":"fx","type":{"type":"fixed","name":"F2","size":2}}`,
	))
	if ch, err := Plan(tbl, w); err != nil || len(ch) != 0 {
		t.Fatalf("Plan = %v, %v", ch, err)
	}
	a, err := NewAppender(row, w)
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rb := array.NewRecordBuilder(mem, row)
	defer rb.Release()

	evt := time.Date(2025, 11, 21, 0, 0, 1, 234_000_000, time.UTC)
	env := &Envelope{TransactionID: "tx-1", EventTime: evt, Source: "gw"}
	// Round trip through the codec so values are exactly what goavro gives.
	native := map[string]any{
		"currency": "USD", "merchant_id": "m-1",
		"amount":  map[string]any{"bytes.decimal": big.NewRat(-123456789012345678, 100)},
		"fee_bps": int32(7), "status": "B", "b": true, "d": float32(1.5),
		"day": time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC), "ts": evt,
		"raw": []byte{1, 2, 3}, "fx": []byte{9, 8},
	}
	body, err := w.Codec.BinaryFromNative(AppendFrame(nil, w.ID), native)
	if err != nil {
		t.Fatal(err)
	}
	p, err := decodePayload(w, body[FrameHeaderSize:])
	if err != nil {
		t.Fatal(err)
	}
	a.Append(rb, env, &p, RowMeta{Topic: "t", Partition: 2, Offset: 9})
	native["amount"] = nil
	body, _ = w.Codec.BinaryFromNative(nil, native)
	p2, err := decodePayload(w, body)
	if err != nil {
		t.Fatal(err)
	}
	a.Append(rb, env, &p2, RowMeta{})

	rec := rb.NewRecordBatch()
	defer rec.Release()
	col := func(name string) arrow.Array {
		i := row.FieldIndices(name)[0]
		return rec.Column(i)
	}
	checks := map[string]string{
		"amount":           col("amount").(*array.Decimal128).Value(0).ToString(2),
		"fee_bps":          col("fee_bps").ValueStr(0),
		"status":           col("status").ValueStr(0),
		"b":                col("b").ValueStr(0),
		"d":                col("d").ValueStr(0),
		"day":              col("day").ValueStr(0),
		"ts":               time.UnixMicro(int64(col("ts").(*array.Timestamp).Value(0))).UTC().Format(time.RFC3339Nano),
		"event_time":       time.UnixMicro(int64(col("event_time").(*array.Timestamp).Value(0))).UTC().Format(time.RFC3339Nano),
		"raw":              col("raw").ValueStr(0),
		"fx":               col("fx").ValueStr(0),
		"_kafka_partition": col("_kafka_partition").ValueStr(0),
	}
	want := map[string]string{
		"amount": "-1234567890123456.78", "fee_bps": "7", "status": "B", "b": "true", "d": "1.5",
		"day": "2025-01-02", "ts": "2025-11-21T00:00:01.234Z", "event_time": "2025-11-21T00:00:01.234Z",
		"raw": "AQID", "fx": "CQg=", "_kafka_partition": "2",
	}
	for k, w := range want {
		if checks[k] != w {
			t.Errorf("%s = %s, want %s", k, checks[k], w)
		}
	}
	for _, name := range []string{"amount", "channel", "country", "user_id"} {
		if !col(name).IsNull(1) || (name != "amount" && !col(name).IsNull(0)) {
			t.Errorf("%s not null where expected", name)
		}
	}
	for i := range rec.NumCols() {
		if rec.Column(int(i)).Len() != 2 {
			t.Fatalf("column %d has %d values", i, rec.Column(int(i)).Len())
		}
	}
}

func TestNewAppenderErrors(t *testing.T) {
	full, err := table.SchemaToArrowSchema(TableSchema(), nil, true, false)
	if err != nil {
		t.Fatal(err)
	}
	row := RowArrowSchema(full)
	tests := []struct {
		name string
		row  *arrow.Schema
		w    string
		want string
	}{
		{"ingested_at present", full, readSchemaFile(t, "payment-v1.avsc"), "_ingested_at"},
		{"bad v4", row, readSchemaFile(t, "payment-bad-v4.avsc"), `"currency"`},
		{"not evolved: wider decimal", row, payment(`{"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":20,"scale":2}}`), `"amount"`},
		{"not evolved: scale", row, payment(`{"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":18,"scale":4}}`), `"amount"`},
		{"not a payment", row, `{"type":"record","name":"X","fields":[{"name":"currency","type":"string"}]}`, "merchant_id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewAppender(tc.row, mustCompile(t, tc.w))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewAppender = %v, want error containing %s", err, tc.want)
			}
			if tc.name != "ingested_at present" && !errors.Is(err, ErrIncompatibleSchema) {
				t.Fatalf("%v is not ErrIncompatibleSchema", err)
			}
		})
	}
}

func TestRatToDecimal128(t *testing.T) {
	huge, _ := new(big.Rat).SetString("123456789012345678901234567890123456.78")
	tests := []struct {
		in        *big.Rat
		prec, sc  int32
		want      string
		wantFails bool
	}{
		{big.NewRat(4856272, 100), 18, 2, "48562.72", false},
		{big.NewRat(-5, 10), 18, 2, "-0.50", false},
		{big.NewRat(0, 1), 18, 2, "0.00", false},
		{big.NewRat(1, 1000), 18, 2, "", true},                        // more fractional digits than the scale
		{big.NewRat(1_000_000_000_000_000_000, 100), 18, 2, "", true}, // 10^16 needs 19 digits
		{big.NewRat(999_999_999_999_999_999, 100), 18, 2, "9999999999999999.99", false},
		{huge, 38, 2, "123456789012345678901234567890123456.78", false},
		{huge, 37, 2, "", true},
		{big.NewRat(1, 3), 18, 2, "", true},
	}
	for _, tc := range tests {
		n, ok := ratToDecimal128(tc.in, tc.prec, tc.sc)
		if ok == tc.wantFails {
			t.Errorf("%s: ok = %v", tc.in, ok)
			continue
		}
		if ok && n.ToString(tc.sc) != tc.want {
			t.Errorf("%s: %s, want %s", tc.in, n.ToString(tc.sc), tc.want)
		}
	}
}

func TestPayloadDecimalPrecision(t *testing.T) {
	w := mustCompile(t, payment(`{"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}}`))
	for _, tc := range []struct {
		v  *big.Rat
		ok bool
	}{{big.NewRat(9999, 100), true}, {big.NewRat(-9999, 100), true}, {big.NewRat(10000, 100), false}} {
		body, err := w.Codec.BinaryFromNative(nil, map[string]any{"currency": "X", "merchant_id": "m", "amount": tc.v})
		if err != nil {
			t.Fatal(err)
		}
		_, err = decodePayload(w, body)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadPayload)) {
			t.Errorf("%s: %v", tc.v.FloatString(2), err)
		}
	}
}

// TestPayloadNestedDecimalPrecision: a decimal inside a nested record, an
// array, a map or a union member that exceeds its precision is refused as
// bad_payload (it used to be stored as null: a value lost without a trace).
func TestPayloadNestedDecimalPrecision(t *testing.T) {
	dec := `{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}`
	w := mustCompile(t, payment(
		`{"name":"fee","type":{"type":"record","name":"Fee","fields":[{"name":"value","type":`+dec+`}]}}`,
		`{"name":"legs","type":{"type":"array","items":`+dec+`}}`,
		`{"name":"taxes","type":{"type":"map","values":`+dec+`}}`,
		`{"name":"tip","type":["null",`+dec+`]}`,
	))
	if !w.deepDecimals {
		t.Fatal("nested decimals not detected")
	}
	ok, big1 := big.NewRat(9999, 100), big.NewRat(10000, 100)
	base := func() map[string]any {
		return map[string]any{"currency": "X", "merchant_id": "m",
			"fee": map[string]any{"value": ok}, "legs": []any{ok, ok},
			"taxes": map[string]any{"vat": ok}, "tip": map[string]any{"bytes.decimal": ok}}
	}
	for _, tc := range []struct {
		name string
		mut  func(map[string]any)
		path string
	}{
		{"all fit", func(map[string]any) {}, ""},
		{"record", func(m map[string]any) { m["fee"] = map[string]any{"value": big1} }, `"fee.value"`},
		{"array", func(m map[string]any) { m["legs"] = []any{ok, big1} }, `"legs[]"`},
		{"map", func(m map[string]any) { m["taxes"] = map[string]any{"vat": big1} }, `"taxes{}"`},
		{"union", func(m map[string]any) { m["tip"] = map[string]any{"bytes.decimal": big1} }, `"tip"`},
	} {
		v := base()
		tc.mut(v)
		body, err := w.Codec.BinaryFromNative(nil, v)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_, err = decodePayload(w, body)
		switch {
		case tc.path == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.path != "" && (!errors.Is(err, ErrBadPayload) || !strings.Contains(err.Error(), tc.path)):
			t.Errorf("%s: %v, want bad_payload naming %s", tc.name, err, tc.path)
		}
	}
}
