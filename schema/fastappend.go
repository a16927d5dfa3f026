package schema

import (
	"math"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	"github.com/google/uuid"
)

// The fast appender: appends a PayloadRecord decoded by the compiled reader
// (fastread.go) straight from its typed slots to the column builders. Each
// conversion mirrors the valueAppender case it replaces, applied to the Go
// value goavro would have produced (the readOp says which), so that a row is
// the same whichever path built it; a value the reference conversion would
// refuse is appended as null here too.

// fastColumn appends one column of a row.
type fastColumn struct {
	legacy appendFn // envelope and RowMeta columns: the reference function
	src    int      // index of the writer field in the reader; -1: null
	conv   fastConv
}

// fastConv appends a non-null slot and reports whether it could.
type fastConv func(b array.Builder, s *slot) bool

// compileFast compiles the fast appender when payload has a compiled
// reader and every payload column's conversion has a fast form.
func (a *Appender) compileFast(payload *Schema, cfg *matchConfig) {
	if payload.reader == nil {
		return
	}
	cols := make([]fastColumn, a.row.NumFields())
	for i, f := range a.row.Fields() {
		switch f.Name {
		case TransactionIDColumn, SourceColumn, EventTimeColumn, KafkaTopicColumn, KafkaPartitionColumn, KafkaOffsetColumn:
			cols[i] = fastColumn{legacy: a.fns[i]}
			continue
		}
		j := matchPayloadField(f, payload, cfg)
		if j < 0 {
			cols[i] = fastColumn{src: -1}
			continue
		}
		conv := fastValueConv(f.Type, &payload.reader.fields[j])
		if conv == nil {
			return
		}
		cols[i] = fastColumn{src: j, conv: conv}
	}
	a.fast, a.reader = cols, payload.reader
}

// AppendRecord appends one row like Append, from a PayloadRecord decoded
// with the Appender's payload schema. A record from the compiled reader is
// appended from its typed values when the Appender has a fast form for
// every column; otherwise (and for a record goavro decoded) it goes through
// Append. It never appends a partial row: the record was validated whole
// when it was decoded, and appending cannot fail.
func (a *Appender) AppendRecord(b *array.RecordBuilder, env *Envelope, r *PayloadRecord, m RowMeta) {
	if !r.fast || a.fast == nil || r.schema.reader != a.reader {
		p := r.Payload()
		a.Append(b, env, &p, m)
		return
	}
	fields := b.Fields()
	if len(fields) != len(a.fast) {
		return
	}
	for i := range a.fast {
		c := &a.fast[i]
		fb := fields[i]
		switch {
		case c.legacy != nil:
			c.legacy(fb, env, nil, m)
		case c.src < 0:
			fb.AppendNull()
		default:
			s := &r.slots[c.src]
			if s.null || !c.conv(fb, s) {
				fb.AppendNull()
			}
		}
	}
}

// binaryBuilderOf returns the byte builder under a string column's builder.
func binaryBuilderOf(b array.Builder) *array.BinaryBuilder {
	switch sb := b.(type) {
	case *array.StringBuilder:
		return sb.BinaryBuilder
	case *array.LargeStringBuilder:
		return sb.BinaryBuilder
	}
	return nil
}

// fastValueConv is valueAppender for a flat writer value decoded by f, or
// nil when it has no fast form. It is only called for combinations
// valueAppender accepted; for the others it may return anything.
func fastValueConv(col arrow.DataType, f *fieldReader) fastConv {
	w, op := f.typ, f.op
	never := func(array.Builder, *slot) bool { return false }
	switch col.ID() {
	case arrow.EXTENSION:
		if _, ok := col.(*extensions.UUIDType); ok && w.logical == "uuid" {
			if op != opString && op != opBytes && op != opFixed && op != opEnum {
				return never
			}
			return func(b array.Builder, s *slot) bool {
				ub, ok := b.(*extensions.UUIDBuilder)
				if !ok {
					return false
				}
				var u uuid.UUID
				var err error
				switch op {
				case opString:
					u, err = uuid.ParseBytes(s.b)
				case opEnum:
					u, err = uuid.Parse(f.symbols[s.i])
				default:
					u, err = uuid.FromBytes(s.b)
				}
				if err != nil {
					return false
				}
				ub.Append(u)
				return true
			}
		}
	case arrow.TIME64:
		if w.logical == "time-millis" || w.logical == "time-micros" {
			unit := col.(*arrow.Time64Type).Unit
			if op != opTimeMillis && op != opTimeMicros {
				return never
			}
			return func(b array.Builder, s *slot) bool {
				tb, ok := b.(*array.Time64Builder)
				if !ok {
					return false
				}
				d := fastDuration(op, s)
				if unit == arrow.Nanosecond {
					tb.Append(arrow.Time64(d.Nanoseconds()))
				} else {
					tb.Append(arrow.Time64(d.Microseconds()))
				}
				return true
			}
		}
	case arrow.STRING, arrow.LARGE_STRING:
		if (w.kind == avroString || w.kind == avroEnum) && w.logical != "decimal" && w.logical != "uuid" {
			switch op {
			case opString:
				return func(b array.Builder, s *slot) bool {
					bb := binaryBuilderOf(b)
					if bb == nil {
						return false
					}
					bb.Append(s.b)
					return true
				}
			case opEnum:
				return func(b array.Builder, s *slot) bool {
					bb := binaryBuilderOf(b)
					if bb == nil {
						return false
					}
					bb.AppendString(f.symbols[s.i])
					return true
				}
			}
			return never
		}
	case arrow.BINARY, arrow.LARGE_BINARY:
		if w.kind == avroBytes && w.logical == "" {
			if op != opBytes {
				return never
			}
			return func(b array.Builder, s *slot) bool {
				bb, ok := b.(*array.BinaryBuilder)
				if ok {
					bb.Append(s.b)
				}
				return ok
			}
		}
	case arrow.FIXED_SIZE_BINARY:
		size := col.(*arrow.FixedSizeBinaryType).ByteWidth
		if w.kind == avroFixed && w.logical == "" && w.size == size {
			if op != opFixed {
				return never
			}
			return func(b array.Builder, s *slot) bool {
				fb, ok := b.(*array.FixedSizeBinaryBuilder)
				if ok && len(s.b) == size {
					fb.Append(s.b)
					return true
				}
				return false
			}
		}
	case arrow.BOOL:
		if w.kind == avroBoolean {
			return func(b array.Builder, s *slot) bool {
				bb, ok := b.(*array.BooleanBuilder)
				if ok {
					bb.Append(s.i != 0)
				}
				return ok
			}
		}
	case arrow.INT32:
		if w.kind == avroInt && w.logical == "" {
			if op != opInt {
				return never
			}
			return func(b array.Builder, s *slot) bool {
				ib, ok := b.(*array.Int32Builder)
				if ok {
					ib.Append(int32(s.i))
				}
				return ok
			}
		}
	case arrow.INT64:
		if (w.kind == avroInt || w.kind == avroLong) && w.logical == "" {
			if op != opInt && op != opLong {
				return never
			}
			return func(b array.Builder, s *slot) bool {
				ib, ok := b.(*array.Int64Builder)
				if ok {
					ib.Append(s.i)
				}
				return ok
			}
		}
	case arrow.FLOAT32:
		if w.kind == avroFloat {
			return func(b array.Builder, s *slot) bool {
				fb, ok := b.(*array.Float32Builder)
				if ok {
					fb.Append(math.Float32frombits(uint32(s.i)))
				}
				return ok
			}
		}
	case arrow.FLOAT64:
		switch {
		case w.kind == avroFloat:
			return func(b array.Builder, s *slot) bool {
				fb, ok := b.(*array.Float64Builder)
				if ok {
					fb.Append(float64(math.Float32frombits(uint32(s.i))))
				}
				return ok
			}
		case w.kind == avroDouble:
			return func(b array.Builder, s *slot) bool {
				fb, ok := b.(*array.Float64Builder)
				if ok {
					fb.Append(math.Float64frombits(uint64(s.i)))
				}
				return ok
			}
		}
	case arrow.DECIMAL128:
		dt := col.(*arrow.Decimal128Type)
		if w.logical != "decimal" || (w.kind != avroBytes && w.kind != avroFixed) {
			break
		}
		if op != opDecimal && op != opDecimalFixed {
			return never
		}
		if int32(w.scale) != dt.Scale || dt.Precision < 1 || dt.Precision > maxDecimalPrecision {
			return nil // valueAppender refused it, or ratToDecimal128 would
		}
		prec := int(dt.Precision)
		return func(b array.Builder, s *slot) bool {
			// The value is unscaled/10^scale at the column's scale: the
			// unscaled integer itself, if it fits the column's precision
			// (ratToDecimal128).
			db, ok := b.(*array.Decimal128Builder)
			if !ok || s.wide || !absLess(s.dec, prec) {
				return false
			}
			db.Append(s.dec)
			return true
		}
	case arrow.TIMESTAMP:
		local := col.(*arrow.TimestampType).TimeZone == ""
		if local && w.kind == avroLong && (w.logical == "local-timestamp-millis" || w.logical == "local-timestamp-micros") {
			if op != opLong {
				return never
			}
			mul := int64(1)
			if w.logical == "local-timestamp-millis" {
				mul = 1000
			}
			if col.(*arrow.TimestampType).Unit != arrow.Microsecond {
				return never
			}
			return func(b array.Builder, s *slot) bool {
				tb, ok := b.(*array.TimestampBuilder)
				if ok {
					tb.Append(arrow.Timestamp(s.i * mul))
				}
				return ok
			}
		}
		if !local && w.kind == avroLong && (w.logical == "timestamp-millis" || w.logical == "timestamp-micros") {
			conv, err := timestampConv(col)
			if err != nil {
				return nil
			}
			switch op {
			case opTimestampMillis:
				return func(b array.Builder, s *slot) bool {
					tb, ok := b.(*array.TimestampBuilder)
					if ok {
						tb.Append(conv(timestampMillis(s.i)))
					}
					return ok
				}
			case opTimestampMicros:
				return func(b array.Builder, s *slot) bool {
					tb, ok := b.(*array.TimestampBuilder)
					if ok {
						tb.Append(conv(timestampMicros(s.i)))
					}
					return ok
				}
			}
			return never
		}
	case arrow.DATE32:
		if w.kind == avroInt && w.logical == "date" {
			if op != opDate {
				return never
			}
			return func(b array.Builder, s *slot) bool {
				db, ok := b.(*array.Date32Builder)
				if ok {
					db.Append(arrow.Date32FromTime(dateOf(s.i)))
				}
				return ok
			}
		}
	}
	return nil
}

// fastDuration is goavro's time.Duration of a time-millis or time-micros.
func fastDuration(op readOp, s *slot) time.Duration {
	if op == opTimeMillis {
		return time.Duration(int32(s.i)) * time.Millisecond
	}
	return time.Duration(s.i) * time.Microsecond
}
