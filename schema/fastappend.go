package schema

import (
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
)

// The fast appender: appends a PayloadRecord decoded by the compiled reader
// (fastread.go) straight from its typed slots to the column builders,
// through the same leaf conversions (leaf.go) that goavro's values take
// in Append, so a row is the same whichever path decoded it.

// fastColumn appends one column of a row.
type fastColumn struct {
	meta appendFn // envelope and Kafka metadata columns: Append's own function
	src  int      // index of the writer field in the reader; -1: null
	conv leafConv
}

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
			cols[i] = fastColumn{meta: a.fns[i]}
			continue
		}
		j := matchPayloadField(f, payload, cfg)
		if j < 0 {
			cols[i] = fastColumn{src: -1}
			continue
		}
		fr := &payload.reader.fields[j]
		conv, err := leafAppender(f.Type, fr.typ, fr.op, fr.symbols)
		if err != nil {
			return // NewAppender refused it already
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
		case c.meta != nil:
			c.meta(fb, env, nil, m)
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

// fastDuration is goavro's time.Duration of a time-millis or time-micros.
func fastDuration(op readOp, s *slot) time.Duration {
	if op == opTimeMillis {
		return time.Duration(int32(s.i)) * time.Millisecond
	}
	return time.Duration(s.i) * time.Microsecond
}
