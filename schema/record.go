package schema

import (
	"context"
	"fmt"
)

// PayloadRecord is a decoded Payment held until it is appended: the hot
// path's alternative to Payload. When the writer schema has a compiled
// reader (a record of flat fields), Decoder.DecodePayload fills it with no
// goavro and no map: values are held typed, and bytes and strings alias the
// plaintext, which must therefore stay unchanged until the record has been
// appended (Appender.AppendRecord). Otherwise it holds the Payload goavro
// decoded.
//
// The zero value is ready to use; reusing one PayloadRecord for every
// record avoids allocation. It is not safe for concurrent use.
type PayloadRecord struct {
	schema *Schema
	fast   bool   // slots hold the values (schema.reader decoded them)
	slots  []slot // one per field of schema.reader
	p      Payload
}

// Schema returns the writer schema of the record last decoded, or nil if
// the last decode failed.
func (r *PayloadRecord) Schema() *Schema { return r.schema }

// SetPayload makes r hold p, a Payload decoded by Decoder.Payload.
func (r *PayloadRecord) SetPayload(p Payload) {
	r.schema, r.fast, r.p = p.Schema, false, p
}

// Payload returns the record as a Payload. For a record decoded by the
// compiled reader, it builds the map of goavro native values (allocating);
// the hot path does not need it.
func (r *PayloadRecord) Payload() Payload {
	if !r.fast {
		return r.p
	}
	fields := make(map[string]any, len(r.slots))
	for i := range r.schema.reader.fields {
		f := &r.schema.reader.fields[i]
		fields[f.name] = f.native(&r.slots[i])
	}
	return Payload{Schema: r.schema, Fields: fields}
}

// AppendKeyValue appends the value of the payload field name as a key:
// a string's bytes, anything else (a missing field is nil) as fmt prints
// goavro's native value. The batcher uses it to tell table partitions apart.
func (r *PayloadRecord) AppendKeyValue(dst []byte, name string) []byte {
	if !r.fast {
		switch v := r.p.Fields[name].(type) {
		case string:
			return append(dst, v...)
		default:
			return fmt.Append(dst, v)
		}
	}
	fields := r.schema.reader.fields
	for i := range fields {
		f := &fields[i]
		if f.name != name {
			continue
		}
		s := &r.slots[i]
		if f.union == notUnion && !s.null {
			switch f.op {
			case opString:
				return append(dst, s.b...)
			case opEnum:
				return append(dst, f.symbols[s.i]...)
			}
		}
		return fmt.Append(dst, f.native(s))
	}
	return fmt.Append(dst, nil)
}

// DecodePayload is Payload for the hot path: it decodes framed plaintext
// into r, with the writer schema's compiled reader when it has one (see
// PayloadRecord) and with goavro otherwise. It accepts and refuses exactly
// what Payload does, with errors of the same classes (ErrBadPayload,
// ErrUnknownSchema, or retryable) built from the same safe facts: schema
// id, field names, byte lengths. r's values alias plaintext.
func (d *Decoder) DecodePayload(ctx context.Context, plaintext []byte, r *PayloadRecord) error {
	r.schema, r.fast, r.p = nil, false, Payload{}
	s, body, err := d.payloadSchema(ctx, plaintext)
	if err != nil {
		return err
	}
	return decodePayloadInto(s, body, r)
}

// decodePayloadInto decodes body with s into r: the compiled reader, or
// decodePayload.
func decodePayloadInto(s *Schema, body []byte, r *PayloadRecord) error {
	if s.reader == nil || s.paymentErr != nil {
		p, err := decodePayload(s, body)
		if err != nil {
			r.schema, r.fast, r.p = nil, false, Payload{}
			return err
		}
		r.SetPayload(p)
		return nil
	}
	fields := s.reader.fields
	if cap(r.slots) < len(fields) {
		r.slots = make([]slot, len(fields))
	}
	r.slots = r.slots[:len(fields)]
	rd := avroReader{buf: body}
	for i := range fields {
		if reason := rd.value(&fields[i], &r.slots[i]); reason != "" {
			r.schema, r.fast = nil, false
			clear(r.slots) // no aliases of a refused plaintext
			if reason == reasonPrecision {
				return fmt.Errorf("schema: payload: %w: schema %d: field %q exceeds decimal precision %d", ErrBadPayload, s.ID, fields[i].name, fields[i].precision)
			}
			return fmt.Errorf("schema: payload: %w: %d-byte body does not decode with schema %d: field %q: %s", ErrBadPayload, len(body), s.ID, fields[i].name, reason)
		}
	}
	if rd.off != len(body) {
		r.schema, r.fast = nil, false
		clear(r.slots)
		return fmt.Errorf("schema: payload: %w: schema %d: %d trailing bytes after the record", ErrBadPayload, s.ID, len(body)-rd.off)
	}
	r.schema, r.fast, r.p = s, true, Payload{}
	return nil
}

// envelopeFields are the positions of the envelope fields in a reader.
type envelopeFields struct {
	transactionID, eventTime, source, keyID, payload int
}

// compileEnvelope locates the contract fields in an envelope schema's
// reader (checkEnvelope has checked their types), or returns nil.
func compileEnvelope(p *readProgram) *envelopeFields {
	at := func(name string, ops ...readOp) int {
		for i, f := range p.fields {
			if f.name == name && f.union == notUnion {
				for _, op := range ops {
					if f.op == op {
						return i
					}
				}
			}
		}
		return -1
	}
	e := &envelopeFields{
		transactionID: at(fieldTransactionID, opString),
		eventTime:     at(fieldEventTime, opTimestampMillis, opTimestampMicros),
		source:        at(fieldSource, opString),
		keyID:         at(fieldKeyID, opString),
		payload:       at(fieldPayload, opBytes),
	}
	if e.transactionID < 0 || e.eventTime < 0 || e.source < 0 || e.keyID < 0 || e.payload < 0 {
		return nil
	}
	return e
}

// decodeEnvelopeFast decodes an envelope body with the compiled reader: no
// goavro, no map. It accepts exactly what decodeEnvelopeGoavro accepts.
func decodeEnvelopeFast(s *Schema, body []byte) (Envelope, error) {
	env := Envelope{SchemaID: s.ID}
	rd := avroReader{buf: body}
	fields := s.reader.fields
	var v slot
	for i := range fields {
		f := &fields[i]
		if reason := rd.value(f, &v); reason != "" {
			return Envelope{}, fmt.Errorf("schema: envelope: %w: schema %d, %d-byte body: field %q: %s", ErrMalformedAvro, s.ID, len(body), f.name, reason)
		}
		switch i {
		case s.env.transactionID:
			env.TransactionID = string(v.b)
		case s.env.eventTime:
			if f.op == opTimestampMillis {
				env.EventTime = timestampMillis(v.i)
			} else {
				env.EventTime = timestampMicros(v.i)
			}
		case s.env.source:
			env.Source = string(v.b)
		case s.env.keyID:
			env.KeyID = string(v.b)
		case s.env.payload:
			env.Payload = v.b
		}
	}
	if rd.off != len(body) {
		return Envelope{}, fmt.Errorf("schema: envelope: %w: schema %d: %d trailing bytes after the record", ErrMalformedAvro, s.ID, len(body)-rd.off)
	}
	return env, nil
}
