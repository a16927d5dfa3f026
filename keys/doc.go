// Package keys opens the AES-256-GCM encrypted payloads of floe's payment
// events.
//
// What enters: a keyring of 32-byte data keys, each named by a key id, and,
// per event, the envelope's key_id, its payload (nonce(12) || ciphertext ||
// tag(16)) and the additional authenticated data (the UTF-8
// transaction_id).
//
// What leaves: the plaintext (a Schema Registry framed Avro Payment, which the
// schema package decodes), or an error wrapping [ErrUnknownKey] or
// [ErrDecryptFailed]. Errors may name a key id; they never contain key bytes,
// ciphertext or plaintext.
//
// # Keyring files
//
// Two formats, told apart by [Load] from their top-level field:
//
// A local keyring ([LoadFile]; development, tests, the demo) holds the data
// keys themselves:
//
//	{"keys": {"k1": "<base64 of 32 bytes>", "k2": "..."}}
//
// A KMS keyring ([LoadKMSFile]) holds each data key wrapped by an AWS KMS key
// (the CiphertextBlob of kms:Encrypt or kms:GenerateDataKey, base64):
//
//	{
//	  "kms": {
//	    "region": "eu-west-1",                       // optional: else AWS_REGION / shared config
//	    "endpoint": "https://vpce-...amazonaws.com", // optional: VPC endpoint, local server
//	    "key_id": "arn:aws:kms:eu-west-1:111122223333:key/...", // optional: the only KMS key accepted
//	    "encryption_context": {"purpose": "floe"}    // optional: must match the wrapping
//	  },
//	  "wrapped_keys": {"k1": "<base64 CiphertextBlob>", "k2": "..."}
//	}
//
// Each wrapped key is unwrapped once with kms:Decrypt through aws-sdk-go-v2
// (standard credential chain: environment, shared files, web identity/IRSA,
// ECS, IMDS; or [WithAWSConfig]); the plaintext key is turned into a
// cipher.AEAD and wiped, and lives only in memory. A key KMS refuses is
// reported by key id with the KMS error code, wrapping [ErrUnwrapFailed].
// The file holds no secret and may be world-readable; the IAM permission
// kms:Decrypt on the KMS key is the secret.
//
// # Rotation
//
// A [Keyring] builds one cipher.AEAD per key when it is loaded, never per
// message, and is safe for concurrent use; [Keyring.Replace] swaps the whole
// key set atomically. A [Reloader] serves a keyring file of either format and
// re-reads it on [Reloader.Reload] (the command's SIGHUP) and, rate-limited
// ([WithMissReloadInterval], default 10s, with an injectable clock), when an
// event names a key id it does not hold; only new or changed wrapped keys go
// to KMS. Several key ids live at once: add the new key to the file, start
// producing with it, and remove the old one once no event needs it.
//
// [Seal] and [GenerateFile] exist for generators, tests and the demo.
package keys
