// Package devstack is the test and demo stack of floe: what `floe demo`,
// `floe bench`, `floe produce` and the integration tests run against.
//
// It has three parts:
//
//   - Start runs real-protocol peers in process: a Kafka broker (kfake) on
//     127.0.0.1 and a Confluent Schema Registry (srfake) served over HTTP on
//     127.0.0.1. Clients reach both over TCP, exactly as they would reach a
//     real cluster.
//   - Generator makes encrypted contract events (CONTRACT.md), valid ones with
//     the table row each must become, and invalid ones of every dead-letter
//     class with the defect they carry. It is deterministic from a seed and
//     is an encoder of its own (goavro, crypto/cipher, a hand-written frame),
//     independent of the decoder under test in package schema.
//   - Produce, ProduceStream and ReadAll move events in and out of a topic
//     with franz-go.
//
// Data enters as GenOptions (seed, keyring, schema ids) and leaves as Kafka
// records on the stack's broker.
package devstack
