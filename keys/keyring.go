package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
)

// Sizes of the payload parts (CONTRACT.md section 2).
const (
	KeySize   = 32 // AES-256
	NonceSize = 12 // GCM standard nonce
	TagSize   = 16 // GCM tag
	// Overhead is the smallest possible payload: nonce and tag, empty plaintext.
	Overhead = NonceSize + TagSize
)

var (
	// ErrUnknownKey means the keyring holds no key with the requested id.
	ErrUnknownKey = errors.New("unknown key id")
	// ErrDecryptFailed means the payload could not be authenticated: it is
	// too short, was tampered with, was sealed with another key, or is bound
	// to other additional data (another transaction_id).
	ErrDecryptFailed = errors.New("decrypt failed")
)

// maxIDInError bounds how much of a (producer-controlled) key id an error
// message repeats.
const maxIDInError = 64

// Keyring maps key ids to AES-256-GCM AEADs. It is safe for concurrent use.
// The zero value is an empty keyring.
type Keyring struct {
	mu    sync.RWMutex
	aeads map[string]cipher.AEAD
}

// New returns a keyring holding the given keys. Each key must be exactly
// [KeySize] bytes and each id non-empty. The key bytes are not retained: the
// caller may wipe them afterwards.
func New(keys map[string][]byte) (*Keyring, error) {
	aeads, err := buildAEADs(keys)
	if err != nil {
		return nil, err
	}
	return &Keyring{aeads: aeads}, nil
}

// Replace atomically swaps the whole key set, for a reload. On error the
// keyring is left unchanged.
func (k *Keyring) Replace(keys map[string][]byte) error {
	aeads, err := buildAEADs(keys)
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.aeads = aeads
	k.mu.Unlock()
	return nil
}

func buildAEADs(keys map[string][]byte) (map[string]cipher.AEAD, error) {
	aeads := make(map[string]cipher.AEAD, len(keys))
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(keys)) {
		aead, err := newAEAD(keys[id])
		if id == "" {
			err = errors.New("empty key id")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("keys: key %q: %w", clip(id), err))
			continue
		}
		aeads[id] = aead
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return aeads, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("gcm: %w", err)
	}
	return aead, nil
}

// Open authenticates and decrypts payload (nonce || ciphertext || tag) with
// the key named keyID and the additional data aad, appending the plaintext
// to dst and returning the updated slice. dst and payload must not overlap
// unless dst is payload[:0], in which case the plaintext overwrites the
// payload.
//
// Errors wrap [ErrUnknownKey] or [ErrDecryptFailed]; they name the key id but
// never hold key, ciphertext or plaintext bytes.
func (k *Keyring) Open(dst []byte, keyID string, payload, aad []byte) ([]byte, error) {
	k.mu.RLock()
	aead, ok := k.aeads[keyID]
	k.mu.RUnlock()
	if !ok {
		return dst, fmt.Errorf("keys: %w: %q", ErrUnknownKey, clip(keyID))
	}
	if len(payload) < Overhead {
		return dst, fmt.Errorf("keys: %w: key %q: payload is %d bytes, shorter than nonce and tag (%d)",
			ErrDecryptFailed, clip(keyID), len(payload), Overhead)
	}
	if len(dst) == 0 && cap(dst) > 0 && &dst[:1][0] == &payload[0] {
		// In-place: the plaintext starts where the nonce was; AEAD.Open
		// requires exact overlap, so open into the ciphertext's position
		// and move the plaintext down.
		pt, err := aead.Open(payload[NonceSize:NonceSize], payload[:NonceSize], payload[NonceSize:], aad)
		if err != nil {
			return dst, fmt.Errorf("keys: %w: key %q: authentication failed", ErrDecryptFailed, clip(keyID))
		}
		return append(dst, pt...), nil
	}
	pt, err := aead.Open(dst, payload[:NonceSize], payload[NonceSize:], aad)
	if err != nil {
		return dst, fmt.Errorf("keys: %w: key %q: authentication failed", ErrDecryptFailed, clip(keyID))
	}
	return pt, nil
}

// IDs returns the key ids in the keyring, sorted.
func (k *Keyring) IDs() []string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return slices.Sorted(maps.Keys(k.aeads))
}

// Has reports whether the keyring holds a key with the given id.
func (k *Keyring) Has(keyID string) bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	_, ok := k.aeads[keyID]
	return ok
}

// Seal encrypts plaintext with the 32-byte key and aad and appends
// nonce || ciphertext || tag to dst. If nonce is nil a random one is drawn
// from crypto/rand; otherwise it must be [NonceSize] bytes and must never be
// reused with the same key. Seal builds a cipher per call: it is meant for
// generators and tests, not for a hot path.
func Seal(dst []byte, key []byte, nonce, plaintext, aad []byte) ([]byte, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return dst, fmt.Errorf("keys: seal: %w", err)
	}
	if nonce == nil {
		nonce = make([]byte, NonceSize)
		if _, err := rand.Read(nonce); err != nil {
			return dst, fmt.Errorf("keys: seal: nonce: %w", err)
		}
	}
	if len(nonce) != NonceSize {
		return dst, fmt.Errorf("keys: seal: nonce is %d bytes, want %d", len(nonce), NonceSize)
	}
	dst = append(dst, nonce...)
	return aead.Seal(dst, nonce, plaintext, aad), nil
}

// clip shortens a key id for an error message.
func clip(id string) string {
	if len(id) <= maxIDInError {
		return id
	}
	return id[:maxIDInError] + "..."
}
