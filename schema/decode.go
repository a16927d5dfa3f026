package schema

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"time"
)

// Envelope is a decoded EncryptedTransaction (the Kafka record value).
type Envelope struct {
	SchemaID      uint32
	TransactionID string
	EventTime     time.Time // UTC
	Source        string
	KeyID         string
	Payload       []byte // nonce || ciphertext || tag; aliases the value passed to Decoder.Envelope
}

// Payload is a decoded Payment (the decrypted plaintext).
type Payload struct {
	Schema *Schema
	// Fields holds goavro's native values by field name: string, int32,
	// int64, float32, float64, bool, []byte, *big.Rat (decimal), time.Time
	// (timestamps, dates), enum symbols as string, and nullable unions as nil
	// or map[string]any{"<branch type>": value}. []byte values alias the
	// plaintext.
	Fields map[string]any
}

// Decoder decodes envelopes and payloads with writer schemas from a
// Registry. It is safe for concurrent use.
type Decoder struct {
	reg *Registry
}

// NewDecoder returns a decoder resolving schema ids through r.
func NewDecoder(r *Registry) *Decoder { return &Decoder{reg: r} }

// Envelope decodes a framed EncryptedTransaction. Poison errors wrap
// ErrBadMagic, ErrUnknownSchema or ErrMalformedAvro; other errors (registry
// unavailable, context) are not poison and may be retried.
func (d *Decoder) Envelope(ctx context.Context, value []byte) (Envelope, error) {
	id, body, err := ParseFrame(value)
	if err != nil {
		return Envelope{}, fmt.Errorf("schema: envelope: %w", err)
	}
	s, err := d.reg.Schema(ctx, id)
	if err != nil {
		if errors.Is(err, ErrInvalidSchema) {
			return Envelope{}, fmt.Errorf("schema: envelope: %w: %w", ErrMalformedAvro, err)
		}
		return Envelope{}, fmt.Errorf("envelope: %w", err)
	}
	return decodeEnvelope(s, body)
}

func decodeEnvelope(s *Schema, body []byte) (Envelope, error) {
	if s.envelopeErr != nil {
		return Envelope{}, fmt.Errorf("schema: envelope: %w: schema %d is not an envelope: %w", ErrMalformedAvro, s.ID, s.envelopeErr)
	}
	if s.env != nil {
		return decodeEnvelopeFast(s, body)
	}
	return decodeEnvelopeGoavro(s, body)
}

// decodeEnvelopeGoavro is the reference path of decodeEnvelope: goavro,
// for envelope schemas the compiled reader does not cover.
func decodeEnvelopeGoavro(s *Schema, body []byte) (Envelope, error) {
	if err := checkBounds(s.root, body); err != nil {
		return Envelope{}, fmt.Errorf("schema: envelope: %w: schema %d: %w", ErrMalformedAvro, s.ID, err)
	}
	native, rest, err := s.Codec.NativeFromBinary(body)
	if err != nil {
		// goavro's text names fields and sizes of the envelope, never the
		// payload's bytes.
		return Envelope{}, fmt.Errorf("schema: envelope: %w: schema %d, %d-byte body: %w", ErrMalformedAvro, s.ID, len(body), err)
	}
	if len(rest) != 0 {
		return Envelope{}, fmt.Errorf("schema: envelope: %w: schema %d: %d trailing bytes after the record", ErrMalformedAvro, s.ID, len(rest))
	}
	m, ok := native.(map[string]any)
	if !ok {
		return Envelope{}, fmt.Errorf("schema: envelope: %w: schema %d: decoded %T, not a record", ErrMalformedAvro, s.ID, native)
	}
	env := Envelope{SchemaID: s.ID}
	var bad string
	if env.TransactionID, ok = m[fieldTransactionID].(string); !ok {
		bad = fieldTransactionID
	}
	if t, ok := m[fieldEventTime].(time.Time); ok {
		env.EventTime = t.UTC()
	} else {
		bad = fieldEventTime
	}
	if env.Source, ok = m[fieldSource].(string); !ok {
		bad = fieldSource
	}
	if env.KeyID, ok = m[fieldKeyID].(string); !ok {
		bad = fieldKeyID
	}
	if env.Payload, ok = m[fieldPayload].([]byte); !ok {
		bad = fieldPayload
	}
	if bad != "" {
		return Envelope{}, fmt.Errorf("schema: envelope: %w: schema %d: field %q has an unexpected type", ErrMalformedAvro, s.ID, bad)
	}
	return env, nil
}

// Payload decodes decrypted plaintext: a framed Avro Payment. Poison errors
// wrap ErrBadPayload or ErrUnknownSchema; other errors (registry
// unavailable, context) may be retried. The plaintext is secret: error
// messages hold only the schema id, field names and byte lengths.
func (d *Decoder) Payload(ctx context.Context, plaintext []byte) (Payload, error) {
	s, body, err := d.payloadSchema(ctx, plaintext)
	if err != nil {
		return Payload{}, err
	}
	return decodePayload(s, body)
}

// payloadSchema splits framed plaintext into its writer schema and body.
func (d *Decoder) payloadSchema(ctx context.Context, plaintext []byte) (*Schema, []byte, error) {
	if len(plaintext) < FrameHeaderSize {
		return nil, nil, fmt.Errorf("schema: payload: %w: %d bytes, too short for a framed record", ErrBadPayload, len(plaintext))
	}
	id, body, err := ParseFrame(plaintext)
	if err != nil {
		// ParseFrame's reason would quote a plaintext byte: don't use it.
		return nil, nil, fmt.Errorf("schema: payload: %w: not a framed record (%d bytes, bad magic byte)", ErrBadPayload, len(plaintext))
	}
	s, err := d.reg.Schema(ctx, id)
	if err != nil {
		if errors.Is(err, ErrInvalidSchema) {
			return nil, nil, fmt.Errorf("schema: payload: %w: %w", ErrBadPayload, err)
		}
		return nil, nil, fmt.Errorf("payload: %w", err)
	}
	return s, body, nil
}

func decodePayload(s *Schema, body []byte) (Payload, error) {
	if s.paymentErr != nil {
		return Payload{}, fmt.Errorf("schema: payload: %w: schema %d is not a Payment: %w", ErrBadPayload, s.ID, s.paymentErr)
	}
	if err := checkBounds(s.root, body); err != nil {
		// The error's counts and offsets are read from the plaintext:
		// never use them.
		return Payload{}, fmt.Errorf("schema: payload: %w: schema %d: %d-byte body: %w", ErrBadPayload, s.ID, len(body), errOutOfBounds)
	}
	native, rest, err := s.Codec.NativeFromBinary(body)
	if err != nil {
		// goavro's message may quote decoded values: never use it.
		return Payload{}, fmt.Errorf("schema: payload: %w: %d-byte body does not decode with schema %d", ErrBadPayload, len(body), s.ID)
	}
	if len(rest) != 0 {
		return Payload{}, fmt.Errorf("schema: payload: %w: schema %d: %d trailing bytes after the record", ErrBadPayload, s.ID, len(rest))
	}
	m, ok := native.(map[string]any)
	if !ok {
		return Payload{}, fmt.Errorf("schema: payload: %w: schema %d did not decode to a record", ErrBadPayload, s.ID)
	}
	for _, f := range s.decimals {
		if r := decimalValue(m[f.name]); r != nil && !fitsPrecision(r, f.precision, f.scale) {
			return Payload{}, fmt.Errorf("schema: payload: %w: schema %d: field %q exceeds decimal precision %d", ErrBadPayload, s.ID, f.name, f.precision)
		}
	}
	if s.deepDecimals {
		if err := checkDecimals(s.root, m, ""); err != nil {
			return Payload{}, fmt.Errorf("schema: payload: %w: schema %d: %w", ErrBadPayload, s.ID, err)
		}
	}
	return Payload{Schema: s, Fields: m}, nil
}

// decimalValue returns the *big.Rat in a native value (plain or in a union
// map), or nil.
func decimalValue(v any) *big.Rat {
	switch v := v.(type) {
	case *big.Rat:
		return v
	case map[string]any:
		for _, x := range v {
			r, _ := x.(*big.Rat)
			return r
		}
	}
	return nil
}

// fitsPrecision reports whether r, an unscaled integer divided by
// 10^scale as goavro builds it, has at most precision digits:
// |r| < 10^(precision-scale).
func fitsPrecision(r *big.Rat, precision, scale int) bool {
	intDigits := precision - scale
	if r.Num().IsInt64() && r.Denom().IsInt64() {
		q := r.Num().Int64() / r.Denom().Int64()
		if q == math.MinInt64 {
			return intDigits >= 19
		}
		if q < 0 {
			q = -q
		}
		return digits(q) <= intDigits
	}
	q := new(big.Int).Quo(r.Num(), r.Denom())
	if q.Sign() == 0 {
		return intDigits >= 0
	}
	return len(q.Abs(q).String()) <= intDigits
}

// digits counts the decimal digits of n >= 0 (0 has none).
func digits(n int64) int {
	c := 0
	for ; n > 0; n /= 10 {
		c++
	}
	return c
}
