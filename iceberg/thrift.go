package iceberg

import "encoding/binary"

// compactWriter encodes the Thrift compact protocol, the encoding of
// Parquet's page headers and footer (parquet.thrift). It covers what the
// lean Parquet writer needs: structs, i32/i64 (zig-zag varints), a raw byte,
// bools, binary/strings and lists. Field ids must increase within a struct.
type compactWriter struct {
	buf    []byte
	last   int16   // last field id written in the current struct
	parent []int16 // last field ids of the enclosing structs
}

// Thrift compact type codes.
const (
	tcTrue   = 1
	tcFalse  = 2
	tcByte   = 3
	tcI32    = 5
	tcI64    = 6
	tcBinary = 8
	tcList   = 9
	tcStruct = 12
)

func (w *compactWriter) reset() {
	w.buf, w.last, w.parent = w.buf[:0], 0, w.parent[:0]
}

func (w *compactWriter) uvarint(v uint64) { w.buf = binary.AppendUvarint(w.buf, v) }

func (w *compactWriter) zigzag(v int64) { w.uvarint(uint64(v<<1) ^ uint64(v>>63)) }

func (w *compactWriter) field(id int16, typ byte) {
	if d := id - w.last; d > 0 && d <= 15 {
		w.buf = append(w.buf, byte(d)<<4|typ)
	} else {
		w.buf = append(w.buf, typ)
		w.zigzag(int64(id))
	}
	w.last = id
}

func (w *compactWriter) i32(id int16, v int32) {
	w.field(id, tcI32)
	w.zigzag(int64(v))
}

func (w *compactWriter) i64(id int16, v int64) {
	w.field(id, tcI64)
	w.zigzag(v)
}

func (w *compactWriter) byteField(id int16, v int8) {
	w.field(id, tcByte)
	w.buf = append(w.buf, byte(v))
}

func (w *compactWriter) boolean(id int16, v bool) {
	if v {
		w.field(id, tcTrue)
	} else {
		w.field(id, tcFalse)
	}
}

func (w *compactWriter) binary(id int16, v []byte) {
	w.field(id, tcBinary)
	w.uvarint(uint64(len(v)))
	w.buf = append(w.buf, v...)
}

func (w *compactWriter) str(id int16, v string) {
	w.field(id, tcBinary)
	w.uvarint(uint64(len(v)))
	w.buf = append(w.buf, v...)
}

// list writes a list field header; the n elements follow (for structs:
// beginElem/end each).
func (w *compactWriter) list(id int16, elem byte, n int) {
	w.field(id, tcList)
	w.listHeader(elem, n)
}

func (w *compactWriter) listHeader(elem byte, n int) {
	if n < 15 {
		w.buf = append(w.buf, byte(n)<<4|elem)
		return
	}
	w.buf = append(w.buf, 0xf0|elem)
	w.uvarint(uint64(n))
}

// listElemI32 / listElemString append list elements.
func (w *compactWriter) listElemI32(v int32) { w.zigzag(int64(v)) }

func (w *compactWriter) listElemString(v string) {
	w.uvarint(uint64(len(v)))
	w.buf = append(w.buf, v...)
}

// begin opens a struct-valued field; beginElem opens a struct that is a
// list element. end closes either.
func (w *compactWriter) begin(id int16) {
	w.field(id, tcStruct)
	w.beginElem()
}

func (w *compactWriter) beginElem() {
	w.parent = append(w.parent, w.last)
	w.last = 0
}

func (w *compactWriter) end() {
	w.buf = append(w.buf, 0) // STOP
	if n := len(w.parent); n > 0 {
		w.last = w.parent[n-1]
		w.parent = w.parent[:n-1]
	}
}
