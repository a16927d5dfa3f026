package keys

import (
	"bytes"
	"errors"
	"testing"
)

func FuzzOpen(f *testing.F) {
	key := bytes.Repeat([]byte{0x42}, KeySize)
	kr, err := New(map[string][]byte{"k1": key})
	if err != nil {
		f.Fatal(err)
	}
	good, err := Seal(nil, key, bytes.Repeat([]byte{1}, NonceSize), []byte("\x00\x00\x00\x00\x02body"), []byte("tx-1"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add("k1", good, []byte("tx-1"))
	f.Add("k1", good[:Overhead], []byte("tx-1"))
	f.Add("k1", []byte{}, []byte{})
	f.Add("k9", good, []byte("tx-1"))
	f.Fuzz(func(t *testing.T, keyID string, payload, aad []byte) {
		orig := bytes.Clone(payload)
		pt, err := kr.Open(nil, keyID, payload, aad)
		if !bytes.Equal(payload, orig) {
			t.Fatal("Open modified its input")
		}
		if err != nil {
			if !errors.Is(err, ErrUnknownKey) && !errors.Is(err, ErrDecryptFailed) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if len(pt) != len(payload)-Overhead {
			t.Fatalf("plaintext is %d bytes from a %d-byte payload", len(pt), len(payload))
		}
		// Whatever opened must seal back to the same payload.
		again, err := Seal(nil, key, payload[:NonceSize], pt, aad)
		if err != nil || !bytes.Equal(again, payload) {
			t.Fatal("open/seal mismatch")
		}
	})
}
