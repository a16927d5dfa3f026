package keys

import (
	"context"
	"crypto/cipher"
	"encoding/json"
	"errors"
	"fmt"
)

// format is the kind of a keyring file.
type format int

const (
	formatLocal format = iota + 1 // {"keys": {...}}: plaintext data keys
	formatKMS                     // {"kms": {...}, "wrapped_keys": {...}}
)

// Load reads a keyring file of either format, telling them apart by their
// top-level fields: "keys" (a local keyring, as [LoadFile]) or
// "wrapped_keys" (data keys wrapped by AWS KMS, as [LoadKMSFile]). opts
// apply to a KMS file only.
func Load(ctx context.Context, path string, opts ...Option) (*Keyring, error) {
	cfg := newConfig(opts)
	src := &fileSource{path: path, cfg: &cfg}
	aeads, _, err := src.load(ctx)
	if err != nil {
		return nil, err
	}
	return &Keyring{aeads: aeads}, nil
}

// fileSource reads one keyring file, again on every reload, keeping the
// KMS client and the unwrapped keys between reads. It is not safe for
// concurrent use: its owner serializes calls.
type fileSource struct {
	path string
	cfg  *config

	client         KMSDecrypter
	clientRegion   string
	clientEndpoint string
	cache          map[string]cachedKey
}

// load reads, detects and decodes the file. Errors name the file.
func (s *fileSource) load(ctx context.Context) (map[string]cipher.AEAD, format, error) {
	raw, err := readLimited(s.path)
	if err != nil {
		return nil, 0, fmt.Errorf("keys: keyring %s: %w", s.path, err)
	}
	defer clear(raw)
	f, err := detectFormat(raw)
	if err != nil {
		return nil, 0, fmt.Errorf("keys: keyring %s: %w", s.path, err)
	}
	var aeads map[string]cipher.AEAD
	switch f {
	case formatLocal:
		aeads, err = loadLocal(raw)
	case formatKMS:
		var kf *kmsFile
		if kf, err = parseKMSFile(raw); err == nil {
			aeads, err = s.unwrapAll(ctx, kf)
		}
	}
	if err != nil {
		return nil, 0, fmt.Errorf("keys: keyring %s: %w", s.path, err)
	}
	return aeads, f, nil
}

func loadLocal(raw []byte) (map[string]cipher.AEAD, error) {
	keys, err := parseKeyFile(raw)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, k := range keys {
			clear(k)
		}
	}()
	return buildAEADs(keys)
}

// detectFormat looks at the top-level field names only.
func detectFormat(raw []byte) (format, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return 0, jsonError(err)
	}
	_, local := top["keys"]
	_, wrapped := top["wrapped_keys"]
	switch {
	case local && wrapped:
		return 0, errors.New(`both "keys" and "wrapped_keys": a keyring file holds one kind`)
	case wrapped:
		return formatKMS, nil
	case local:
		return formatLocal, nil
	}
	return 0, errors.New(`no keys: want {"keys": {...}} (local) or {"wrapped_keys": {...}} (AWS KMS)`)
}

// jsonError describes a JSON decoding error by safe facts only (offsets,
// field names), never by the text, which may hold key material.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("invalid JSON at byte offset %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Errorf("invalid JSON: field %q must be %s", typ.Field, typ.Type)
	}
	return errors.New("invalid JSON")
}
