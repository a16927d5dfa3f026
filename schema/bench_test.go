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

func BenchmarkAppend(b *testing.B) {
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
	rb.Reserve(batch) // as a batcher that knows its batch size would
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		a.Append(rb, &env, &p, RowMeta{Topic: testTopic, Partition: 1, Offset: int64(i)})
		if i++; i%batch == 0 {
			rb.NewRecordBatch().Release()
			rb.Reserve(batch)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
