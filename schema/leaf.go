package schema

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"sync"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	"github.com/google/uuid"
)

// leafConv appends one non-null flat value held in a slot and reports
// whether it could; a value it cannot append is appended as null by the
// caller.
type leafConv func(b array.Builder, s *slot) bool

// leafAppender checks that the flat writer type w fits the Arrow column
// col exactly and returns the conversion of a value of w held in a slot
// filled the way op says (the compiled reader's op for w, or nativeOp's for
// a value goavro decoded; symbols resolve opEnum). It is the one place
// where a flat Avro value meets its column: the compiled reader's records
// and goavro's values both go through it.
//
// An error means no value of w can be written exactly to col (the table
// was not evolved first). A combination that is accepted but whose values
// never fit (a uuid logical type on an int, say) appends null.
func leafAppender(col arrow.DataType, w *avroType, op readOp, symbols []string) (leafConv, error) {
	never := func(array.Builder, *slot) bool { return false }
	switch col.ID() {
	case arrow.EXTENSION:
		if _, ok := col.(*extensions.UUIDType); ok && w.logical == "uuid" {
			if op != opString && op != opBytes && op != opFixed && op != opEnum {
				return never, nil
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
					u, err = uuid.Parse(symbols[s.i])
				default:
					u, err = uuid.FromBytes(s.b)
				}
				if err != nil {
					return false
				}
				ub.Append(u)
				return true
			}, nil
		}
	case arrow.TIME64:
		if w.logical == "time-millis" || w.logical == "time-micros" {
			unit := col.(*arrow.Time64Type).Unit
			if op != opTimeMillis && op != opTimeMicros {
				return never, nil
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
			}, nil
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
				}, nil
			case opEnum:
				return func(b array.Builder, s *slot) bool {
					bb := binaryBuilderOf(b)
					if bb == nil {
						return false
					}
					bb.AppendString(symbols[s.i])
					return true
				}, nil
			}
			return never, nil
		}
	case arrow.BINARY, arrow.LARGE_BINARY:
		if w.kind == avroBytes && w.logical == "" {
			if op != opBytes {
				return never, nil
			}
			return func(b array.Builder, s *slot) bool {
				bb, ok := b.(*array.BinaryBuilder)
				if ok {
					bb.Append(s.b)
				}
				return ok
			}, nil
		}
	case arrow.FIXED_SIZE_BINARY:
		size := col.(*arrow.FixedSizeBinaryType).ByteWidth
		if w.kind == avroFixed && w.logical == "" && w.size == size {
			if op != opFixed {
				return never, nil
			}
			return func(b array.Builder, s *slot) bool {
				fb, ok := b.(*array.FixedSizeBinaryBuilder)
				if ok && len(s.b) == size {
					fb.Append(s.b)
					return true
				}
				return false
			}, nil
		}
	case arrow.BOOL:
		if w.kind == avroBoolean {
			return func(b array.Builder, s *slot) bool {
				bb, ok := b.(*array.BooleanBuilder)
				if ok {
					bb.Append(s.i != 0)
				}
				return ok
			}, nil
		}
	case arrow.INT32:
		if w.kind == avroInt && w.logical == "" {
			if op != opInt {
				return never, nil
			}
			return func(b array.Builder, s *slot) bool {
				ib, ok := b.(*array.Int32Builder)
				if ok {
					ib.Append(int32(s.i))
				}
				return ok
			}, nil
		}
	case arrow.INT64:
		if (w.kind == avroInt || w.kind == avroLong) && w.logical == "" {
			if op != opInt && op != opLong {
				return never, nil
			}
			return func(b array.Builder, s *slot) bool {
				ib, ok := b.(*array.Int64Builder)
				if ok {
					ib.Append(s.i)
				}
				return ok
			}, nil
		}
	case arrow.FLOAT32:
		if w.kind == avroFloat {
			return func(b array.Builder, s *slot) bool {
				fb, ok := b.(*array.Float32Builder)
				if ok {
					fb.Append(math.Float32frombits(uint32(s.i)))
				}
				return ok
			}, nil
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
			}, nil
		case w.kind == avroDouble:
			return func(b array.Builder, s *slot) bool {
				fb, ok := b.(*array.Float64Builder)
				if ok {
					fb.Append(math.Float64frombits(uint64(s.i)))
				}
				return ok
			}, nil
		}
	case arrow.DECIMAL128:
		dt := col.(*arrow.Decimal128Type)
		if w.logical != "decimal" || (w.kind != avroBytes && w.kind != avroFixed) {
			break
		}
		if op != opDecimal && op != opDecimalFixed {
			return never, nil
		}
		if int32(w.scale) != dt.Scale || int32(w.precision) > dt.Precision || dt.Precision < 1 || dt.Precision > maxDecimalPrecision {
			return nil, fmt.Errorf("decimal(%d,%d) into decimal(%d,%d)", w.precision, w.scale, dt.Precision, dt.Scale)
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
		}, nil
	case arrow.TIMESTAMP:
		local := col.(*arrow.TimestampType).TimeZone == ""
		if local && w.kind == avroLong && (w.logical == "local-timestamp-millis" || w.logical == "local-timestamp-micros") {
			if op != opLong {
				return never, nil
			}
			mul := int64(1)
			if w.logical == "local-timestamp-millis" {
				mul = 1000
			}
			if col.(*arrow.TimestampType).Unit != arrow.Microsecond {
				return never, nil
			}
			return func(b array.Builder, s *slot) bool {
				tb, ok := b.(*array.TimestampBuilder)
				if ok {
					tb.Append(arrow.Timestamp(s.i * mul))
				}
				return ok
			}, nil
		}
		if !local && w.kind == avroLong && (w.logical == "timestamp-millis" || w.logical == "timestamp-micros") {
			conv, err := timestampConv(col)
			if err != nil {
				return nil, err
			}
			switch op {
			case opTimestampMillis:
				return func(b array.Builder, s *slot) bool {
					tb, ok := b.(*array.TimestampBuilder)
					if ok {
						tb.Append(conv(timestampMillis(s.i)))
					}
					return ok
				}, nil
			case opTimestampMicros:
				return func(b array.Builder, s *slot) bool {
					tb, ok := b.(*array.TimestampBuilder)
					if ok {
						tb.Append(conv(timestampMicros(s.i)))
					}
					return ok
				}, nil
			}
			return never, nil
		}
	case arrow.DATE32:
		if w.kind == avroInt && w.logical == "date" {
			if op != opDate {
				return never, nil
			}
			return func(b array.Builder, s *slot) bool {
				db, ok := b.(*array.Date32Builder)
				if ok {
					db.Append(arrow.Date32FromTime(dateOf(s.i)))
				}
				return ok
			}, nil
		}
	}
	return nil, errors.New("unsupported combination")
}

// nativeOp is the readOp whose slot form fromNative gives a value goavro
// decoded for the flat type w: the compiled reader's op for the same type,
// except that an enum arrives as its symbol (a string), and the types the
// compiled reader leaves to goavro are read as the Go type goavro gives.
func nativeOp(w *avroType) readOp {
	if op, ok := flatOp(w); ok && op != opEnum {
		return op
	}
	switch w.kind {
	case avroBoolean:
		return opBoolean
	case avroInt:
		return opInt
	case avroLong:
		return opLong
	case avroBytes:
		if w.logical == "decimal" {
			return opDecimal
		}
		return opBytes
	case avroFixed:
		if w.logical == "decimal" {
			return opDecimalFixed
		}
		return opFixed
	}
	return opString // string (validated-string too) and enum symbols
}

// fromNative fills s with v, a non-null value of the Go type goavro gives
// for op (the inverse of fieldReader.native), a decimal at the writer's
// scale. It reports false for a value of another Go type, or a decimal
// that does not fit 38 digits at that scale. A string is not copied: s.b
// aliases it, and leaf conversions only read s.b.
func fromNative(v any, op readOp, scale int32, s *slot) bool {
	switch op {
	case opBoolean:
		x, ok := v.(bool)
		if x {
			s.i = 1
		}
		return ok
	case opInt, opLong:
		switch x := v.(type) {
		case int32:
			s.i = int64(x)
		case int64:
			s.i = x
		default:
			return false
		}
		return true
	case opFloat:
		x, ok := v.(float32)
		s.i = int64(math.Float32bits(x))
		return ok
	case opDouble:
		x, ok := v.(float64)
		s.i = int64(math.Float64bits(x))
		return ok
	case opBytes, opFixed:
		x, ok := v.([]byte)
		s.b = x
		return ok
	case opString:
		x, ok := v.(string)
		s.b = unsafe.Slice(unsafe.StringData(x), len(x))
		return ok
	case opDecimal, opDecimalFixed:
		r, ok := v.(*big.Rat)
		if !ok {
			return false
		}
		s.dec, ok = ratToDecimal128(r, maxDecimalPrecision, scale)
		return ok
	case opDate:
		t, ok := v.(time.Time)
		s.i = int64(arrow.Date32FromTime(t))
		return ok
	case opTimeMillis:
		d, ok := v.(time.Duration)
		s.i = d.Milliseconds()
		return ok
	case opTimeMicros:
		d, ok := v.(time.Duration)
		s.i = d.Microseconds()
		return ok
	case opTimestampMillis:
		t, ok := v.(time.Time)
		s.i = t.UnixMilli()
		return ok
	case opTimestampMicros:
		t, ok := v.(time.Time)
		s.i = t.UnixMicro()
		return ok
	}
	return false
}

// nativeLeaf is leafAppender for a flat value as goavro decodes it.
func nativeLeaf(col arrow.DataType, w *avroType) (valueConv, error) {
	op := nativeOp(w)
	conv, err := leafAppender(col, w, op, nil)
	if err != nil {
		return nil, err
	}
	scale := int32(w.scale)
	return func(b array.Builder, v any) bool {
		// A slot on the stack would escape through conv: one allocation
		// per value. The pool keeps goavro's path at its own allocations.
		s := scratchSlots.Get().(*slot)
		ok := fromNative(v, op, scale, s) && conv(b, s)
		*s = slot{}
		scratchSlots.Put(s)
		return ok
	}, nil
}

var scratchSlots = sync.Pool{New: func() any { return new(slot) }}
