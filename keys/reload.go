package keys

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Reloader is a keyring backed by a keyring file of either format that can
// take new keys without a restart: [Reloader.Reload] re-reads the file (the
// command calls it on SIGHUP), and [Reloader.Open] re-reads it by itself when
// an event names a key id it does not hold, at most once per
// [WithMissReloadInterval], before giving up with [ErrUnknownKey].
//
// A reload swaps the whole key set at once; on error the keys in use stay.
// Wrapped keys whose blob is unchanged are not sent to KMS again. It is safe
// for concurrent use.
type Reloader struct {
	kr  *Keyring
	cfg config

	mu       sync.Mutex // serializes reloads; guards src and lastMiss
	src      *fileSource
	lastMiss time.Time // when a miss last triggered a reload
}

// NewReloader loads the keyring file at path (as [Load]) and returns a
// Reloader serving it.
func NewReloader(ctx context.Context, path string, opts ...Option) (*Reloader, error) {
	r := &Reloader{cfg: newConfig(opts)}
	r.src = &fileSource{path: path, cfg: &r.cfg}
	aeads, _, err := r.src.load(ctx)
	if err != nil {
		return nil, err
	}
	r.kr = &Keyring{aeads: aeads}
	return r, nil
}

// Keyring returns the keyring the Reloader keeps up to date.
func (r *Reloader) Keyring() *Keyring { return r.kr }

// IDs returns the key ids held now, sorted.
func (r *Reloader) IDs() []string { return r.kr.IDs() }

// Has reports whether a key with the given id is held now.
func (r *Reloader) Has(keyID string) bool { return r.kr.Has(keyID) }

// Reload re-reads the keyring file and swaps the key set. On error (the
// file is unreadable or invalid, KMS refuses a key) the keys in use are
// kept and the error names the file and every failing key id.
func (r *Reloader) Reload(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reloadLocked(ctx, "reload")
}

func (r *Reloader) reloadLocked(ctx context.Context, trigger string) error {
	aeads, _, err := r.src.load(ctx)
	if err != nil {
		r.cfg.log.Warn("keyring reload failed; keeping the keys in use", "trigger", trigger, "path", r.src.path, "err", err)
		return err
	}
	r.kr.replaceAEADs(aeads)
	r.cfg.log.Info("keyring reloaded", "trigger", trigger, "path", r.src.path, "key_ids", r.kr.IDs())
	return nil
}

// Open is [Keyring.Open], reloading the file on a miss (see
// [Reloader.OpenContext]); the reload is bounded by
// [WithMissReloadTimeout]. It implements the pipeline's Opener.
func (r *Reloader) Open(dst []byte, keyID string, payload, aad []byte) ([]byte, error) {
	return r.OpenContext(context.Background(), dst, keyID, payload, aad)
}

// OpenContext is [Keyring.Open]; when keyID is unknown and no miss has
// triggered a reload within the miss interval, it re-reads the keyring file
// once (bounded by ctx and the miss timeout) and tries again. A key id
// still unknown gives an error wrapping [ErrUnknownKey]; if the reload
// itself failed, the error says so too.
func (r *Reloader) OpenContext(ctx context.Context, dst []byte, keyID string, payload, aad []byte) ([]byte, error) {
	out, err := r.kr.Open(dst, keyID, payload, aad)
	if err == nil || !errors.Is(err, ErrUnknownKey) || r.cfg.missInterval <= 0 || keyID == "" {
		return out, err
	}
	reloaded, rerr := r.reloadOnMiss(ctx, keyID)
	if rerr != nil {
		return dst, fmt.Errorf("%w (reloading the keyring on this miss failed: %w)", err, rerr)
	}
	if !reloaded {
		return dst, err
	}
	return r.kr.Open(dst, keyID, payload, aad)
}

// reloadOnMiss reloads unless the key arrived meanwhile (then it reports
// true without reloading) or the last miss reload is too recent (false).
func (r *Reloader) reloadOnMiss(ctx context.Context, keyID string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.kr.Has(keyID) {
		return true, nil // another goroutine's reload brought it
	}
	now := r.cfg.now()
	if !r.lastMiss.IsZero() && now.Sub(r.lastMiss) < r.cfg.missInterval {
		return false, nil
	}
	r.lastMiss = now
	ctx, cancel := context.WithTimeout(ctx, r.cfg.missTimeout)
	defer cancel()
	if err := r.reloadLocked(ctx, "unknown key id"); err != nil {
		return false, err
	}
	return true, nil
}

// replaceAEADs swaps the key set (for reloads that reuse unwrapped keys).
func (k *Keyring) replaceAEADs(aeads map[string]cipher.AEAD) {
	k.mu.Lock()
	k.aeads = aeads
	k.mu.Unlock()
}
