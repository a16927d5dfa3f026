// Package keys opens the AES-256-GCM encrypted payloads of floe's payment
// events.
//
// What enters: a keyring of 32-byte data keys, each named by a key id (from a
// local JSON keyring file with [LoadFile], or from any other source such as
// KMS-unwrapped keys with [New]); and, per event, the envelope's key_id, its
// payload (nonce(12) || ciphertext || tag(16)) and the additional
// authenticated data (the UTF-8 transaction_id).
//
// What leaves: the plaintext (a Schema Registry framed Avro Payment, which the
// schema package decodes), or an error wrapping [ErrUnknownKey] or
// [ErrDecryptFailed]. Errors may name a key id; they never contain key bytes,
// ciphertext or plaintext.
//
// A [Keyring] builds one cipher.AEAD per key when it is loaded, never per
// message, and is safe for concurrent use; [Keyring.Replace] swaps the whole
// key set atomically (for a reload). Raw key bytes are not retained by the
// Keyring.
//
// [Seal] and [GenerateFile] exist for generators, tests and the demo.
package keys
