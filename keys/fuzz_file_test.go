package keys

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseKeyring feeds arbitrary bytes to the keyring file parsers: no
// panic, and an error never repeats a run of the file (which may hold key
// material) longer than a key id.
func FuzzParseKeyring(f *testing.F) {
	f.Add([]byte(`{"keys": {"k1": "r1hY1ol7ngUiYyOr7pYKhONkWGXrGJKd2xyn/ob/75A="}}`))
	f.Add([]byte(`{"kms": {"region": "eu-west-1"}, "wrapped_keys": {"k1": "AQIDAHhMb3xeU2yCGxfBfuJPfcKfPvgHQjUNDkdw"}}`))
	f.Add([]byte(`{"keys": {"k1": "r1hY1ol7ngUiYyOr7pYKhONkWGXrGJKd2xyn/ob/75A="`))
	f.Add([]byte(`{"keys": {"k1": 7}}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, raw []byte) {
		check := func(err error) {
			if err == nil {
				return
			}
			msg := err.Error()
			// Key ids are clipped to maxIDInError in messages.
			for i := 0; i+maxIDInError+16 <= len(raw); i++ {
				if strings.Contains(msg, string(raw[i:i+maxIDInError+16])) {
					t.Fatalf("error %q repeats the file", msg)
				}
			}
		}
		f, err := detectFormat(raw)
		check(err)
		switch f {
		case formatLocal:
			keys, err := parseKeyFile(raw)
			check(err)
			for id, k := range keys {
				if len(k) != KeySize {
					t.Fatalf("key %q is %d bytes", clip(id), len(k))
				}
			}
			// The whole loader (no KMS involved for a local file).
			p := filepath.Join(dir, "k.json")
			if err := os.WriteFile(p, raw, 0o600); err != nil {
				t.Fatal(err)
			}
			kr, lerr := Load(context.Background(), p)
			check(lerr)
			_, emptyID := keys[""]
			if (lerr == nil) != (err == nil && !emptyID) || (kr != nil && len(kr.IDs()) != len(keys)) {
				t.Fatalf("Load and parseKeyFile disagree: %v / %v", lerr, err)
			}
		case formatKMS:
			_, err := parseKMSFile(raw)
			check(err)
		}
	})
}
