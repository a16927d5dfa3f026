package schema

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// The compiled reader and fast appender must be indistinguishable from the
// reference path (checkBounds + goavro + checks, then Appender.Append):
// the same bodies accepted, the same rows built. These tests and the fuzz
// targets below compare the two on the contract vectors, the evolution
// cases and a schema with every flat type.

// diffCase is a writer schema and the appender of a row schema for it.
type diffCase struct {
	name string
	w    *Schema
	row  *arrow.Schema
	a    *Appender
}

// sinkTableFields are flat fields of every kind the fast path covers, that
// the table gets columns for.
var sinkTableFields = []string{
	`{"name":"merchant_id","type":["null","string"]}`,
	`{"name":"amount","type":["null",{"type":"fixed","name":"Amt","size":9,"logicalType":"decimal","precision":18,"scale":2}]}`,
	`{"name":"status","type":{"type":"enum","name":"S","symbols":["A","B","C"]}}`,
	`{"name":"fee_bps","type":"int"}`,
	`{"name":"b","type":"boolean"}`,
	`{"name":"f","type":"float"}`,
	`{"name":"d","type":["double","null"]}`,
	`{"name":"i","type":["null","int"]}`,
	`{"name":"day","type":{"type":"int","logicalType":"date"}}`,
	`{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}}`,
	`{"name":"tsu","type":["null",{"type":"long","logicalType":"timestamp-micros"}]}`,
	`{"name":"lts","type":{"type":"long","logicalType":"local-timestamp-millis"}}`,
	`{"name":"ltu","type":{"type":"long","logicalType":"local-timestamp-micros"}}`,
	`{"name":"tm","type":{"type":"int","logicalType":"time-millis"}}`,
	`{"name":"tu","type":{"type":"long","logicalType":"time-micros"}}`,
	`{"name":"raw","type":"bytes"}`,
	`{"name":"fx","type":{"type":"fixed","name":"F2","size":2}}`,
	`{"name":"u1","type":{"type":"string","logicalType":"uuid"}}`,
	`{"name":"u2","type":["null",{"type":"fixed","name":"U16","size":16,"logicalType":"uuid"}]}`,
	`{"name":"single","type":["long"]}`,
	`{"name":"dec2","type":["null",{"type":"bytes","logicalType":"decimal","precision":38,"scale":4}]}`,
	`{"name":"region","aliases":["country"],"type":["null","string"]}`,
}

// sinkSkippedFields are decoded but have no column.
var sinkSkippedFields = []string{
	`{"name":"skipped","type":"string"}`,
	`{"name":"nothing","type":"null"}`,
	`{"name":"wide","type":{"type":"bytes","logicalType":"decimal","precision":60,"scale":0}}`,
	`{"name":"e2","type":["null",{"type":"enum","name":"E2","symbols":["X"]}]}`,
}

// sinkRecord is a Payment schema with currency and the given fields.
func sinkRecord(fields ...string) string {
	return `{"type":"record","name":"Payment","namespace":"payments.v1","fields":[{"name":"currency","type":"string"},` + strings.Join(fields, ",") + `]}`
}

// sinkCase compiles the sink writer schema (table fields first, then the
// skipped ones) against a table evolved for its table fields.
func sinkCase(t testing.TB) *diffCase {
	t.Helper()
	tw, err := Compile(100, sinkRecord(sinkTableFields...))
	if err != nil {
		t.Fatal(err)
	}
	tbl := contractTable(t)
	ch, err := Plan(tbl, tw)
	if err != nil {
		t.Fatal(err)
	}
	if tbl, err = ApplyChanges(tbl, ch); err != nil {
		t.Fatal(err)
	}
	w, err := Compile(101, sinkRecord(append(append([]string{}, sinkTableFields...), sinkSkippedFields...)...))
	if err != nil {
		t.Fatal(err)
	}
	return newDiffCase(t, "sink", tbl, w)
}

func newDiffCase(t testing.TB, name string, tbl *iceberggo.Schema, w *Schema) *diffCase {
	t.Helper()
	full, err := table.SchemaToArrowSchema(tbl, nil, true, false)
	if err != nil {
		t.Fatal(err)
	}
	row := RowArrowSchema(full)
	a, err := NewAppender(row, w)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &diffCase{name: name, w: w, row: row, a: a}
}

// contractCases are the contract payment schemas against the contract
// table, and v1 against the table it creates.
func contractCases(t testing.TB) []*diffCase {
	t.Helper()
	var out []*diffCase
	for i, f := range []string{"payment-v1.avsc", "payment-v2.avsc", "payment-v3.avsc"} {
		w, err := Compile(uint32(2+i), readSchemaFile(t, f))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, newDiffCase(t, f, contractTable(t), w))
	}
	out = append(out, newDiffCase(t, "payment-v1.avsc on v1", TableSchema(), out[0].w))
	return out
}

// diffEnv is the envelope of the rows the differential tests build.
var diffEnv = Envelope{TransactionID: "tx-1", EventTime: time.UnixMilli(1763683200123).UTC(), Source: "gw"}

// diffPayload runs body through both paths and fails t where they differ.
// It reports whether the body was accepted.
func diffPayload(t testing.TB, c *diffCase, body []byte) bool {
	t.Helper()
	p, refErr := decodePayload(c.w, body)
	var r PayloadRecord
	fastErr := decodePayloadInto(c.w, body, &r)
	if (refErr == nil) != (fastErr == nil) {
		t.Fatalf("%s: body %x: reference error %v, fast error %v", c.name, body, refErr, fastErr)
	}
	if refErr != nil {
		if !errors.Is(fastErr, ErrBadPayload) || !errors.Is(refErr, ErrBadPayload) {
			t.Fatalf("%s: error classes differ: reference %v, fast %v", c.name, refErr, fastErr)
		}
		if r.Schema() != nil {
			t.Fatalf("%s: a refused record keeps its schema", c.name)
		}
		return false
	}
	if c.w.reader != nil && !r.fast {
		t.Fatalf("%s: the compiled reader was not used", c.name)
	}
	// The values, as goavro gives them.
	got := r.Payload().Fields
	if len(got) != len(p.Fields) {
		t.Fatalf("%s: %d fields, reference %d", c.name, len(got), len(p.Fields))
	}
	for k, want := range p.Fields {
		if !nativeEqual(got[k], want) {
			t.Fatalf("%s: field %q = %#v, reference %#v", c.name, k, got[k], want)
		}
	}
	// The rows.
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ref := array.NewRecordBuilder(mem, c.row)
	defer ref.Release()
	fast := array.NewRecordBuilder(mem, c.row)
	defer fast.Release()
	meta := RowMeta{Topic: testTopic, Partition: 1, Offset: 7}
	c.a.Append(ref, &diffEnv, &p, meta)
	c.a.AppendRecord(fast, &diffEnv, &r, meta)
	want, gotRec := ref.NewRecordBatch(), fast.NewRecordBatch()
	defer want.Release()
	defer gotRec.Release()
	for i := range int(want.NumCols()) {
		if !sameArray(want.Column(i), gotRec.Column(i)) {
			t.Fatalf("%s: column %q: fast %v, reference %v", c.name, c.row.Field(i).Name, gotRec.Column(i), want.Column(i))
		}
	}
	// The partition key.
	for _, col := range []string{"currency", "merchant_id", "fee_bps", "amount", "missing"} {
		var pr PayloadRecord
		pr.SetPayload(p)
		if a, b := r.AppendKeyValue(nil, col), pr.AppendKeyValue(nil, col); !bytes.Equal(a, b) {
			t.Fatalf("%s: key of %q = %q, reference %q", c.name, col, a, b)
		}
	}
	return true
}

// sameArray compares two arrays value by value, floats by their bits.
func sameArray(a, b arrow.Array) bool {
	if a.Len() != b.Len() || !arrow.TypeEqual(a.DataType(), b.DataType()) {
		return false
	}
	for i := range a.Len() {
		if a.IsNull(i) != b.IsNull(i) {
			return false
		}
		if a.IsNull(i) {
			continue
		}
		switch x := a.(type) {
		case *array.Float32:
			if math.Float32bits(x.Value(i)) != math.Float32bits(b.(*array.Float32).Value(i)) {
				return false
			}
		case *array.Float64:
			if math.Float64bits(x.Value(i)) != math.Float64bits(b.(*array.Float64).Value(i)) {
				return false
			}
		default:
			if !array.SliceEqual(a, int64(i), int64(i+1), b, int64(i), int64(i+1)) {
				return false
			}
		}
	}
	return true
}

// nativeEqual compares goavro native values; union branch names must match
// as well.
func nativeEqual(a, b any) bool {
	if fmt.Sprintf("%T", a) != fmt.Sprintf("%T", b) {
		return false
	}
	switch x := a.(type) {
	case map[string]any:
		y := b.(map[string]any)
		if len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || !nativeEqual(v, w) {
				return false
			}
		}
		return true
	case *big.Rat:
		return x.Cmp(b.(*big.Rat)) == 0
	case float32:
		return math.Float32bits(x) == math.Float32bits(b.(float32))
	case float64:
		return math.Float64bits(x) == math.Float64bits(b.(float64))
	case []byte:
		return bytes.Equal(x, b.([]byte))
	case time.Time:
		y := b.(time.Time)
		return x.Equal(y) && x.Location() == y.Location()
	}
	return reflect.DeepEqual(a, b)
}

// sinkNative is a record of the sink writer schema, in goavro's terms.
func sinkNative(amount *big.Rat) map[string]any {
	var amt any
	if amount != nil {
		amt = map[string]any{"payments.v1.Amt": amount}
	}
	return map[string]any{
		"currency": "EUR", "merchant_id": map[string]any{"string": "m-7"},
		"amount": amt, "status": "C", "fee_bps": int32(-12), "b": true,
		"f": float32(-2.5), "d": map[string]any{"double": math.Inf(-1)}, "i": nil,
		"day": time.Date(1969, 12, 30, 0, 0, 0, 0, time.UTC),
		"ts":  time.UnixMilli(-1).UTC(), "tsu": map[string]any{"long.timestamp-micros": time.UnixMicro(1763683200123456).UTC()},
		"lts": int64(1763683200123), "ltu": int64(-5), "tm": 3 * time.Second, "tu": 5 * time.Microsecond,
		"raw": []byte{0, 1, 2}, "fx": []byte{0xfe, 0xff},
		"u1": "0f8fad5b-d9cb-469f-a165-70867728950e", "u2": map[string]any{"payments.v1.U16": bytes.Repeat([]byte{7}, 16)},
		"single":  map[string]any{"long": int64(math.MinInt64)},
		"dec2":    map[string]any{"bytes.decimal": big.NewRat(-99999999999, 10000)},
		"region":  map[string]any{"string": "PT"},
		"skipped": "zzz", "nothing": nil, "wide": new(big.Rat).SetFrac(new(big.Int).Lsh(big.NewInt(-1), 150), big.NewInt(1)),
		"e2": map[string]any{"payments.v1.E2": "X"},
	}
}

// sinkBodies are bodies of the sink schema made by goavro.
func sinkBodies(t testing.TB, w *Schema) [][]byte {
	t.Helper()
	var out [][]byte
	for _, amt := range []*big.Rat{big.NewRat(123456789, 100), nil, big.NewRat(-1, 100), big.NewRat(9999999999999999, 1)} {
		body, err := w.Codec.BinaryFromNative(nil, sinkNative(amt))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, body)
	}
	return out
}

// vectorPayloads are the plaintext bodies of the valid contract vectors,
// with their payload schema ids.
func vectorPayloads(t testing.TB) (ids []uint32, bodies [][]byte) {
	t.Helper()
	v := loadVectors(t)
	dec := NewDecoder(seededRegistry(t, v))
	kr := v.keyring(t)
	for _, vec := range v.Valid {
		env, err := dec.Envelope(context.Background(), mustB64(t, vec.ValueB64))
		if err != nil {
			t.Fatal(err)
		}
		pt, err := kr.Open(nil, env.KeyID, env.Payload, []byte(env.TransactionID))
		if err != nil {
			t.Fatal(err)
		}
		id, body, err := ParseFrame(pt)
		if err != nil {
			t.Fatal(err)
		}
		ids, bodies = append(ids, id), append(bodies, body)
	}
	return ids, bodies
}

// mutations are the bodies one edit away from body: every truncation,
// every byte set to a few values, one byte appended.
func mutations(body []byte) [][]byte {
	var out [][]byte
	for n := range len(body) {
		out = append(out, body[:n])
	}
	for i := range body {
		for _, v := range []byte{0, 1, 2, 0x7f, 0x80, 0xff, body[i] ^ 1} {
			m := bytes.Clone(body)
			m[i] = v
			out = append(out, m)
		}
	}
	return append(out, append(bytes.Clone(body), 0))
}

func TestCompiledPayloadVectors(t *testing.T) {
	cases := contractCases(t)
	ids, bodies := vectorPayloads(t)
	byID := map[uint32][]*diffCase{}
	for _, c := range cases {
		if c.w.reader == nil || c.a.fast == nil {
			t.Fatalf("%s: no compiled reader or fast appender", c.name)
		}
		byID[c.w.ID] = append(byID[c.w.ID], c)
	}
	accepted := 0
	for i, body := range bodies {
		if len(byID[ids[i]]) == 0 {
			t.Fatalf("vector %d: payload schema %d is not a contract payment", i, ids[i])
		}
		for _, c := range byID[ids[i]] {
			if !diffPayload(t, c, body) {
				t.Fatalf("%s: vector %d refused", c.name, i)
			}
			for _, m := range mutations(body) {
				if diffPayload(t, c, m) {
					accepted++
				}
			}
		}
	}
	t.Logf("%d vectors, %d mutations accepted by both paths", len(bodies), accepted)
}

func TestCompiledPayloadSink(t *testing.T) {
	c := sinkCase(t)
	if c.w.reader == nil || c.a.fast == nil {
		t.Fatal("the sink schema has no compiled reader or fast appender")
	}
	for _, body := range sinkBodies(t, c.w) {
		if !diffPayload(t, c, body) {
			t.Fatal("sink body refused")
		}
		for _, m := range mutations(body) {
			diffPayload(t, c, m)
		}
	}
}

// TestCompiledPayloadEvolution: a writer older or newer than the table,
// int into long, renames by alias and by name mapping, and a column the
// writer lacks.
func TestCompiledPayloadEvolution(t *testing.T) {
	v1, v3 := readSchemaFile(t, "payment-v1.avsc"), readSchemaFile(t, "payment-v3.avsc")
	renamed := strings.Replace(v3, `{"name": "country"`, `{"name": "region", "aliases": ["country"]`, 1)
	if renamed == v3 {
		t.Fatal("v3 has no country field to rename")
	}
	tbl := contractTable(t)
	rt, err := ApplyChanges(tbl, Changes{{Kind: Rename, Name: "country", NewName: "nation"}})
	if err != nil {
		t.Fatal(err)
	}
	nm := iceberggo.NameMapping{}
	for _, f := range rt.Fields() {
		names := []string{f.Name}
		if f.Name == "nation" {
			names = append(names, "country")
		}
		nm = append(nm, iceberggo.MappedField{FieldID: &f.ID, Names: names})
	}
	full, err := table.SchemaToArrowSchema(rt, nil, true, false)
	if err != nil {
		t.Fatal(err)
	}
	row := RowArrowSchema(full)
	w3 := mustCompile(t, v3)
	mapped, err := NewAppender(row, w3, WithNameMapping(nm))
	if err != nil {
		t.Fatal(err)
	}
	cases := []*diffCase{
		newDiffCase(t, "v1 on contract table", tbl, mustCompile(t, v1)),
		newDiffCase(t, "v3 renamed by alias", tbl, mustCompile(t, renamed)),
		{name: "v3 on a renamed column by name mapping", w: w3, row: row, a: mapped},
	}
	ids, bodies := vectorPayloads(t)
	for _, c := range cases {
		if c.a.fast == nil {
			t.Fatalf("%s: no fast appender", c.name)
		}
		for i, body := range bodies {
			// Bodies of the same field layout as the case's schema.
			if want := map[bool]uint32{true: 2, false: 4}[strings.HasPrefix(c.name, "v1")]; ids[i] != want {
				continue
			}
			if !diffPayload(t, c, body) {
				t.Fatalf("%s: vector %d refused", c.name, i)
			}
		}
	}
}

// TestCompiledReaderCoverage: which schemas get a compiled reader.
func TestCompiledReaderCoverage(t *testing.T) {
	for _, tc := range []struct {
		field string
		want  bool
	}{
		{`{"name":"x","type":"long"}`, true},
		{`{"name":"x","type":["null",{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}]}`, true},
		{`{"name":"x","type":[{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}]}`, false},
		{`{"name":"x","type":["null","string","long"]}`, false},
		{`{"name":"x","type":{"type":"array","items":"long"}}`, false},
		{`{"name":"x","type":{"type":"map","values":"long"}}`, false},
		{`{"name":"x","type":{"type":"record","name":"R","fields":[{"name":"y","type":"long"}]}}`, false},
		{`{"name":"x","type":{"type":"fixed","name":"F","size":"4"}}`, false},
	} {
		s := mustCompile(t, payment(tc.field))
		if got := s.reader != nil; got != tc.want {
			t.Errorf("%s: compiled reader %v, want %v", tc.field, got, tc.want)
		}
	}
	env := mustCompile(t, readSchemaFile(t, "envelope.avsc"))
	if env.env == nil {
		t.Error("the contract envelope has no compiled reader")
	}
}

// diffEnvelope runs body through both envelope paths and fails t where
// they differ.
func diffEnvelope(t testing.TB, s *Schema, body []byte) {
	t.Helper()
	want, refErr := decodeEnvelopeGoavro(s, body)
	got, fastErr := decodeEnvelopeFast(s, body)
	if (refErr == nil) != (fastErr == nil) {
		t.Fatalf("body %x: reference error %v, fast error %v", body, refErr, fastErr)
	}
	if refErr != nil {
		if !errors.Is(fastErr, ErrMalformedAvro) || !errors.Is(refErr, ErrMalformedAvro) {
			t.Fatalf("error classes differ: reference %v, fast %v", refErr, fastErr)
		}
		return
	}
	if got.SchemaID != want.SchemaID || got.TransactionID != want.TransactionID || got.Source != want.Source ||
		got.KeyID != want.KeyID || !bytes.Equal(got.Payload, want.Payload) ||
		!got.EventTime.Equal(want.EventTime) || got.EventTime.Location() != want.EventTime.Location() {
		t.Fatalf("body %x: fast %+v, reference %+v", body, got, want)
	}
}

// envelopeSchemas are the contract envelope and a variant with
// timestamp-micros, fields reordered and an extra field.
func envelopeSchemas(t testing.TB) []*Schema {
	t.Helper()
	contract, err := Compile(1, readSchemaFile(t, "envelope.avsc"))
	if err != nil {
		t.Fatal(err)
	}
	variant, err := Compile(50, `{"type":"record","name":"E","fields":[
		{"name":"payload","type":"bytes"},
		{"name":"trace","type":["null","string"]},
		{"name":"event_time","type":{"type":"long","logicalType":"timestamp-micros"}},
		{"name":"key_id","type":"string"},{"name":"source","type":"string"},
		{"name":"transaction_id","type":"string"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Schema{contract, variant} {
		if s.env == nil {
			t.Fatalf("envelope schema %d has no compiled reader", s.ID)
		}
	}
	return []*Schema{contract, variant}
}

func TestCompiledEnvelope(t *testing.T) {
	v := loadVectors(t)
	schemas := envelopeSchemas(t)
	var bodies [][]byte
	for _, vec := range v.Valid {
		_, body, err := ParseFrame(mustB64(t, vec.ValueB64))
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, body)
	}
	for _, vec := range v.Invalid {
		if _, body, err := ParseFrame(mustB64(t, vec.ValueB64)); err == nil {
			bodies = append(bodies, body)
		}
	}
	variant, err := schemas[1].Codec.BinaryFromNative(nil, map[string]any{
		"payload": []byte("ciphertext"), "trace": map[string]any{"string": "t"},
		"event_time": time.UnixMicro(-1).UTC(), "key_id": "k1", "source": "s", "transaction_id": "tx",
	})
	if err != nil {
		t.Fatal(err)
	}
	bodies = append(bodies, variant)
	for _, s := range schemas {
		for _, body := range bodies {
			diffEnvelope(t, s, body)
			for _, m := range mutations(body[:min(len(body), 64)]) {
				diffEnvelope(t, s, m)
			}
		}
	}
}

// fuzzCases are the payload cases the fuzz target picks from.
func fuzzCases(t testing.TB) []*diffCase {
	return append(contractCases(t), sinkCase(t))
}

// FuzzCompiledPayload: for any body and any of the cases' schemas, the
// compiled reader accepts it iff the reference path does, with the same
// error class, and both build the same row. Errors never quote the body.
func FuzzCompiledPayload(f *testing.F) {
	cases := fuzzCases(f)
	_, bodies := vectorPayloads(f)
	for _, b := range bodies[:3] {
		for i := range cases {
			f.Add(uint8(i), b)
		}
	}
	sink := cases[len(cases)-1]
	for _, b := range sinkBodies(f, sink.w) {
		f.Add(uint8(len(cases)-1), b)
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		c := cases[int(which)%len(cases)]
		diffPayload(t, c, body)
		var r PayloadRecord
		if err := decodePayloadInto(c.w, body, &r); err != nil && len(body) >= 24 && strings.Contains(err.Error(), string(body)) {
			t.Fatalf("error %q quotes the body", err)
		}
	})
}

// FuzzCompiledEnvelope: for any body, the compiled envelope reader agrees
// with goavro on the contract envelope and on a variant.
func FuzzCompiledEnvelope(f *testing.F) {
	v := loadVectors(f)
	schemas := envelopeSchemas(f)
	for _, vec := range v.Valid[:3] {
		if _, body, err := ParseFrame(mustB64(f, vec.ValueB64)); err == nil {
			f.Add(uint8(0), body)
		}
	}
	f.Add(uint8(1), []byte{0x02, 0x00, 0x02})
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		diffEnvelope(t, schemas[int(which)%len(schemas)], body)
	})
}

// TestCompiledInvalidVectors: the invalid contract vectors whose payload
// is reached get the same class from DecodePayload as from Payload, and
// DecodePayload's message quotes no plaintext.
func TestCompiledInvalidVectors(t *testing.T) {
	v := loadVectors(t)
	dec := NewDecoder(seededRegistry(t, v))
	kr := v.keyring(t)
	ctx := context.Background()
	reached := 0
	for _, vec := range v.Invalid {
		env, err := dec.Envelope(ctx, mustB64(t, vec.ValueB64))
		if err != nil {
			continue
		}
		pt, err := kr.Open(nil, env.KeyID, env.Payload, []byte(env.TransactionID))
		if err != nil {
			continue
		}
		reached++
		_, refErr := dec.Payload(ctx, pt)
		var r PayloadRecord
		err = dec.DecodePayload(ctx, pt, &r)
		if class(err) != class(refErr) {
			t.Errorf("%s: class %q (%v), Payload gives %q (%v)", vec.Name, class(err), err, class(refErr), refErr)
		}
		if err == nil {
			continue
		}
		for _, secret := range secretsOf(decoded{plaintext: pt}) {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error %q contains plaintext %q", vec.Name, err, secret)
			}
		}
	}
	if reached == 0 {
		t.Fatal("no invalid vector reaches the payload")
	}
	t.Logf("%d invalid vectors reach the payload", reached)
}
