package schema

import (
	"fmt"

	"github.com/linkedin/goavro/v2"
)

// Schema is one Avro writer schema from the registry, compiled once.
// A Schema is immutable and safe for concurrent use.
type Schema struct {
	ID    uint32        // registry id
	Text  string        // schema text as served by the registry, referenced types inlined
	Codec *goavro.Codec // compiled once per id

	root        *avroType
	envelopeErr error // why the schema is not an envelope; nil if it is
	paymentErr  error // why the schema is not a Payment; nil if it is
	decimals    []decimalField
	// deepDecimals: a decimal sits inside a nested record, array, map or
	// union member, so decoded values are walked (checkDecimals).
	deepDecimals bool
	// reader decodes a body of this schema without goavro (fastread.go);
	// nil when the schema is not a record of flat fields.
	reader *readProgram
	// env holds the positions of the envelope fields in reader's fields,
	// when the schema is an envelope and has a reader.
	env *envelopeFields
}

// decimalField is a top-level decimal field, whose values are checked
// against the declared precision (goavro does not).
type decimalField struct {
	name             string
	precision, scale int
}

// Compile compiles an Avro schema text as the schema with the given id.
// The registry uses it; it is exported for generators and tests that need a
// Schema without a registry. Errors wrap ErrInvalidSchema.
func Compile(id uint32, text string) (*Schema, error) {
	codec, err := goavro.NewCodec(text)
	if err != nil {
		return nil, fmt.Errorf("%w: schema %d does not compile: %w", ErrInvalidSchema, id, err)
	}
	root, err := parseAvro(text)
	if err != nil {
		return nil, fmt.Errorf("%w: schema %d: %w", ErrInvalidSchema, id, err)
	}
	s := &Schema{ID: id, Text: text, Codec: codec, root: root}
	s.envelopeErr = checkEnvelope(root)
	s.paymentErr = checkPayment(root)
	if root.kind == avroRecord {
		for _, f := range root.fields {
			if t, _ := f.typ.nullable(); t.logical == "decimal" {
				s.decimals = append(s.decimals, decimalField{name: f.name, precision: t.precision, scale: t.scale})
			}
		}
		s.deepDecimals = hasNestedDecimal(root)
	}
	if !s.deepDecimals {
		s.reader = compileReader(root)
	}
	if s.reader != nil && s.envelopeErr == nil {
		s.env = compileEnvelope(s.reader)
	}
	return s, nil
}

// Name returns the full name of the schema's top-level named type
// (e.g. "payments.v1.Payment"), or "" for an unnamed type.
func (s *Schema) Name() string { return s.root.name }

// Envelope field names (CONTRACT.md section 1 and schemas/envelope.avsc).
const (
	fieldTransactionID = "transaction_id"
	fieldEventTime     = "event_time"
	fieldSource        = "source"
	fieldKeyID         = "key_id"
	fieldPayload       = "payload"
)

// checkEnvelope reports why root is not an EncryptedTransaction envelope.
// Extra fields are tolerated; the five contract fields must have their
// contract types.
func checkEnvelope(root *avroType) error {
	if root.kind != avroRecord {
		return fmt.Errorf("top-level type is %s, not a record", root.kind)
	}
	want := []struct {
		name string
		ok   func(*avroType) bool
		desc string
	}{
		{fieldTransactionID, isPlain(avroString), "string"},
		{fieldEventTime, isTimestamp, "long(timestamp-millis)"},
		{fieldSource, isPlain(avroString), "string"},
		{fieldKeyID, isPlain(avroString), "string"},
		{fieldPayload, isPlain(avroBytes), "bytes"},
	}
	for _, w := range want {
		f, ok := root.field(w.name)
		if !ok {
			return fmt.Errorf("record %s has no field %q", root.name, w.name)
		}
		if !w.ok(f.typ) {
			return fmt.Errorf("field %q is %s, want %s", w.name, f.typ, w.desc)
		}
	}
	return nil
}

func isPlain(k avroKind) func(*avroType) bool {
	return func(t *avroType) bool { return t.kind == k && t.logical == "" }
}

func isTimestamp(t *avroType) bool {
	return t.kind == avroLong && (t.logical == "timestamp-millis" || t.logical == "timestamp-micros")
}

// checkPayment reports why root is not a Payment: a record with at least
// currency and merchant_id. Their types are judged by Plan, not here.
func checkPayment(root *avroType) error {
	if root.kind != avroRecord {
		return fmt.Errorf("top-level type is %s, not a record", root.kind)
	}
	for _, name := range []string{"currency", "merchant_id"} {
		if _, ok := root.field(name); !ok {
			return fmt.Errorf("record %s has no field %q", root.name, name)
		}
	}
	return nil
}
