// Package schema turns Kafka record values into table rows, and keeps the
// table schema in step with the payload's writer schemas.
//
// What enters: a Kafka record value in Schema Registry wire format (0x00,
// 4-byte big-endian schema id, Avro body) whose schema is the
// EncryptedTransaction envelope; later the decrypted payload plaintext (the
// same framing around a Payment record); writer schemas fetched from a
// Confluent Schema Registry over HTTP ([Registry]: cached by id, one fetch
// per id, compiled once).
//
// What leaves: an [Envelope] (cleartext routing fields and the still
// encrypted payload, which the keys package opens), a [Payload] (goavro
// native values) or, on the hot path, a [PayloadRecord] (typed values, see
// below), the [Changes] a writer schema needs the table to make ([Plan]),
// and Arrow rows appended by an [Appender] to a RecordBuilder of the table's
// row schema.
//
// Two decoders: goavro is the reference, and a compiled reader
// (fastread.go) covers writer schemas whose record has only flat fields
// (primitives, enum, fixed, their logical types, unions with null). The
// compiled reader decodes envelopes and payloads with no goavro and no map
// per record, and Appender.AppendRecord appends its values straight to
// the builders; it accepts and refuses exactly what the reference path
// does and builds the same rows (fast_test.go holds it to that, with
// differential tests and fuzz targets). Other schemas, e.g. with nested
// records, arrays or maps, go through goavro. [TableSchema] and [PartitionSpec] are the contract
// table of CONTRACT.md section 3.
//
// Errors: each poison record gets an error wrapping exactly one of
// [ErrBadMagic], [ErrUnknownSchema], [ErrMalformedAvro], [ErrBadPayload] or
// [ErrIncompatibleSchema]; registry trouble that a retry may fix wraps
// [ErrRegistryUnavailable] instead and is never poison. Payload errors are
// built from safe facts only (schema id, field names, byte lengths): the
// plaintext never reaches an error message.
//
// Data flows one way: ingest -> schema (frame, registry, Avro) -> keys ->
// schema (payload, Plan, Appender) -> ingest's batcher.
package schema
