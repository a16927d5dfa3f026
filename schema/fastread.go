package schema

import (
	"encoding/binary"
	"math"
	"math/big"
	"time"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// The compiled reader: a fast path for decoding a flat record body with
// no goavro and no map per record. A writer schema gets a reader at Compile
// when its top-level type is a record whose every field is a flat value
// (null, boolean, int, long, float, double, bytes, string, enum, fixed and
// the logical types goavro implements on them) or a union of one such value
// with null (["null", T], [T, "null"]) or alone ([T]). Any other schema,
// notably nested records, arrays, maps and unions of several types, keeps
// goavro's path (Schema.reader is nil).
//
// The reader accepts exactly the bodies the reference path (checkBounds,
// then goavro, then the trailing-byte and decimal precision checks) accepts,
// and decodes the same values: the same varint rules (at most 10 bytes, as
// checkBounds enforces; goavro's zig-zag and int32 truncation), booleans 0
// or 1, enum and union indexes in range, lengths within the body.
// The differential tests and fuzz targets (fast_test.go) hold it to that.

// readOp is how the reader decodes one flat value; it also fixes the Go
// type goavro gives the value (see native).
type readOp uint8

const (
	opNull            readOp = iota // nil
	opBoolean                       // bool
	opInt                           // int32 (also int with a logical type goavro does not know)
	opLong                          // int64 (also long with a logical type goavro does not know)
	opFloat                         // float32
	opDouble                        // float64
	opBytes                         // []byte
	opString                        // string
	opEnum                          // string (the symbol)
	opFixed                         // []byte
	opDecimal                       // *big.Rat from bytes
	opDecimalFixed                  // *big.Rat from fixed
	opDate                          // time.Time
	opTimeMillis                    // time.Duration
	opTimeMicros                    // time.Duration
	opTimestampMillis               // time.Time
	opTimestampMicros               // time.Time
)

// Union shapes the reader supports.
const (
	notUnion      = iota
	unionNullLast // [T, "null"]
	unionNullFirst
	unionSingle // [T]
)

// fieldReader decodes one top-level field.
type fieldReader struct {
	name      string
	typ       *avroType // the value's type (the non-null branch of a union)
	op        readOp
	union     uint8
	size      int // fixed
	symbols   []string
	precision int // decimal
	scale     int
}

// readProgram reads one record body, field by field in writer order.
type readProgram struct {
	fields []fieldReader
}

// slot holds one decoded value. Byte slices alias the body.
type slot struct {
	null bool
	i    int64          // boolean (0/1), int, long, enum index, date, times, float bits
	b    []byte         // bytes, string, fixed; a decimal's two's complement bytes
	dec  decimal128.Num // a decimal's unscaled value, unless wide
	wide bool           // the decimal does not fit 128 bits
}

// compileReader returns the reader of root, or nil if root is not a record
// of flat fields.
func compileReader(root *avroType) *readProgram {
	if root == nil || root.kind != avroRecord || len(root.fields) == 0 {
		return nil
	}
	p := &readProgram{fields: make([]fieldReader, len(root.fields))}
	for i, f := range root.fields {
		fr, ok := compileFieldReader(f.typ)
		if !ok {
			return nil
		}
		fr.name = f.name
		p.fields[i] = fr
	}
	return p
}

func compileFieldReader(t *avroType) (fieldReader, bool) {
	var union uint8
	if t.kind == avroUnion {
		switch {
		case len(t.branches) == 1 && t.branches[0].kind != avroNull:
			union, t = unionSingle, t.branches[0]
		case len(t.branches) == 2 && t.branches[0].kind == avroNull && t.branches[1].kind != avroNull:
			union, t = unionNullFirst, t.branches[1]
		case len(t.branches) == 2 && t.branches[1].kind == avroNull && t.branches[0].kind != avroNull:
			union, t = unionNullLast, t.branches[0]
		default:
			return fieldReader{}, false
		}
		if t.kind == avroUnion {
			return fieldReader{}, false
		}
	}
	op, ok := flatOp(t)
	if !ok {
		return fieldReader{}, false
	}
	if union == unionSingle && (op == opDecimal || op == opDecimalFixed) {
		// Decoder.Payload checks such a decimal's precision through
		// checkDecimals, by goavro's branch name, which for a bytes decimal
		// depends on a "name" the model does not keep: leave it to goavro.
		return fieldReader{}, false
	}
	return fieldReader{typ: t, op: op, union: union, size: t.size, symbols: t.symbols, precision: t.precision, scale: t.scale}, true
}

// flatOp maps a flat type to its read op the way goavro picks a codec: the
// codec "<type>.<logicalType>" if goavro has one, else the plain type.
func flatOp(t *avroType) (readOp, bool) {
	switch t.kind {
	case avroNull:
		return opNull, true
	case avroBoolean:
		return opBoolean, true
	case avroInt:
		switch t.logical {
		case "date":
			return opDate, true
		case "time-millis":
			return opTimeMillis, true
		}
		return opInt, true
	case avroLong:
		switch t.logical {
		case "timestamp-millis":
			return opTimestampMillis, true
		case "timestamp-micros":
			return opTimestampMicros, true
		case "time-micros":
			return opTimeMicros, true
		}
		return opLong, true
	case avroFloat:
		return opFloat, true
	case avroDouble:
		return opDouble, true
	case avroBytes:
		if t.logical == "decimal" {
			return opDecimal, validDecimal(t)
		}
		return opBytes, true
	case avroString:
		if t.logical == "validated-string" {
			return 0, false // goavro matches a pattern: leave it to goavro
		}
		return opString, true
	case avroEnum:
		return opEnum, len(t.symbols) > 0
	case avroFixed:
		// The model reads "size" as a number only; goavro also takes a
		// numeric string. Size 0 here means the model did not get it.
		if t.size <= 0 {
			return 0, false
		}
		if t.logical == "decimal" {
			return opDecimalFixed, validDecimal(t)
		}
		return opFixed, true
	}
	return 0, false
}

// validDecimal: goavro refuses other precisions and scales at compile
// time; this only guards the model against a schema it read differently.
func validDecimal(t *avroType) bool {
	return t.precision >= 1 && t.scale >= 0 && t.scale <= t.precision
}

// Reasons a body does not decode. They name no value.
const (
	reasonTruncated   = "truncated"
	reasonVarint      = "varint longer than 10 bytes"
	reasonLength      = "length out of range"
	reasonBoolean     = "boolean byte not 0 or 1"
	reasonEnum        = "enum index out of range"
	reasonUnion       = "union branch out of range"
	reasonPrecision   = "exceeds decimal precision"
	reasonFixedLength = "fixed size beyond the body"
)

// avroReader walks a body.
type avroReader struct {
	buf []byte
	off int
}

// readLong decodes the zig-zag varint of at most 10 bytes at buf[off:]
// (Avro's int and long). It returns the value and the offset reached: past
// the varint, or where it failed, with reasonTruncated or reasonVarint.
// Both the compiled reader and checkBounds read varints with it.
func readLong(buf []byte, off int) (int64, int, string) {
	var u uint64
	for shift := uint(0); shift < 70; shift += 7 {
		if off >= len(buf) {
			return 0, off, reasonTruncated
		}
		b := buf[off]
		off++
		u |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return int64(u>>1) ^ -int64(u&1), off, ""
		}
	}
	return 0, off, reasonVarint
}

// long reads a zig-zag varint of at most 10 bytes.
func (r *avroReader) long() (int64, string) {
	v, off, reason := readLong(r.buf, r.off)
	r.off = off
	return v, reason
}

// int reads an int as goavro does: the varint truncated to 32 bits.
// (Zig-zag decoding commutes with the truncation, so this equals decoding
// the low 32 bits.)
func (r *avroReader) int() (int64, string) {
	v, reason := r.long()
	return int64(int32(v)), reason
}

func (r *avroReader) bytes() ([]byte, string) {
	n, reason := r.long()
	if reason != "" {
		return nil, reason
	}
	if n < 0 || n > int64(len(r.buf)-r.off) {
		return nil, reasonLength
	}
	b := r.buf[r.off : r.off+int(n) : r.off+int(n)]
	r.off += int(n)
	return b, ""
}

func (r *avroReader) fixed(n int) ([]byte, string) {
	if n > len(r.buf)-r.off {
		return nil, reasonFixedLength
	}
	b := r.buf[r.off : r.off+n : r.off+n]
	r.off += n
	return b, ""
}

// value decodes one field into s and returns "" or why it cannot.
func (r *avroReader) value(f *fieldReader, s *slot) string {
	s.null = false
	if f.union != notUnion {
		idx, reason := r.long()
		if reason != "" {
			return reason
		}
		switch {
		case f.union == unionSingle && idx == 0,
			f.union == unionNullLast && idx == 0,
			f.union == unionNullFirst && idx == 1:
		case f.union == unionNullLast && idx == 1, f.union == unionNullFirst && idx == 0:
			s.null = true
			return ""
		default:
			return reasonUnion
		}
	}
	var reason string
	switch f.op {
	case opNull:
		s.null = true
	case opBoolean:
		if r.off >= len(r.buf) {
			return reasonTruncated
		}
		switch r.buf[r.off] {
		case 0:
			s.i = 0
		case 1:
			s.i = 1
		default:
			return reasonBoolean
		}
		r.off++
	case opInt, opDate, opTimeMillis:
		s.i, reason = r.int()
	case opLong, opTimeMicros, opTimestampMillis, opTimestampMicros:
		s.i, reason = r.long()
	case opFloat:
		if len(r.buf)-r.off < 4 {
			return reasonTruncated
		}
		s.i = int64(binary.LittleEndian.Uint32(r.buf[r.off:]))
		r.off += 4
	case opDouble:
		if len(r.buf)-r.off < 8 {
			return reasonTruncated
		}
		s.i = int64(binary.LittleEndian.Uint64(r.buf[r.off:]))
		r.off += 8
	case opBytes, opString:
		s.b, reason = r.bytes()
	case opEnum:
		s.i, reason = r.long()
		if reason == "" && (s.i < 0 || s.i >= int64(len(f.symbols))) {
			return reasonEnum
		}
	case opFixed:
		s.b, reason = r.fixed(f.size)
	case opDecimal, opDecimalFixed:
		if f.op == opDecimal {
			s.b, reason = r.bytes()
		} else {
			s.b, reason = r.fixed(f.size)
		}
		if reason == "" {
			s.dec, s.wide = DecimalFromTwos(s.b)
			if !s.fitsPrecision(f.precision) {
				return reasonPrecision
			}
		}
	}
	return reason
}

// DecimalFromTwos reads an unscaled decimal stored as big-endian two's
// complement bytes (Avro's decimal, Parquet's FIXED_LEN_BYTE_ARRAY
// decimal); wide reports a value beyond 128 bits (dec is then
// meaningless).
func DecimalFromTwos(b []byte) (dec decimal128.Num, wide bool) {
	// Drop sign-extension bytes that carry no information.
	for len(b) > 1 && ((b[0] == 0 && b[1]&0x80 == 0) || (b[0] == 0xff && b[1]&0x80 != 0)) {
		b = b[1:]
	}
	if len(b) > 16 {
		return decimal128.Num{}, true
	}
	if len(b) == 0 {
		return decimal128.Num{}, false
	}
	var full [16]byte
	if b[0]&0x80 != 0 {
		for i := range full {
			full[i] = 0xff
		}
	}
	copy(full[16-len(b):], b)
	return decimal128.New(int64(binary.BigEndian.Uint64(full[:8])), binary.BigEndian.Uint64(full[8:])), false
}

// fitsPrecision reports |value| < 10^precision, the check Decoder.Payload
// makes on goavro's *big.Rat (fitsPrecision of decode.go, whose scale
// never exceeds the precision).
func (s *slot) fitsPrecision(precision int) bool {
	if s.wide {
		if precision <= maxDecimalPrecision {
			return false // |value| >= 2^127 > 10^38
		}
		n := new(big.Int)
		setTwos(n, s.b)
		return n.Abs(n).Cmp(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(precision)), nil)) < 0
	}
	return absLess(s.dec, precision)
}

// absLess reports |n| < 10^precision for precision >= 1.
func absLess(n decimal128.Num, precision int) bool {
	if precision > maxDecimalPrecision {
		return true // |n| <= 2^127 < 10^39
	}
	hi, lo := uint64(n.HighBits()), n.LowBits()
	if n.Sign() < 0 { // two's complement negation, unsigned: -2^127 stays exact
		hi, lo = ^hi, ^lo
		lo++
		if lo == 0 {
			hi++
		}
	}
	m := decimal128.GetScaleMultiplier(precision)
	mhi, mlo := uint64(m.HighBits()), m.LowBits()
	return hi < mhi || (hi == mhi && lo < mlo)
}

// setTwos sets n to the big-endian two's complement value of b (goavro's
// fromSignedBytes).
func setTwos(n *big.Int, b []byte) {
	n.SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(len(b))*8))
	}
}

// Conversions that must match goavro's logical types bit for bit.

func timestampMillis(ms int64) time.Time {
	s := ms / 1e3
	return time.Unix(s, (ms-s*1e3)*1e6).UTC()
}

func timestampMicros(us int64) time.Time {
	s := us / 1e6
	return time.Unix(s, (us-s*1e6)*1e3).UTC()
}

var unixEpoch = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)

func dateOf(days int64) time.Time {
	return unixEpoch.AddDate(0, 0, int(int32(days))).UTC()
}

// native returns the value as goavro's NativeFromBinary gives it, union
// wrapping included (see Payload.Fields).
func (f *fieldReader) native(s *slot) any {
	if s.null {
		return nil
	}
	var v any
	switch f.op {
	case opNull:
		return nil
	case opBoolean:
		v = s.i != 0
	case opInt:
		v = int32(s.i)
	case opLong:
		v = s.i
	case opFloat:
		v = math.Float32frombits(uint32(s.i))
	case opDouble:
		v = math.Float64frombits(uint64(s.i))
	case opBytes, opFixed:
		v = s.b
	case opString:
		v = string(s.b)
	case opEnum:
		v = f.symbols[s.i]
	case opDecimal, opDecimalFixed:
		n := new(big.Int)
		setTwos(n, s.b)
		v = new(big.Rat).SetFrac(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(f.scale)), nil))
	case opDate:
		v = dateOf(s.i)
	case opTimeMillis, opTimeMicros:
		v = fastDuration(f.op, s)
	case opTimestampMillis:
		v = timestampMillis(s.i)
	case opTimestampMicros:
		v = timestampMicros(s.i)
	}
	if f.union != notUnion {
		return map[string]any{unionBranchName(f.typ): v}
	}
	return v
}
