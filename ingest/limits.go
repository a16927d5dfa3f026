package ingest

import (
	"errors"
	"fmt"
)

var (
	// ErrEmptyValue means a record has no value (a tombstone, or a
	// producer that sent none): class empty_value.
	ErrEmptyValue = errors.New("record has no value")
	// ErrTooLarge means a record is larger than the configured limit:
	// class too_large. It is refused before anything is decoded or
	// allocated for it.
	ErrTooLarge = errors.New("record larger than the limit")
)

// CheckRecord refuses a record before it is decoded: one without a value
// (ErrEmptyValue), or whose key and value together exceed maxBytes
// (ErrTooLarge; maxBytes <= 0 means no limit). The errors hold sizes only.
func CheckRecord(r *Record, maxBytes int) error {
	if len(r.Value) == 0 {
		return fmt.Errorf("ingest: %w", ErrEmptyValue)
	}
	if size := len(r.Key) + len(r.Value); maxBytes > 0 && size > maxBytes {
		return fmt.Errorf("ingest: %w: %d bytes (key %d, value %d), limit %d", ErrTooLarge, size, len(r.Key), len(r.Value), maxBytes)
	}
	return nil
}
