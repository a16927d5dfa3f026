package schema

import (
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
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
func NewAppender(row *arrow.Schema, payload *Schema) (*Appender, error) {
	if payload == nil {
		return nil, fmt.Errorf("schema: appender: nil payload schema")
	}
	if payload.paymentErr != nil {
		return nil, fmt.Errorf("schema: appender: %w: schema %d: %w", ErrIncompatibleSchema, payload.ID, payload.paymentErr)
	}
	a := &Appender{row: row, schemaID: payload.ID, fns: make([]appendFn, row.NumFields())}
	for i, f := range row.Fields() {
		fn, err := compileField(f, payload)
		if err != nil {
			return nil, fmt.Errorf("schema: appender: column %q: %w", f.Name, err)
		}
		a.fns[i] = fn
	}
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

func compileField(f arrow.Field, payload *Schema) (appendFn, error) {
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
	return compilePayloadField(f, payload)
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
func compilePayloadField(f arrow.Field, payload *Schema) (appendFn, error) {
	af, ok := payload.root.field(f.Name)
	if !ok {
		if !f.Nullable {
			return nil, fmt.Errorf("%w: required column is missing from writer schema %d", ErrIncompatibleSchema, payload.ID)
		}
		return func(b array.Builder, _ *Envelope, _ *Payload, _ RowMeta) { b.AppendNull() }, nil
	}
	w, union := af.typ.nullable()
	if !union && w.kind == avroUnion && len(w.branches) == 1 {
		w, union = w.branches[0], true
	}
	if union && !f.Nullable {
		return nil, fmt.Errorf("%w: writer type %s is nullable, column is required", ErrIncompatibleSchema, af.typ)
	}
	conv, err := valueAppender(f.Type, w)
	if err != nil {
		return nil, fmt.Errorf("%w: writer type %s cannot be written exactly to arrow type %s: %w", ErrIncompatibleSchema, af.typ, f.Type, err)
	}
	name, branch := f.Name, unionBranchName(w)
	return func(b array.Builder, _ *Envelope, p *Payload, _ RowMeta) {
		if p == nil {
			b.AppendNull()
			return
		}
		v := p.Fields[name]
		if union {
			v = unwrapUnion(v, branch)
		}
		if v == nil || !conv(b, v) {
			b.AppendNull()
		}
	}, nil
}

// unionBranchName is the key goavro gives a non-null union value of type w:
// the type's full name for named types, "<type>.<logicalType>" for logical
// types of primitives, else the primitive's name.
func unionBranchName(w *avroType) string {
	switch {
	case w.name != "":
		return w.name
	case w.logical != "":
		return w.kind.String() + "." + w.logical
	}
	return w.kind.String()
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
func valueAppender(col arrow.DataType, w *avroType) (valueConv, error) {
	switch col.ID() {
	case arrow.STRING, arrow.LARGE_STRING:
		if (w.kind == avroString || w.kind == avroEnum) && w.logical != "decimal" {
			return func(b array.Builder, v any) bool {
				s, ok := v.(string)
				sb, ok2 := b.(stringBuilder)
				if ok && ok2 {
					sb.Append(s)
				}
				return ok && ok2
			}, nil
		}
	case arrow.BINARY, arrow.LARGE_BINARY:
		if (w.kind == avroBytes || w.kind == avroFixed) && w.logical != "decimal" {
			return func(b array.Builder, v any) bool {
				bs, ok := v.([]byte)
				bb, ok2 := b.(*array.BinaryBuilder)
				if ok && ok2 {
					bb.Append(bs)
				}
				return ok && ok2
			}, nil
		}
	case arrow.FIXED_SIZE_BINARY:
		size := col.(*arrow.FixedSizeBinaryType).ByteWidth
		if w.kind == avroFixed && w.logical != "decimal" && w.size == size {
			return func(b array.Builder, v any) bool {
				bs, ok := v.([]byte)
				fb, ok2 := b.(*array.FixedSizeBinaryBuilder)
				if ok && ok2 && len(bs) == size {
					fb.Append(bs)
					return true
				}
				return false
			}, nil
		}
	case arrow.BOOL:
		if w.kind == avroBoolean {
			return func(b array.Builder, v any) bool {
				x, ok := v.(bool)
				bb, ok2 := b.(*array.BooleanBuilder)
				if ok && ok2 {
					bb.Append(x)
				}
				return ok && ok2
			}, nil
		}
	case arrow.INT32:
		if w.kind == avroInt && w.logical == "" {
			return func(b array.Builder, v any) bool {
				x, ok := v.(int32)
				ib, ok2 := b.(*array.Int32Builder)
				if ok && ok2 {
					ib.Append(x)
				}
				return ok && ok2
			}, nil
		}
	case arrow.INT64:
		if (w.kind == avroInt || w.kind == avroLong) && w.logical == "" {
			return func(b array.Builder, v any) bool {
				ib, ok := b.(*array.Int64Builder)
				if !ok {
					return false
				}
				switch x := v.(type) {
				case int64:
					ib.Append(x)
				case int32:
					ib.Append(int64(x))
				default:
					return false
				}
				return true
			}, nil
		}
	case arrow.FLOAT32:
		if w.kind == avroFloat {
			return func(b array.Builder, v any) bool {
				x, ok := v.(float32)
				fb, ok2 := b.(*array.Float32Builder)
				if ok && ok2 {
					fb.Append(x)
				}
				return ok && ok2
			}, nil
		}
	case arrow.FLOAT64:
		if w.kind == avroFloat || w.kind == avroDouble {
			return func(b array.Builder, v any) bool {
				fb, ok := b.(*array.Float64Builder)
				if !ok {
					return false
				}
				switch x := v.(type) {
				case float64:
					fb.Append(x)
				case float32:
					fb.Append(float64(x))
				default:
					return false
				}
				return true
			}, nil
		}
	case arrow.DECIMAL128:
		dt := col.(*arrow.Decimal128Type)
		if w.logical != "decimal" || (w.kind != avroBytes && w.kind != avroFixed) {
			break
		}
		if int32(w.scale) != dt.Scale || int32(w.precision) > dt.Precision {
			return nil, fmt.Errorf("decimal(%d,%d) into decimal(%d,%d)", w.precision, w.scale, dt.Precision, dt.Scale)
		}
		return func(b array.Builder, v any) bool {
			r, ok := v.(*big.Rat)
			db, ok2 := b.(*array.Decimal128Builder)
			if !ok || !ok2 {
				return false
			}
			n, ok := ratToDecimal128(r, dt.Precision, dt.Scale)
			if ok {
				db.Append(n)
			}
			return ok
		}, nil
	case arrow.TIMESTAMP:
		if w.kind == avroLong && (w.logical == "timestamp-millis" || w.logical == "timestamp-micros") {
			conv, err := timestampConv(col)
			if err != nil {
				return nil, err
			}
			return func(b array.Builder, v any) bool {
				t, ok := v.(time.Time)
				tb, ok2 := b.(*array.TimestampBuilder)
				if ok && ok2 {
					tb.Append(conv(t))
				}
				return ok && ok2
			}, nil
		}
	case arrow.DATE32:
		if w.kind == avroInt && w.logical == "date" {
			return func(b array.Builder, v any) bool {
				t, ok := v.(time.Time)
				db, ok2 := b.(*array.Date32Builder)
				if ok && ok2 {
					db.Append(arrow.Date32FromTime(t))
				}
				return ok && ok2
			}, nil
		}
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
