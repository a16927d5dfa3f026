package devstack

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// KeySize is the size of an AES-256 data key.
const KeySize = 32

// GenerateKeyring returns a keyring of random 32-byte data keys, one per id.
// With no ids it makes a single key "k1".
func GenerateKeyring(ids ...string) map[string][]byte {
	if len(ids) == 0 {
		ids = []string{"k1"}
	}
	keys := make(map[string][]byte, len(ids))
	for _, id := range ids {
		k := make([]byte, KeySize)
		rand.Read(k) // never fails (crypto/rand, Go >= 1.24)
		keys[id] = k
	}
	return keys
}

// WriteKeyringFile writes keys as the local keyring file format,
// {"keys": {"k1": "<base64>"}}, with mode 0600. The file is replaced
// atomically (written beside it, then renamed).
func WriteKeyringFile(path string, keys map[string][]byte) error {
	for id, k := range keys {
		if len(k) != KeySize {
			return fmt.Errorf("devstack: key %q is %d bytes, want %d", id, len(k), KeySize)
		}
	}
	// encoding/json writes []byte as standard base64.
	data, err := json.MarshalIndent(struct {
		Keys map[string][]byte `json:"keys"`
	}{keys}, "", "  ")
	if err != nil {
		return fmt.Errorf("devstack: encode keyring: %w", err)
	}
	data = append(data, '\n')
	f, err := os.CreateTemp(filepath.Dir(path), ".keyring-*")
	if err != nil {
		return fmt.Errorf("devstack: write keyring: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("devstack: write keyring: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("devstack: write keyring: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("devstack: write keyring: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("devstack: write keyring: %w", err)
	}
	return nil
}
