package keys

import (
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keyring.json")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestGenerateAndLoadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyring.json")
	keys, err := GenerateFile(path, "k1", "k2")
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Fatalf("mode = %v, want 0600", perm)
	}
	if len(keys) != 2 || len(keys["k1"]) != KeySize || len(keys["k2"]) != KeySize {
		t.Fatalf("keys = %d entries", len(keys))
	}

	kr, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(kr.IDs(), ","); got != "k1,k2" {
		t.Fatalf("IDs = %s", got)
	}
	aad := []byte("tx-1")
	p := mustSeal(t, keys["k2"], []byte("hello"), aad)
	if pt, err := kr.Open(nil, "k2", p, aad); err != nil || string(pt) != "hello" {
		t.Fatalf("Open = %q, %v", pt, err)
	}

	if _, err := GenerateFile(path, "k3"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("GenerateFile over an existing file: %v, want fs.ErrExist", err)
	}
}

func TestGenerateFileBadIDs(t *testing.T) {
	dir := t.TempDir()
	for name, ids := range map[string][]string{"none": nil, "empty": {""}, "dup": {"k1", "k1"}} {
		if _, err := GenerateFile(filepath.Join(dir, name), ids...); err == nil {
			t.Errorf("%s: GenerateFile succeeded", name)
		}
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: file was written", name)
		}
	}
}

func TestLoadFileErrors(t *testing.T) {
	good := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	short := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	tests := []struct {
		name    string
		content string
		want    []string
	}{
		{"bad base64", `{"keys": {"k1": "` + good + `", "k2": "not*base64!"}}`, []string{`key "k2"`, "base64"}},
		{"wrong length", `{"keys": {"k1": "` + short + `"}}`, []string{`key "k1"`, "16 bytes, want 32"}},
		{"both reported", `{"keys": {"a": "` + short + `", "b": "%%%"}}`, []string{`key "a"`, `key "b"`}},
		{"no keys", `{"keys": {}}`, []string{"no keys"}},
		{"missing keys", `{}`, []string{"no keys"}},
		{"syntax", `{"keys": {"k1": "` + good + `",}`, []string{"invalid JSON at byte offset"}},
		{"type", `{"keys": {"k1": 5}}`, []string{"invalid JSON", "string"}},
		{"not an object", `[]`, []string{"invalid JSON"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.content)
			_, err := LoadFile(path)
			if err == nil {
				t.Fatal("LoadFile succeeded")
			}
			msg := err.Error()
			for _, w := range append(tc.want, path) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			for _, secret := range []string{good, short, "0123456789abcdef"} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q leaks key material", msg)
				}
			}
		})
	}

	missing := filepath.Join(t.TempDir(), "nope.json")
	if _, err := LoadFile(missing); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing file: %v", err)
	}
}
