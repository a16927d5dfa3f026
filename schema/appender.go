package schema

import (
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	iceberggo "github.com/apache/iceberg-go"
)

// RowMeta is the Kafka position of a record, stored in the _kafka_* columns.
type RowMeta struct {
	Topic     string
	Partition int32
	Offset    int64
}

// Appender appends decoded records to an Arrow RecordBuilder whose schema is
// the table's row schema (the table's Arrow schema without _ingested_at; see
// RowArrowSchema). It is compiled once per (row schema, payload schema) pair;
// it holds no mutable state and is safe for concurrent use on different
// builders.
type Appender struct {
	row      *arrow.Schema
	schemaID uint32
	fns      []appendFn
	// fast appends a PayloadRecord decoded by payload's compiled reader
	// (fastappend.go); nil when the schema has none.
	fast   []fastColumn
	reader *readProgram
}

type appendFn func(b array.Builder, env *Envelope, p *Payload, m RowMeta)

type stringBuilder interface {
	Append(string)
	AppendNull()
}

// NewAppender compiles, for every field of row, the function that appends
// its value: transaction_id, event_time and source from the Envelope;
// _kafka_topic, _kafka_partition and _kafka_offset from RowMeta; every other
// column from the payload field of the same name, or null when the writer
// schema has no such field.
//
// It fails (wrapping ErrIncompatibleSchema) when a payload field cannot be
// written exactly to its column — the table was not evolved with Plan's
// changes first — or when a non-nullable column could get a null, and it
// fails when row contains _ingested_at.
func NewAppender(row *arrow.Schema, payload *Schema, opts ...MatchOption) (*Appender, error) {
	if payload == nil {
		return nil, fmt.Errorf("schema: appender: nil payload schema")
	}
	if payload.paymentErr != nil {
		return nil, fmt.Errorf("schema: appender: %w: schema %d: %w", ErrIncompatibleSchema, payload.ID, payload.paymentErr)
	}
	cfg := newMatchConfig(opts)
	a := &Appender{row: row, schemaID: payload.ID, fns: make([]appendFn, row.NumFields())}
	for i, f := range row.Fields() {
		fn, err := compileField(f, payload, &cfg)
		if err != nil {
			return nil, fmt.Errorf("schema: appender: column %q: %w", f.Name, err)
		}
		a.fns[i] = fn
	}
	a.compileFast(payload, &cfg)
	return a, nil
}

// SchemaID returns the id of the payload schema the Appender was compiled for.
func (a *Appender) SchemaID() uint32 { return a.schemaID }

// Append appends one row: exactly one value (possibly null) to every field
// builder of b. b must have been built from the row schema given to
// NewAppender (otherwise nothing is appended), p must have been decoded with
// the Appender's payload schema, and env must not be nil.
//
// Append cannot fail for such inputs: Decoder.Payload has checked every
// decimal against its writer precision and NewAppender has checked every
// writer type against its column. A value of an unexpected Go type (a caller
// bug) is appended as null.
func (a *Appender) Append(b *array.RecordBuilder, env *Envelope, p *Payload, m RowMeta) {
	fields := b.Fields()
	if len(fields) != len(a.fns) {
		return
	}
	for i, fn := range a.fns {
		fn(fields[i], env, p, m)
	}
}

func compileField(f arrow.Field, payload *Schema, cfg *matchConfig) (appendFn, error) {
	switch f.Name {
	case TransactionIDColumn:
		return envString(f, func(e *Envelope) string { return e.TransactionID })
	case SourceColumn:
		return envString(f, func(e *Envelope) string { return e.Source })
	case EventTimeColumn:
		conv, err := timestampConv(f.Type)
		if err != nil {
			return nil, err
		}
		return func(b array.Builder, env *Envelope, _ *Payload, _ RowMeta) {
			tb, ok := b.(*array.TimestampBuilder)
			if !ok {
				b.AppendNull()
				return
			}
			tb.Append(conv(env.EventTime))
		}, nil
	case KafkaTopicColumn:
		if !isStringType(f.Type) {
			return nil, fmt.Errorf("arrow type %s, want string", f.Type)
		}
		return func(b array.Builder, _ *Envelope, _ *Payload, m RowMeta) {
			appendString(b, m.Topic)
		}, nil
	case KafkaPartitionColumn:
		switch f.Type.ID() {
		case arrow.INT32, arrow.INT64:
		default:
			return nil, fmt.Errorf("arrow type %s, want int32 or int64", f.Type)
		}
		return func(b array.Builder, _ *Envelope, _ *Payload, m RowMeta) {
			appendInt(b, int64(m.Partition))
		}, nil
	case KafkaOffsetColumn:
		if f.Type.ID() != arrow.INT64 {
			return nil, fmt.Errorf("arrow type %s, want int64", f.Type)
		}
		return func(b array.Builder, _ *Envelope, _ *Payload, m RowMeta) {
			appendInt(b, m.Offset)
		}, nil
	case IngestedAtColumn:
		return nil, fmt.Errorf("the row schema must not contain %s (use RowArrowSchema)", IngestedAtColumn)
	}
	return compilePayloadField(f, payload, cfg)
}

func envString(f arrow.Field, get func(*Envelope) string) (appendFn, error) {
	if !isStringType(f.Type) {
		return nil, fmt.Errorf("arrow type %s, want string", f.Type)
	}
	return func(b array.Builder, env *Envelope, _ *Payload, _ RowMeta) {
		appendString(b, get(env))
	}, nil
}

func isStringType(t arrow.DataType) bool {
	return t.ID() == arrow.STRING || t.ID() == arrow.LARGE_STRING
}

func appendString(b array.Builder, v string) {
	if sb, ok := b.(stringBuilder); ok {
		sb.Append(v)
		return
	}
	b.AppendNull()
}

func appendInt(b array.Builder, v int64) {
	switch ib := b.(type) {
	case *array.Int64Builder:
		ib.Append(v)
	case *array.Int32Builder:
		ib.Append(int32(v))
	default:
		b.AppendNull()
	}
}

// timestampConv returns the conversion of a time to the column's unit.
func timestampConv(t arrow.DataType) (func(time.Time) arrow.Timestamp, error) {
	ts, ok := t.(*arrow.TimestampType)
	if !ok {
		return nil, fmt.Errorf("arrow type %s, want timestamp", t)
	}
	switch ts.Unit {
	case arrow.Second:
		return func(t time.Time) arrow.Timestamp { return arrow.Timestamp(t.Unix()) }, nil
	case arrow.Millisecond:
		return func(t time.Time) arrow.Timestamp { return arrow.Timestamp(t.UnixMilli()) }, nil
	case arrow.Microsecond:
		return func(t time.Time) arrow.Timestamp { return arrow.Timestamp(t.UnixMicro()) }, nil
	default:
		return func(t time.Time) arrow.Timestamp { return arrow.Timestamp(t.UnixNano()) }, nil
	}
}

// compilePayloadField compiles the appender of a payload column.
func compilePayloadField(f arrow.Field, payload *Schema, cfg *matchConfig) (appendFn, error) {
	var af *avroField
	if i := matchPayloadField(f, payload, cfg); i >= 0 {
		af = &payload.root.fields[i]
	}
	if af == nil {
		if !f.Nullable {
			return nil, fmt.Errorf("%w: required column is missing from writer schema %d", ErrIncompatibleSchema, payload.ID)
		}
		return func(b array.Builder, _ *Envelope, _ *Payload, _ RowMeta) { b.AppendNull() }, nil
	}
	conv, err := fieldConv(f, af.typ, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: writer type %s cannot be written exactly to arrow type %s: %w", ErrIncompatibleSchema, af.typ, f.Type, err)
	}
	name := af.name
	return func(b array.Builder, _ *Envelope, p *Payload, _ RowMeta) {
		if p == nil || !conv(b, p.Fields[name]) {
			b.AppendNull()
		}
	}, nil
}

// matchPayloadField returns the index of the writer field that fills the
// column f, or -1.
func matchPayloadField(f arrow.Field, payload *Schema, cfg *matchConfig) int {
	fields := []iceberggo.NestedField{{ID: arrowFieldID(f), Name: f.Name}}
	at := -1
	members := recordMembers(payload.root)
	names := memberNames(members)
	for i, m := range members {
		if j, how := cfg.matchMember(fields, m, names); j == 0 && how != noMatch {
			at = i
			if how == exactMatch {
				break
			}
		}
	}
	return at
}

// arrowFieldID is the Iceberg field id iceberg-go stores in an Arrow
// field's metadata, or -1.
func arrowFieldID(f arrow.Field) int {
	if v, ok := f.Metadata.GetValue("PARQUET:field_id"); ok {
		if id, err := strconv.Atoi(v); err == nil {
			return id
		}
	}
	return -1
}

// fieldConv compiles the conversion of a writer value of type w (possibly
// a union) into the column f.
func fieldConv(f arrow.Field, w *avroType, cfg *matchConfig) (valueConv, error) {
	inner, nullable := unwrapNullable(w)
	if nullable && !f.Nullable {
		return nil, fmt.Errorf("writer type %s is nullable, column %s is required", w, f.Name)
	}
	if inner.kind == avroUnion {
		return unionConv(f.Type, inner, cfg)
	}
	conv, err := valueAppender(f.Type, inner, cfg)
	if err != nil {
		return nil, err
	}
	if !nullable {
		return conv, nil
	}
	branch := unionBranchName(inner)
	return func(b array.Builder, v any) bool {
		v = unwrapUnion(v, branch)
		return v != nil && conv(b, v)
	}, nil
}

// unionConv fills the struct a union other than ["null", T] maps to: the
// member of the value's branch is set, the others are null.
func unionConv(col arrow.DataType, w *avroType, cfg *matchConfig) (valueConv, error) {
	st, ok := col.(*arrow.StructType)
	if !ok {
		return nil, fmt.Errorf("union %s into arrow type %s, want a struct", w, col)
	}
	type slot struct {
		idx  int
		conv valueConv
	}
	slots := map[string]slot{}
	for _, b := range w.branches {
		if b.kind == avroNull {
			continue
		}
		idx, ok := st.FieldIdx(unionMemberName(b))
		if !ok {
			return nil, fmt.Errorf("union branch %s has no member %q in the column", b, unionMemberName(b))
		}
		conv, err := valueAppender(st.Field(idx).Type, b, cfg)
		if err != nil {
			return nil, fmt.Errorf("union member %q: %w", unionMemberName(b), err)
		}
		slots[unionBranchName(b)] = slot{idx, conv}
	}
	return func(b array.Builder, v any) bool {
		m, ok := v.(map[string]any)
		sb, ok2 := b.(*array.StructBuilder)
		if !ok || !ok2 || len(m) != 1 {
			return false
		}
		var s slot
		var x any
		for k, val := range m {
			s, ok = slots[k]
			x = val
		}
		if !ok {
			return false
		}
		sb.Append(true)
		for i := 0; i < sb.NumField(); i++ {
			fb := sb.FieldBuilder(i)
			if i != s.idx || !s.conv(fb, x) {
				fb.AppendNull()
			}
		}
		return true
	}, nil
}

// recordConv fills a struct column from a record value, matching fields
// like the top level does.
func recordConv(st *arrow.StructType, w *avroType, cfg *matchConfig) (valueConv, error) {
	members := recordMembers(w)
	names := memberNames(members)
	srcs := make([]string, st.NumFields())
	convs := make([]valueConv, st.NumFields())
	for i, f := range st.Fields() {
		cols := []iceberggo.NestedField{{ID: arrowFieldID(f), Name: f.Name}}
		for _, m := range members {
			if j, how := cfg.matchMember(cols, m, names); j == 0 && how != noMatch {
				srcs[i] = m.name
				if how == exactMatch {
					break
				}
			}
		}
		if srcs[i] == "" {
			if !f.Nullable {
				return nil, fmt.Errorf("required field %q is missing from record %s", f.Name, w.name)
			}
			continue
		}
		af, _ := w.field(srcs[i])
		conv, err := fieldConv(f, af.typ, cfg)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", f.Name, err)
		}
		convs[i] = conv
	}
	return func(b array.Builder, v any) bool {
		m, ok := v.(map[string]any)
		sb, ok2 := b.(*array.StructBuilder)
		if !ok || !ok2 {
			return false
		}
		sb.Append(true)
		for i, conv := range convs {
			fb := sb.FieldBuilder(i)
			if conv == nil || !conv(fb, m[srcs[i]]) {
				fb.AppendNull()
			}
		}
		return true
	}, nil
}

func listConv(lt arrow.ListLikeType, w *avroType, cfg *matchConfig) (valueConv, error) {
	elem, err := fieldConv(lt.ElemField(), w.items, cfg)
	if err != nil {
		return nil, fmt.Errorf("element: %w", err)
	}
	return func(b array.Builder, v any) bool {
		items, ok := v.([]any)
		lb, ok2 := b.(array.ListLikeBuilder)
		if !ok || !ok2 {
			return false
		}
		lb.Append(true)
		vb := lb.ValueBuilder()
		for _, x := range items {
			if !elem(vb, x) {
				vb.AppendNull()
			}
		}
		return true
	}, nil
}

func mapConv(mt *arrow.MapType, w *avroType, cfg *matchConfig) (valueConv, error) {
	if !isStringType(mt.KeyType()) {
		return nil, fmt.Errorf("map key type %s, want string", mt.KeyType())
	}
	val, err := fieldConv(mt.ItemField(), w.values, cfg)
	if err != nil {
		return nil, fmt.Errorf("value: %w", err)
	}
	return func(b array.Builder, v any) bool {
		m, ok := v.(map[string]any)
		mb, ok2 := b.(*array.MapBuilder)
		if !ok || !ok2 {
			return false
		}
		mb.Append(true)
		kb, ib := mb.KeyBuilder(), mb.ItemBuilder()
		for _, k := range slices.Sorted(maps.Keys(m)) {
			appendString(kb, k)
			if !val(ib, m[k]) {
				ib.AppendNull()
			}
		}
		return true
	}, nil
}

// unionBranchName is the key goavro gives a non-null union value of type w:
// the type's full name for named types, "<type>.<logicalType>" for the
// logical types goavro implements, else the primitive's name.
func unionBranchName(w *avroType) string {
	switch {
	case w.name != "":
		return w.name
	case goavroLogical(w):
		return w.kind.String() + "." + w.logical
	}
	return w.kind.String()
}

// goavroLogical reports whether goavro decodes w's logical type itself
// (others decode as the underlying primitive).
func goavroLogical(w *avroType) bool {
	switch w.kind.String() + "." + w.logical {
	case "long.timestamp-millis", "long.timestamp-micros", "int.time-millis", "long.time-micros",
		"int.date", "bytes.decimal":
		return true
	}
	return false
}

// unwrapUnion returns the value inside goavro's map[string]any{branch: v}
// form of a union value (nil stays nil).
func unwrapUnion(v any, branch string) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	if x, ok := m[branch]; ok {
		return x
	}
	if len(m) == 1 {
		for _, x := range m {
			return x
		}
	}
	return nil
}

// valueConv appends a native goavro value and reports whether it could.
type valueConv func(b array.Builder, v any) bool

// valueAppender checks that a writer type fits an Arrow column exactly and
// returns the conversion.
func valueAppender(col arrow.DataType, w *avroType, cfg *matchConfig) (valueConv, error) {
	switch col.ID() {
	case arrow.STRUCT:
		if w.kind == avroRecord {
			return recordConv(col.(*arrow.StructType), w, cfg)
		}
		if w.kind == avroUnion {
			return unionConv(col, w, cfg)
		}
	case arrow.LIST, arrow.LARGE_LIST:
		if w.kind == avroArray {
			return listConv(col.(arrow.ListLikeType), w, cfg)
		}
	case arrow.MAP:
		if w.kind == avroMap {
			return mapConv(col.(*arrow.MapType), w, cfg)
		}
	default:
		return nativeLeaf(col, w)
	}
	return nil, errors.New("unsupported combination")
}

// pow10 holds 10^0 .. 10^18.
var pow10 = func() (p [19]int64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// ratToDecimal128 converts r to an unscaled decimal128 at scale, exactly:
// it reports false if r has more fractional digits than scale or more than
// precision digits in all.
func ratToDecimal128(r *big.Rat, precision, scale int32) (decimal128.Num, bool) {
	num, den := r.Num(), r.Denom()
	var n decimal128.Num
	if num.IsInt64() && den.IsInt64() && scale >= 0 && int(scale) < len(pow10) {
		mul, d := pow10[scale], den.Int64()
		if mul%d != 0 {
			return decimal128.Num{}, false // more fractional digits than scale
		}
		n = decimal128.FromI64(num.Int64()).Mul(decimal128.FromI64(mul / d))
	} else {
		x := new(big.Int).Mul(num, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil))
		q, m := x.QuoRem(x, den, new(big.Int))
		if m.Sign() != 0 || q.BitLen() > 127 {
			return decimal128.Num{}, false
		}
		n = decimal128.FromBigInt(q)
	}
	if !n.FitsInPrecision(precision) {
		return decimal128.Num{}, false
	}
	return n, true
}
