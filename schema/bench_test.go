package schema

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// benchInputs decodes the last valid contract vector (a v3 payload) once.
func benchInputs(b *testing.B) (*Decoder, []byte, Envelope, []byte) {
	b.Helper()
	v := loadVectors(b)
	dec := NewDecoder(seededRegistry(b, v))
	value := mustB64(b, v.Valid[len(v.Valid)-1].ValueB64)
	env, err := dec.Envelope(context.Background(), value)
	if err != nil {
		b.Fatal(err)
	}
	pt, err := v.keyring(b).Open(nil, env.KeyID, env.Payload, []byte(env.TransactionID))
	if err != nil {
		b.Fatal(err)
	}
	return dec, value, env, pt
}

func BenchmarkDecodeEnvelope(b *testing.B) {
	dec, value, _, _ := benchInputs(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(value)))
	for b.Loop() {
		if _, err := dec.Envelope(ctx, value); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkDecodePayload(b *testing.B) {
	dec, _, _, pt := benchInputs(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		if _, err := dec.Payload(ctx, pt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkAppend appends an already decoded payload (goavro's map) as one
// row per op.
func BenchmarkAppend(b *testing.B) {
	benchDecodeAppend(b, func(_ context.Context, _ *Decoder, _ []byte, p *Payload, a *Appender, rb *array.RecordBuilder, env *Envelope, m RowMeta) {
		a.Append(rb, env, p, m)
	})
}

// benchDecodeAppend decodes the last contract vector's plaintext and
// appends it as one row, per op, the way ingest does after decryption.
func benchDecodeAppend(b *testing.B, run func(ctx context.Context, dec *Decoder, pt []byte, p *Payload, a *Appender, rb *array.RecordBuilder, env *Envelope, m RowMeta)) {
	dec, _, env, pt := benchInputs(b)
	p, err := dec.Payload(context.Background(), pt)
	if err != nil {
		b.Fatal(err)
	}
	row := rowSchema(b)
	a, err := NewAppender(row, p.Schema)
	if err != nil {
		b.Fatal(err)
	}
	rb := array.NewRecordBuilder(memory.NewGoAllocator(), row)
	defer rb.Release()
	const batch = 8192
	rb.Reserve(batch)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(pt)))
	i := 0
	for b.Loop() {
		run(ctx, dec, pt, &p, a, rb, &env, RowMeta{Topic: testTopic, Partition: 1, Offset: int64(i)})
		if i++; i%batch == 0 {
			rb.NewRecordBatch().Release()
			rb.Reserve(batch)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkDecodeAppend is the compiled path: DecodePayload into a reused
// PayloadRecord, then AppendRecord.
func BenchmarkDecodeAppend(b *testing.B) {
	var rec PayloadRecord
	benchDecodeAppend(b, func(ctx context.Context, dec *Decoder, pt []byte, _ *Payload, a *Appender, rb *array.RecordBuilder, env *Envelope, m RowMeta) {
		if err := dec.DecodePayload(ctx, pt, &rec); err != nil {
			b.Fatal(err)
		}
		if !rec.fast {
			b.Fatal("not the compiled path")
		}
		a.AppendRecord(rb, env, &rec, m)
	})
}

// BenchmarkDecodeAppendReference is the reference path: Payload (goavro,
// a map per record), then Append.
func BenchmarkDecodeAppendReference(b *testing.B) {
	benchDecodeAppend(b, func(ctx context.Context, dec *Decoder, pt []byte, _ *Payload, a *Appender, rb *array.RecordBuilder, env *Envelope, m RowMeta) {
		p, err := dec.Payload(ctx, pt)
		if err != nil {
			b.Fatal(err)
		}
		a.Append(rb, env, &p, m)
	})
}

// BenchmarkDecodeEnvelopeReference is BenchmarkDecodeEnvelope through
// goavro.
func BenchmarkDecodeEnvelopeReference(b *testing.B) {
	_, value, _, _ := benchInputs(b)
	v := loadVectors(b)
	s, err := Compile(v.Registry[0].ID, readSchemaFile(b, v.Registry[0].SchemaFile))
	if err != nil {
		b.Fatal(err)
	}
	_, body, err := ParseFrame(value)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(value)))
	for b.Loop() {
		if _, err := decodeEnvelopeGoavro(s, body); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
