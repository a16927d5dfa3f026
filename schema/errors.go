package schema

import (
	"errors"
	"fmt"
)

// Poison errors: the record can never be ingested. Each maps to one
// dead-letter class of CONTRACT.md section 4 (the mapping is ingest's).
var (
	// ErrBadMagic: the value is shorter than the 5-byte frame header or its
	// first byte is not 0.
	ErrBadMagic = errors.New("bad magic")
	// ErrUnknownSchema: the registry has no schema with the frame's id.
	ErrUnknownSchema = errors.New("unknown schema")
	// ErrMalformedAvro: the envelope body does not decode with its writer
	// schema, has trailing bytes, or the schema is not an envelope.
	ErrMalformedAvro = errors.New("malformed avro")
	// ErrBadPayload: the decrypted plaintext is not a framed Avro Payment.
	ErrBadPayload = errors.New("bad payload")
	// ErrIncompatibleSchema: the writer schema cannot be applied to the table
	// by a safe evolution.
	ErrIncompatibleSchema = errors.New("incompatible schema")
)

var (
	// ErrRegistryUnavailable marks registry failures that may succeed when
	// retried: connection errors, timeouts, HTTP 5xx, 408 and 429, and
	// unreadable responses. It is never a poison error.
	ErrRegistryUnavailable = errors.New("schema registry unavailable")
	// ErrInvalidSchema: the registry returned a schema that cannot be used:
	// not Avro, has a reference the registry cannot serve, or does not
	// compile. Schema ids are immutable, so this is permanent; the decoder
	// turns it into ErrMalformedAvro (envelope) or ErrBadPayload (payload).
	ErrInvalidSchema = errors.New("unusable registry schema")
)

// RegistryError is a non-2xx answer of the Schema Registry. It is wrapped
// together with ErrUnknownSchema (404 / 40403) or ErrRegistryUnavailable
// (5xx, 408, 429) where those apply; other statuses (401, 403, 409, 422, ...)
// are neither: they need an operator.
type RegistryError struct {
	Method     string
	Path       string // request path below the base URL; no credentials
	StatusCode int    // HTTP status
	ErrorCode  int    // the registry's error_code, 0 if absent
	Message    string // the registry's message, clipped
}

func (e *RegistryError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d", e.Method, e.Path, e.StatusCode)
	if e.ErrorCode != 0 {
		msg += fmt.Sprintf(" (error_code %d)", e.ErrorCode)
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}
