package keys

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

func testKeys(t testing.TB) map[string][]byte {
	t.Helper()
	keys := map[string][]byte{"k1": make([]byte, KeySize), "k2": make([]byte, KeySize)}
	for _, k := range keys {
		if _, err := rand.Read(k); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func mustNew(t testing.TB, keys map[string][]byte) *Keyring {
	t.Helper()
	k, err := New(keys)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustSeal(t testing.TB, key, plaintext, aad []byte) []byte {
	t.Helper()
	p, err := Seal(nil, key, nil, plaintext, aad)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOpenRoundTrip(t *testing.T) {
	keys := testKeys(t)
	kr := mustNew(t, keys)
	plaintext := []byte("\x00\x00\x00\x00\x02secret payment body")
	aad := []byte("tx-000001")
	payload := mustSeal(t, keys["k1"], plaintext, aad)
	if len(payload) != len(plaintext)+Overhead {
		t.Fatalf("payload is %d bytes, want %d", len(payload), len(plaintext)+Overhead)
	}

	got, err := kr.Open(nil, "k1", payload, aad)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, plaintext) {
		t.Fatalf("Open = %q, want %q", got, plaintext)
	}

	// Appends to dst.
	got, err = kr.Open([]byte("pre:"), "k1", payload, aad)
	if err != nil || string(got) != "pre:"+string(plaintext) {
		t.Fatalf("Open with prefix = %q, %v", got, err)
	}

	// In place over the payload itself.
	inPlace := bytes.Clone(payload)
	got, err = kr.Open(inPlace[:0], "k1", inPlace, aad)
	if err != nil || !bytes.Equal(got, plaintext) {
		t.Fatalf("Open in place = %q, %v", got, err)
	}

	// Empty plaintext is allowed.
	empty := mustSeal(t, keys["k2"], nil, aad)
	got, err = kr.Open(nil, "k2", empty, aad)
	if err != nil || len(got) != 0 {
		t.Fatalf("Open empty = %q, %v", got, err)
	}
}

func TestOpenFailures(t *testing.T) {
	keys := testKeys(t)
	kr := mustNew(t, keys)
	plaintext := []byte("currency=USD merchant=m-007 amount=123.45")
	aad := []byte("tx-000042")
	payload := mustSeal(t, keys["k1"], plaintext, aad)

	tampered := bytes.Clone(payload)
	tampered[NonceSize+3] ^= 0x01
	tamperedTag := bytes.Clone(payload)
	tamperedTag[len(tamperedTag)-1] ^= 0x80
	tamperedNonce := bytes.Clone(payload)
	tamperedNonce[0] ^= 0x01

	tests := []struct {
		name    string
		keyID   string
		payload []byte
		aad     []byte
		want    error
	}{
		{"wrong aad", "k1", payload, []byte("tx-000043"), ErrDecryptFailed},
		{"nil aad", "k1", payload, nil, ErrDecryptFailed},
		{"wrong key", "k2", payload, aad, ErrDecryptFailed},
		{"tampered ciphertext", "k1", tampered, aad, ErrDecryptFailed},
		{"tampered tag", "k1", tamperedTag, aad, ErrDecryptFailed},
		{"tampered nonce", "k1", tamperedNonce, aad, ErrDecryptFailed},
		{"truncated", "k1", payload[:len(payload)-1], aad, ErrDecryptFailed},
		{"short payload", "k1", payload[:Overhead-1], aad, ErrDecryptFailed},
		{"empty payload", "k1", nil, aad, ErrDecryptFailed},
		{"unknown id", "k9", payload, aad, ErrUnknownKey},
		{"empty id", "", payload, aad, ErrUnknownKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := kr.Open(dst, tc.keyID, tc.payload, tc.aad)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open error = %v, want %v", err, tc.want)
			}
			other := ErrUnknownKey
			if tc.want == ErrUnknownKey {
				other = ErrDecryptFailed
			}
			if errors.Is(err, other) {
				t.Fatalf("Open error %v is also %v", err, other)
			}
			if string(got) != "keep" {
				t.Fatalf("Open returned dst %q on error, want it unchanged", got)
			}
			msg := err.Error()
			if tc.keyID != "" && !strings.Contains(msg, tc.keyID) {
				t.Errorf("error %q does not name the key id %q", msg, tc.keyID)
			}
			for _, secret := range [][]byte{plaintext, []byte("USD"), []byte("m-007"), keys["k1"], keys["k2"]} {
				if bytes.Contains([]byte(msg), secret) {
					t.Errorf("error %q leaks secret bytes", msg)
				}
			}
		})
	}
}

func TestNewRejectsBadKeys(t *testing.T) {
	tests := []struct {
		name string
		keys map[string][]byte
		want string
	}{
		{"short key", map[string][]byte{"k1": make([]byte, 16)}, `key "k1": key is 16 bytes, want 32`},
		{"long key", map[string][]byte{"k1": make([]byte, 33)}, `key "k1": key is 33 bytes, want 32`},
		{"empty id", map[string][]byte{"": make([]byte, 32)}, "empty key id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.keys)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestReplaceAndIDs(t *testing.T) {
	keys := testKeys(t)
	kr := mustNew(t, map[string][]byte{"k1": keys["k1"]})
	if got := kr.IDs(); len(got) != 1 || got[0] != "k1" {
		t.Fatalf("IDs = %v", got)
	}
	aad := []byte("tx")
	p2 := mustSeal(t, keys["k2"], []byte("x"), aad)
	if _, err := kr.Open(nil, "k2", p2, aad); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("before Replace: %v", err)
	}
	if err := kr.Replace(keys); err != nil {
		t.Fatal(err)
	}
	if got := kr.IDs(); len(got) != 2 || got[0] != "k1" || got[1] != "k2" {
		t.Fatalf("IDs = %v", got)
	}
	if _, err := kr.Open(nil, "k2", p2, aad); err != nil {
		t.Fatalf("after Replace: %v", err)
	}
	if err := kr.Replace(map[string][]byte{"bad": {1}}); err == nil {
		t.Fatal("Replace with a bad key succeeded")
	}
	if !kr.Has("k2") {
		t.Fatal("a failed Replace changed the keyring")
	}
}

func TestZeroKeyring(t *testing.T) {
	var kr Keyring
	if _, err := kr.Open(nil, "k1", make([]byte, 40), nil); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("zero Keyring Open = %v", err)
	}
}

func TestSealNonce(t *testing.T) {
	keys := testKeys(t)
	nonce := bytes.Repeat([]byte{7}, NonceSize)
	a, err := Seal(nil, keys["k1"], nonce, []byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a[:NonceSize], nonce) {
		t.Fatal("Seal did not prefix the nonce")
	}
	if _, err := Seal(nil, keys["k1"], nonce[:8], []byte("x"), nil); err == nil {
		t.Fatal("Seal accepted an 8-byte nonce")
	}
	if _, err := Seal(nil, keys["k1"][:16], nil, []byte("x"), nil); err == nil {
		t.Fatal("Seal accepted a 16-byte key")
	}
	b := mustSeal(t, keys["k1"], []byte("x"), nil)
	c := mustSeal(t, keys["k1"], []byte("x"), nil)
	if bytes.Equal(b[:NonceSize], c[:NonceSize]) {
		t.Fatal("random nonces repeated")
	}
}

func TestOpenLongKeyIDIsClipped(t *testing.T) {
	kr := mustNew(t, testKeys(t))
	id := strings.Repeat("x", 10_000)
	_, err := kr.Open(nil, id, make([]byte, 40), nil)
	if !errors.Is(err, ErrUnknownKey) || len(err.Error()) > 200 {
		t.Fatalf("Open error = %.300v", err)
	}
}

func BenchmarkOpen(b *testing.B) {
	keys := testKeys(b)
	kr := mustNew(b, keys)
	plaintext := bytes.Repeat([]byte{0x5a}, 80) // about the size of a framed Payment
	aad := []byte("tx-000001")
	payload := mustSeal(b, keys["k1"], plaintext, aad)
	dst := make([]byte, 0, len(plaintext))
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		out, err := kr.Open(dst[:0], "k1", payload, aad)
		if err != nil {
			b.Fatal(err)
		}
		dst = out
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkOpenParallel(b *testing.B) {
	keys := testKeys(b)
	kr := mustNew(b, keys)
	plaintext := bytes.Repeat([]byte{0x5a}, 80)
	aad := []byte("tx-000001")
	payload := mustSeal(b, keys["k1"], plaintext, aad)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		dst := make([]byte, 0, len(plaintext))
		for pb.Next() {
			if _, err := kr.Open(dst[:0], "k1", payload, aad); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
