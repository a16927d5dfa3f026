package keys

import "fmt"

// ReadFile reads a keyring file ({"keys": {"k1": "<base64 32 bytes>"}}) and
// returns its raw data keys, for tools that seal events (floe produce).
// Consumers use LoadFile, which never hands keys out. Key bytes are never
// part of an error; the caller should clear the keys when done.
func ReadFile(path string) (map[string][]byte, error) {
	raw, err := readLimited(path)
	if err != nil {
		return nil, fmt.Errorf("keys: keyring %s: %w", path, err)
	}
	defer clear(raw)
	keys, err := parseKeyFile(raw)
	if err != nil {
		return nil, fmt.Errorf("keys: keyring %s: %w", path, err)
	}
	return keys, nil
}
