package keys_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/floe-io/floe/internal/kmstest"
	"github.com/floe-io/floe/keys"
	"github.com/floe-io/floe/schema"
)

// contractVectors is the part of testdata/contract/vectors.json these tests
// use.
type contractVectors struct {
	Keyring  map[string]string `json:"keyring"`
	Registry []struct {
		ID         uint32 `json:"id"`
		SchemaFile string `json:"schema_file"`
	} `json:"registry"`
	Valid []struct {
		Name            string `json:"name"`
		PayloadSchemaID uint32 `json:"payload_schema_id"`
		ValueB64        string `json:"value_b64"`
	} `json:"valid"`
}

func loadContract(t *testing.T) (*contractVectors, map[string][]byte) {
	t.Helper()
	raw, err := os.ReadFile("../testdata/contract/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v contractVectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	ks := map[string][]byte{}
	for id, b := range v.Keyring {
		if ks[id], err = base64.StdEncoding.DecodeString(b); err != nil {
			t.Fatal(err)
		}
	}
	return &v, ks
}

type kmsKeyring struct {
	KMS struct {
		Region            string            `json:"region,omitempty"`
		Endpoint          string            `json:"endpoint,omitempty"`
		KeyID             string            `json:"key_id,omitempty"`
		EncryptionContext map[string]string `json:"encryption_context,omitempty"`
	} `json:"kms"`
	WrappedKeys map[string]string `json:"wrapped_keys"`
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil { // atomic, as an operator should
		t.Fatal(err)
	}
}

// countingKMS counts Decrypt calls made through the real client.
type countingKMS struct {
	c     *kms.Client
	calls atomic.Int64
}

func (c *countingKMS) Decrypt(ctx context.Context, in *kms.DecryptInput, o ...func(*kms.Options)) (*kms.DecryptOutput, error) {
	c.calls.Add(1)
	return c.c.Decrypt(ctx, in, o...)
}

// noSecrets fails if msg holds any of the keys, raw or base64.
func noSecrets(t *testing.T, msg string, secrets map[string][]byte) {
	t.Helper()
	for id, k := range secrets {
		if strings.Contains(msg, string(k)) || strings.Contains(msg, base64.StdEncoding.EncodeToString(k)) {
			t.Errorf("message leaks data key %s: %q", id, msg)
		}
	}
}

// TestKMSKeyring runs against a KMS-compatible server over HTTP: wraps the
// contract's data keys with a KMS key through aws-sdk-go-v2, loads the
// wrapped keyring and opens every valid contract vector.
func TestKMSKeyring(t *testing.T) {
	srv := kmstest.Start(t, kmstest.Options{})
	ctx := context.Background()
	v, dataKeys := loadContract(t)

	kmsA, err := srv.CreateKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kmsB, err := srv.CreateKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	encCtx := map[string]string{"purpose": "floe-test"}
	wrap := func(kmsKey string, k []byte, ec map[string]string) string {
		blob, err := srv.Wrap(ctx, kmsKey, k, ec)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(blob, k) {
			t.Fatal("KMS blob holds the plaintext key")
		}
		return base64.StdEncoding.EncodeToString(blob)
	}
	dir := t.TempDir()
	var kf kmsKeyring
	kf.KMS.Region, kf.KMS.Endpoint, kf.KMS.KeyID, kf.KMS.EncryptionContext = kmstest.Region, srv.URL, kmsA, encCtx
	kf.WrappedKeys = map[string]string{}
	for id, k := range dataKeys {
		kf.WrappedKeys[id] = wrap(kmsA, k, encCtx)
	}
	path := filepath.Join(dir, "kms-keyring.json")
	writeJSON(t, path, kf)
	awsCfg := keys.WithAWSConfig(srv.Config)

	t.Run("opens the contract vectors", func(t *testing.T) {
		kr, err := keys.LoadKMSFile(ctx, path, awsCfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(kr.IDs(), ","); got != "k1,k2" {
			t.Fatalf("IDs = %s", got)
		}
		local, err := keys.New(dataKeys)
		if err != nil {
			t.Fatal(err)
		}
		env := envelopeCodec(t, v)
		for _, vec := range v.Valid {
			value, _ := base64.StdEncoding.DecodeString(vec.ValueB64)
			keyID, payload, txID := env(value)
			pt, err := kr.Open(nil, keyID, payload, []byte(txID))
			if err != nil {
				t.Fatalf("%s: %v", vec.Name, err)
			}
			want, err := local.Open(nil, keyID, payload, []byte(txID))
			if err != nil || !bytes.Equal(pt, want) {
				t.Fatalf("%s: KMS keyring and local keyring disagree", vec.Name)
			}
			if len(pt) < 5 || pt[0] != 0 || binary.BigEndian.Uint32(pt[1:5]) != vec.PayloadSchemaID {
				t.Fatalf("%s: plaintext is not a Payment framed with schema %d", vec.Name, vec.PayloadSchemaID)
			}
		}
		// Load detects the format.
		kr2, err := keys.Load(ctx, path, awsCfg)
		if err != nil || !kr2.Has("k1") || !kr2.Has("k2") {
			t.Fatalf("Load: %v", err)
		}
		// The file holds no plaintext key.
		raw, _ := os.ReadFile(path)
		noSecrets(t, string(raw), dataKeys)
	})

	t.Run("endpoint and region from options", func(t *testing.T) {
		var kf2 kmsKeyring
		kf2.KMS.KeyID, kf2.KMS.EncryptionContext, kf2.WrappedKeys = kmsA, encCtx, kf.WrappedKeys
		p := filepath.Join(dir, "no-endpoint.json")
		writeJSON(t, p, kf2)
		kr, err := keys.LoadKMSFile(ctx, p, awsCfg, keys.WithEndpoint(srv.URL), keys.WithRegion(kmstest.Region))
		if err != nil || len(kr.IDs()) != 2 {
			t.Fatalf("LoadKMSFile = %v", err)
		}
		cfg := srv.Config
		cfg.Region = ""
		_, err = keys.LoadKMSFile(ctx, p, keys.WithAWSConfig(cfg), keys.WithEndpoint(srv.URL))
		if err == nil || !strings.Contains(err.Error(), "no AWS region") {
			t.Fatalf("without a region: %v", err)
		}
	})

	failures := []struct {
		name   string
		mutate func(*kmsKeyring)
		want   []string // in the error besides the key id, one of these
	}{
		{"wrapped by another KMS key", func(f *kmsKeyring) { f.WrappedKeys["k2"] = wrap(kmsB, dataKeys["k2"], encCtx) }, []string{"IncorrectKeyException", "AccessDeniedException"}}, // AWS says the former, moto the latter
		{"wrong encryption context", func(f *kmsKeyring) {
			f.WrappedKeys["k2"] = wrap(kmsA, dataKeys["k2"], map[string]string{"purpose": "other"})
		}, []string{"InvalidCiphertextException"}},
		{"corrupted blob", func(f *kmsKeyring) {
			b, _ := base64.StdEncoding.DecodeString(f.WrappedKeys["k2"])
			b[len(b)-1] ^= 1
			f.WrappedKeys["k2"] = base64.StdEncoding.EncodeToString(b)
		}, []string{"InvalidCiphertextException"}},
		{"unwraps to a 16-byte key", func(f *kmsKeyring) { f.WrappedKeys["k2"] = wrap(kmsA, dataKeys["k2"][:16], encCtx) }, []string{"16 bytes, want 32"}},
		{"not base64", func(f *kmsKeyring) { f.WrappedKeys["k2"] = "%%%" }, []string{"base64"}},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			f := kf
			f.WrappedKeys = map[string]string{"k1": kf.WrappedKeys["k1"], "k2": kf.WrappedKeys["k2"]}
			tc.mutate(&f)
			p := filepath.Join(t.TempDir(), "keyring.json")
			writeJSON(t, p, f)
			_, err := keys.LoadKMSFile(ctx, p, awsCfg)
			if err == nil {
				t.Fatal("LoadKMSFile succeeded")
			}
			msg := err.Error()
			if tc.name != "not base64" && !errors.Is(err, keys.ErrUnwrapFailed) {
				t.Errorf("error %q does not wrap ErrUnwrapFailed", msg)
			}
			for _, w := range []string{`key "k2"`, p} {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if !slices.ContainsFunc(tc.want, func(w string) bool { return strings.Contains(msg, w) }) {
				t.Errorf("error %q contains none of %q", msg, tc.want)
			}
			if strings.Contains(msg, `key "k1"`) {
				t.Errorf("error %q blames k1", msg)
			}
			noSecrets(t, msg, dataKeys)
		})
	}

	t.Run("reload calls KMS only for new keys", func(t *testing.T) {
		counter := &countingKMS{c: srv.Client}
		p := filepath.Join(t.TempDir(), "keyring.json")
		f := kf
		f.WrappedKeys = map[string]string{"k1": kf.WrappedKeys["k1"]}
		writeJSON(t, p, f)
		r, err := keys.NewReloader(ctx, p, keys.WithKMSClient(counter))
		if err != nil {
			t.Fatal(err)
		}
		if n := counter.calls.Load(); n != 1 {
			t.Fatalf("%d Decrypt calls for one key", n)
		}
		k3 := make([]byte, keys.KeySize)
		rand.Read(k3)
		f.WrappedKeys = map[string]string{"k1": kf.WrappedKeys["k1"], "k3": wrap(kmsA, k3, encCtx)}
		writeJSON(t, p, f)
		if err := r.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		if n := counter.calls.Load(); n != 2 {
			t.Fatalf("%d Decrypt calls after adding one key, want 2", n)
		}
		sealed, _ := keys.Seal(nil, k3, nil, []byte("x"), []byte("tx"))
		if pt, err := r.Open(nil, "k3", sealed, []byte("tx")); err != nil || string(pt) != "x" {
			t.Fatalf("Open k3 after reload: %v", err)
		}
		// A failing reload keeps the keys in use.
		f.WrappedKeys["k4"] = wrap(kmsB, k3, encCtx) // wrong KMS key
		writeJSON(t, p, f)
		if err := r.Reload(ctx); !errors.Is(err, keys.ErrUnwrapFailed) || !strings.Contains(err.Error(), `key "k4"`) {
			t.Fatalf("Reload with a bad key: %v", err)
		}
		if got := strings.Join(r.IDs(), ","); got != "k1,k3" {
			t.Fatalf("IDs after a failed reload = %s", got)
		}
	})
}

// TestKMSAccessDenied: a server that checks credentials refuses the
// unknown access key; the error names the key id and the KMS error.
func TestKMSAccessDenied(t *testing.T) {
	srv := kmstest.Start(t, kmstest.Options{AuthRequired: true})
	ctx := context.Background()
	var f kmsKeyring
	f.KMS.Region, f.KMS.Endpoint = kmstest.Region, srv.URL
	// Any blob: the request is refused before it is looked at.
	f.WrappedKeys = map[string]string{"k7": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 64))}
	p := filepath.Join(t.TempDir(), "keyring.json")
	writeJSON(t, p, f)
	_, err := keys.LoadKMSFile(ctx, p, keys.WithAWSConfig(kmstest.Config("AKIAFLOETESTDENIED00", "nope")))
	if !errors.Is(err, keys.ErrUnwrapFailed) {
		t.Fatalf("err = %v, want ErrUnwrapFailed", err)
	}
	msg := err.Error()
	for _, w := range []string{`key "k7"`, "Decrypt", "StatusCode: 403"} {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not contain %q", msg, w)
		}
	}
	if strings.Contains(msg, "nope") {
		t.Errorf("error %q holds the secret access key", msg)
	}
}

// envelopeCodec returns a function splitting a framed envelope into key id,
// payload and transaction id with the contract's envelope schema.
func envelopeCodec(t *testing.T, v *contractVectors) func([]byte) (string, []byte, string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("../testdata/contract/schemas", v.Registry[0].SchemaFile))
	if err != nil {
		t.Fatal(err)
	}
	s, err := schema.Compile(v.Registry[0].ID, string(raw))
	if err != nil {
		t.Fatal(err)
	}
	return func(value []byte) (string, []byte, string) {
		_, body, err := schema.ParseFrame(value)
		if err != nil {
			t.Fatal(err)
		}
		native, _, err := s.Codec.NativeFromBinary(body)
		if err != nil {
			t.Fatal(err)
		}
		m := native.(map[string]any)
		return m["key_id"].(string), m["payload"].([]byte), m["transaction_id"].(string)
	}
}
