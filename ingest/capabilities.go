package ingest

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
	iceberggo "github.com/apache/iceberg-go"

	"github.com/floe-io/floe/iceberg"
	"github.com/floe-io/floe/schema"
)

// Writer commits batches to the table. *iceberg.Writer implements it and
// the optional NameMapper and PartitionColumner.
type Writer interface {
	Schema() *iceberggo.Schema
	ArrowSchema() *arrow.Schema
	Commit(ctx context.Context, b iceberg.Batch) (iceberg.CommitResult, error)
	Offsets(ctx context.Context, group string) (iceberg.Offsets, error)
	Evolve(ctx context.Context, ch []iceberg.Change) error
}

// NameMapper is a Writer's optional capability: the table's name mapping,
// which keeps every former name of a renamed column. With it, a payload
// still using a column's old name lands in the renamed column; without it
// (or while it returns nil) fields match current names only.
type NameMapper interface {
	NameMapping() iceberggo.NameMapping
}

// PartitionColumner is a Writer's optional capability: the names of the
// table's partition source columns, in spec order. The batcher counts a
// batch's distinct partitions by their values for
// Options.MaxBatchPartitions; without it that limit never fires.
type PartitionColumner interface {
	PartitionColumns() []string
}

// Decoder turns framed Avro into envelopes and payloads. *schema.Decoder
// implements it and the optional RecordDecoder.
type Decoder interface {
	Envelope(ctx context.Context, value []byte) (schema.Envelope, error)
	Payload(ctx context.Context, plaintext []byte) (schema.Payload, error)
}

// RecordDecoder is a Decoder's optional hot path: it decodes a payload
// into a reusable record, with no map per record when the writer schema
// allows (see schema.PayloadRecord), and accepts and refuses exactly what
// Payload does. A Decoder without it is used through Payload.
type RecordDecoder interface {
	DecodePayload(ctx context.Context, plaintext []byte, r *schema.PayloadRecord) error
}

// Opener decrypts payloads. *keys.Keyring implements it.
type Opener interface {
	Open(dst []byte, keyID string, payload, aad []byte) ([]byte, error)
}

// WatermarkSource is a Source's optional capability: a partition's low and
// high watermarks, asked of the broker. With it, a partition starting at
// StartLatest starts at the high watermark, and that start is recorded in
// the table at the next commit even if no record arrives (a restart must
// not resolve "latest" again and skip what arrived meanwhile); without it
// the source resolves StartLatest itself and nothing is recorded until a
// record arrives.
type WatermarkSource interface {
	Watermarks(tp TopicPartition) (low, high int64, err error)
}

// CachedWatermarkSource is a Source's optional capability: the high
// watermark it last saw, without asking the broker. The pipeline reports
// each partition's lag (Observer.Lag) from it once a second; without it no
// lag is reported.
type CachedWatermarkSource interface {
	CachedHighWatermark(tp TopicPartition) (int64, bool)
}
