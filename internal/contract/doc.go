// Package contract holds the fixed event contract of floe (CONTRACT.md): the
// Avro schemas of the Kafka record value (the EncryptedTransaction envelope)
// and of the encrypted payment payload (versions v1, v2, v3 and the
// deliberately incompatible bad-v4), embedded at build time, together with
// the Schema Registry subjects they live under.
//
// Register puts the five schemas into a Confluent-compatible Schema Registry
// over its REST API, in the order testdata/contract/vectors.json uses, so a
// fresh registry assigns the ids 1..5 the reference vectors carry. Nothing
// here decodes; the decoder lives in package schema.
package contract
