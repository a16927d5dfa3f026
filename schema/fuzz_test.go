package schema

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func FuzzParseFrame(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 1})
	f.Add([]byte{0, 0, 0, 0, 1, 2, 3})
	f.Add([]byte{1, 0, 0, 0, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		id, body, err := ParseFrame(b)
		if err != nil {
			if !errors.Is(err, ErrBadMagic) || (len(b) >= FrameHeaderSize && b[0] == 0) {
				t.Fatalf("ParseFrame(%x) = %v", b, err)
			}
			return
		}
		if !bytes.Equal(append(AppendFrame(nil, id), body...), b) {
			t.Fatalf("round trip of %x failed", b)
		}
	})
}

// addVectorSeeds adds the contract vectors' values (valid and invalid).
func addVectorSeeds(f *testing.F, v *vectorFile) {
	for _, vec := range v.Valid[:3] {
		f.Add(mustB64(f, vec.ValueB64))
	}
	for _, vec := range v.Invalid {
		f.Add(mustB64(f, vec.ValueB64))
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	v := loadVectors(f)
	dec := NewDecoder(seededRegistry(f, v))
	addVectorSeeds(f, v)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, value []byte) {
		env, err := dec.Envelope(ctx, value)
		if err != nil {
			if !errors.Is(err, ErrBadMagic) && !errors.Is(err, ErrUnknownSchema) && !errors.Is(err, ErrMalformedAvro) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if env.EventTime.Location().String() != "UTC" || env.SchemaID == 0 {
			t.Fatalf("envelope %+v", env)
		}
	})
}

func FuzzDecodePayload(f *testing.F) {
	v := loadVectors(f)
	reg := seededRegistry(f, v)
	dec := NewDecoder(reg)
	kr := v.keyring(f)
	ctx := context.Background()
	for _, vec := range append(v.Valid[:1], v.Valid[len(v.Valid)-1]) {
		env, err := dec.Envelope(ctx, mustB64(f, vec.ValueB64))
		if err != nil {
			f.Fatal(err)
		}
		pt, err := kr.Open(nil, env.KeyID, env.Payload, []byte(env.TransactionID))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pt)
		f.Add(pt[:len(pt)-1])
	}
	f.Add([]byte{0, 0, 0, 0, 1, 2}) // the envelope schema
	f.Add([]byte{0, 0, 0, 0, 5, 2})
	f.Fuzz(func(t *testing.T, plaintext []byte) {
		p, err := dec.Payload(ctx, plaintext)
		if err != nil {
			if !errors.Is(err, ErrBadPayload) && !errors.Is(err, ErrUnknownSchema) {
				t.Fatalf("unclassified error: %v", err)
			}
			// No run of the plaintext beyond the frame header may leak.
			if len(plaintext) > 8 && strings.Contains(err.Error(), string(plaintext[FrameHeaderSize:])) {
				t.Fatalf("error %q contains plaintext", err)
			}
			return
		}
		if p.Schema == nil || p.Fields == nil {
			t.Fatal("empty payload")
		}
		if _, err := Plan(TableSchema(), p.Schema); err == nil {
			a, err := NewAppender(rowSchema(t), p.Schema)
			if err != nil {
				t.Fatalf("Plan accepted schema %d but NewAppender: %v", p.Schema.ID, err)
			}
			_ = a
		}
	})
}

// FuzzColumns maps arbitrary Avro schema JSON to Iceberg columns: Compile
// either refuses it (ErrInvalidSchema) or Columns maps every field or
// refuses it (ErrIncompatibleSchema); Plan and NewAppender agree; nothing
// panics.
func FuzzColumns(f *testing.F) {
	v := loadVectors(f)
	for _, e := range v.Registry {
		f.Add(readSchemaFile(f, e.SchemaFile))
	}
	f.Add(`{"type":"record","name":"P","fields":[{"name":"currency","type":"string"},{"name":"merchant_id","type":"string"},{"name":"amt","type":{"type":"fixed","name":"D","size":9,"logicalType":"decimal","precision":20,"scale":2}}]}`)
	f.Add(`{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]},{"name":"tags","type":{"type":"array","items":"string"}}]}`)
	f.Add(`"string"`)
	f.Fuzz(func(t *testing.T, text string) {
		s, err := Compile(1, text)
		if err != nil {
			if !errors.Is(err, ErrInvalidSchema) {
				t.Fatalf("Compile: unclassified error %v", err)
			}
			return
		}
		cols, err := s.Columns()
		if err != nil {
			if !errors.Is(err, ErrIncompatibleSchema) {
				t.Fatalf("Columns: unclassified error %v", err)
			}
			return
		}
		for _, c := range cols {
			if c.Type == nil || c.Type.String() == "" {
				t.Fatalf("column %q has no type", c.Name)
			}
		}
		if s.paymentErr != nil {
			return
		}
		if _, err := Plan(TableSchema(), s); err != nil {
			if !errors.Is(err, ErrIncompatibleSchema) {
				t.Fatalf("Plan: unclassified error %v", err)
			}
			return
		}
		if _, err := NewAppender(rowSchema(t), s); err != nil {
			t.Fatalf("Plan accepted the schema but NewAppender: %v", err)
		}
	})
}
