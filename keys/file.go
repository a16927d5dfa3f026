package keys

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
)

// keyFile is the JSON shape of a local keyring file:
//
//	{"keys": {"k1": "<base64 of 32 bytes>"}}
type keyFile struct {
	Keys map[string]string `json:"keys"`
}

// maxKeyFileSize bounds how much of a keyring file is read.
const maxKeyFileSize = 1 << 20

// LoadFile reads a keyring file ({"keys": {"k1": "<base64 32 bytes>"}}).
// Every problem found is reported, each naming the file and the key id; key
// bytes are never part of an error.
func LoadFile(path string) (*Keyring, error) {
	raw, err := readLimited(path)
	if err != nil {
		return nil, fmt.Errorf("keys: keyring %s: %w", path, err)
	}
	defer clear(raw)

	keys, err := parseKeyFile(raw)
	if err != nil {
		return nil, fmt.Errorf("keys: keyring %s: %w", path, err)
	}
	defer func() {
		for _, k := range keys {
			clear(k)
		}
	}()
	k, err := New(keys)
	if err != nil {
		return nil, fmt.Errorf("keys: keyring %s: %w", path, err)
	}
	return k, nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxKeyFileSize {
		clear(raw)
		return nil, fmt.Errorf("larger than %d bytes", maxKeyFileSize)
	}
	return raw, nil
}

// parseKeyFile decodes the JSON and the base64 keys. Its errors are built
// from safe facts only (offsets, ids, lengths), never from the JSON text,
// which holds key material.
func parseKeyFile(raw []byte) (map[string][]byte, error) {
	var kf keyFile
	if err := json.Unmarshal(raw, &kf); err != nil {
		return nil, jsonError(err)
	}
	if len(kf.Keys) == 0 {
		return nil, errors.New(`no keys: want {"keys": {"<key id>": "<base64 of 32 bytes>"}}`)
	}
	keys := make(map[string][]byte, len(kf.Keys))
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(kf.Keys)) {
		key, err := base64.StdEncoding.DecodeString(kf.Keys[id])
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("key %q: not valid standard base64", clip(id)))
		case len(key) != KeySize:
			errs = append(errs, fmt.Errorf("key %q: decodes to %d bytes, want %d", clip(id), len(key), KeySize))
		default:
			keys[id] = key
			continue
		}
		clear(key)
	}
	if len(errs) > 0 {
		for _, k := range keys {
			clear(k)
		}
		return nil, errors.Join(errs...)
	}
	return keys, nil
}

// GenerateFile creates a keyring file at path with one random 32-byte key
// (from crypto/rand) per id, readable by its owner only (mode 0600), and
// returns the keys. It refuses to overwrite an existing file (the error wraps
// fs.ErrExist): replacing a keyring makes the events sealed with it
// unreadable.
func GenerateFile(path string, ids ...string) (map[string][]byte, error) {
	if len(ids) == 0 {
		return nil, errors.New("keys: generate: no key ids")
	}
	keys := make(map[string][]byte, len(ids))
	kf := keyFile{Keys: make(map[string]string, len(ids))}
	for _, id := range ids {
		if id == "" {
			return nil, errors.New("keys: generate: empty key id")
		}
		if _, dup := keys[id]; dup {
			return nil, fmt.Errorf("keys: generate: duplicate key id %q", clip(id))
		}
		key := make([]byte, KeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("keys: generate: %w", err)
		}
		keys[id] = key
		kf.Keys[id] = base64.StdEncoding.EncodeToString(key)
	}
	data, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("keys: generate: %w", err)
	}
	data = append(data, '\n')
	defer clear(data)

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("keys: generate: %s already exists: %w", path, fs.ErrExist)
		}
		return nil, fmt.Errorf("keys: generate: %w", err)
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("keys: generate %s: %w", path, err)
	}
	return keys, nil
}
