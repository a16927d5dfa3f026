// Package ingest is floe's run loop.
//
// Records enter from a [Source] (a Kafka consumer, see [KafkaSource]). Each
// record's value is decoded (wire frame, registry, Avro), its payload opened
// (AES-256-GCM, AAD = transaction_id) and decoded again, then appended as one
// row to an in-memory Arrow batch. A record that can never be ingested gets
// one of the contract's error classes and leaves through a [DeadLetterSink]
// instead. When a trigger fires (interval, rows or bytes) the batch leaves
// as one [iceberg.Batch] handed to a [Writer], which commits it as one
// Iceberg snapshot recording the next offset of every partition it covers.
//
// Offsets only advance after that snapshot is committed, and the dead-letter
// writes covering those offsets are acknowledged before the commit starts.
// On assignment the start offsets come from the table, not from Kafka, which
// is what makes the pipeline exactly once.
package ingest
