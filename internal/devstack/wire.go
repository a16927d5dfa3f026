package devstack

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
)

// The generator's own encoder pieces, kept apart from package schema and
// package keys on purpose: tests compare the two implementations.

const (
	frameLen  = 5  // 0x00 magic byte + 4-byte big-endian schema id
	nonceLen  = 12 // AES-GCM standard nonce
	gcmTagLen = 16
)

// appendFrame appends the Schema Registry wire header for id.
func appendFrame(dst []byte, id uint32) []byte {
	dst = append(dst, 0)
	return binary.BigEndian.AppendUint32(dst, id)
}

// newAEAD returns AES-256-GCM for key.
func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal returns nonce || ciphertext || tag, in a new slice.
func seal(aead cipher.AEAD, nonce, plaintext, aad []byte) []byte {
	out := make([]byte, nonceLen, nonceLen+len(plaintext)+gcmTagLen)
	copy(out, nonce)
	return aead.Seal(out, nonce, plaintext, aad)
}
