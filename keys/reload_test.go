package keys

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manual clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func writeLocalKeyring(t *testing.T, path string, keys map[string][]byte) {
	t.Helper()
	kf := keyFile{Keys: map[string]string{}}
	for id, k := range keys {
		kf.Keys[id] = base64.StdEncoding.EncodeToString(k)
	}
	raw, _ := json.Marshal(kf)
	if err := os.WriteFile(path+".tmp", raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

func TestReloaderMissIsRateLimited(t *testing.T) {
	all := testKeys(t) // k1, k2
	path := filepath.Join(t.TempDir(), "keyring.json")
	writeLocalKeyring(t, path, map[string][]byte{"k1": all["k1"]})
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r, err := NewReloader(context.Background(), path, WithClock(clock.now), WithMissReloadInterval(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("tx-1")
	p1 := mustSeal(t, all["k1"], []byte("one"), aad)
	p2 := mustSeal(t, all["k2"], []byte("two"), aad)

	if pt, err := r.Open(nil, "k1", p1, aad); err != nil || string(pt) != "one" {
		t.Fatalf("Open k1 = %q, %v", pt, err)
	}
	// k2 is unknown: the miss reloads (the file has no k2 yet).
	if _, err := r.Open(nil, "k2", p2, aad); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Open k2 before rotation = %v", err)
	}
	// The operator adds k2. Within the interval a miss does not reload.
	writeLocalKeyring(t, path, all)
	clock.advance(29 * time.Second)
	if _, err := r.Open(nil, "k2", p2, aad); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Open k2 within the interval = %v, want ErrUnknownKey (no reload)", err)
	}
	if r.Has("k2") {
		t.Fatal("reloaded within the interval")
	}
	// Once the interval has passed, the next miss reloads and opens.
	clock.advance(time.Second)
	if pt, err := r.Open(nil, "k2", p2, aad); err != nil || string(pt) != "two" {
		t.Fatalf("Open k2 after the interval = %q, %v", pt, err)
	}
	// Both keys live at once.
	if pt, err := r.Open(nil, "k1", p1, aad); err != nil || string(pt) != "one" {
		t.Fatalf("Open k1 after rotation = %q, %v", pt, err)
	}
	// A key id that is nowhere stays unknown, and says so.
	clock.advance(time.Minute)
	if _, err := r.Open(nil, "k9", p2, aad); !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), `"k9"`) {
		t.Fatalf("Open k9 = %v", err)
	}
}

func TestReloaderReload(t *testing.T) {
	all := testKeys(t)
	path := filepath.Join(t.TempDir(), "keyring.json")
	writeLocalKeyring(t, path, map[string][]byte{"k1": all["k1"]})
	ctx := context.Background()
	r, err := NewReloader(ctx, path, WithMissReloadInterval(0)) // no reload on a miss
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("tx")
	p2 := mustSeal(t, all["k2"], []byte("two"), aad)
	writeLocalKeyring(t, path, all)
	if _, err := r.Open(nil, "k2", p2, aad); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("miss reload disabled, Open = %v", err)
	}
	if err := r.Reload(ctx); err != nil { // SIGHUP
		t.Fatal(err)
	}
	if pt, err := r.Open(nil, "k2", p2, aad); err != nil || string(pt) != "two" {
		t.Fatalf("after Reload: %q, %v", pt, err)
	}
	// Retiring k1: the next reload drops it.
	writeLocalKeyring(t, path, map[string][]byte{"k2": all["k2"]})
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.IDs(), ","); got != "k2" {
		t.Fatalf("IDs = %s", got)
	}
	// A broken file keeps the keys in use, and the error leaks no key.
	if err := os.WriteFile(path, []byte(`{"keys": {"k2": "`+base64.StdEncoding.EncodeToString(all["k2"])+`",}`), 0o600); err != nil {
		t.Fatal(err)
	}
	err = r.Reload(ctx)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Reload of a broken file = %v", err)
	}
	if bytes.Contains([]byte(err.Error()), []byte(base64.StdEncoding.EncodeToString(all["k2"]))) {
		t.Fatal("error leaks a key")
	}
	if !r.Has("k2") {
		t.Fatal("a failed Reload dropped the keys")
	}
}

// TestReloaderMissReloadFails: a miss whose reload fails still classifies
// as an unknown key, saying why the reload failed.
func TestReloaderMissReloadFails(t *testing.T) {
	all := testKeys(t)
	path := filepath.Join(t.TempDir(), "keyring.json")
	writeLocalKeyring(t, path, map[string][]byte{"k1": all["k1"]})
	r, err := NewReloader(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	_, err = r.Open(nil, "k2", mustSeal(t, all["k2"], nil, nil), nil)
	if !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), "reloading the keyring on this miss failed") {
		t.Fatalf("Open = %v", err)
	}
	if !r.Has("k1") {
		t.Fatal("failed reload dropped k1")
	}
}

// TestReloaderConcurrent opens from many goroutines while keys rotate (run
// with -race).
func TestReloaderConcurrent(t *testing.T) {
	all := testKeys(t)
	path := filepath.Join(t.TempDir(), "keyring.json")
	writeLocalKeyring(t, path, map[string][]byte{"k1": all["k1"]})
	ctx := context.Background()
	r, err := NewReloader(ctx, path, WithMissReloadInterval(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("tx")
	p1 := mustSeal(t, all["k1"], []byte("one"), aad)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				if _, err := r.Open(nil, "k1", p1, aad); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 20 {
		writeLocalKeyring(t, path, all)
		if err := r.Reload(ctx); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
}

func TestLoadDetectsFormat(t *testing.T) {
	ctx := context.Background()
	good := base64.StdEncoding.EncodeToString(make([]byte, KeySize))
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		content string
		want    string // "" = loads
	}{
		"local":     {`{"keys": {"k1": "` + good + `"}}`, ""},
		"both":      {`{"keys": {"k1": "` + good + `"}, "wrapped_keys": {"k2": "AAAA"}}`, "both"},
		"neither":   {`{"kms": {}}`, "no keys"},
		"empty kms": {`{"wrapped_keys": {}}`, "no keys"},
		"syntax":    {`{"keys": {"k1": "` + good + `"`, "invalid JSON at byte offset"},
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".json")
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			kr, err := Load(ctx, p)
			if tc.want == "" {
				if err != nil || !kr.Has("k1") {
					t.Fatalf("Load = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), good) {
				t.Fatalf("Load = %v, want %q", err, tc.want)
			}
		})
	}
	// LoadKMSFile refuses a local file.
	p := filepath.Join(dir, "local.json")
	if _, err := LoadKMSFile(ctx, p); err == nil || !strings.Contains(err.Error(), "not a KMS keyring") {
		t.Fatalf("LoadKMSFile of a local file = %v", err)
	}
}
