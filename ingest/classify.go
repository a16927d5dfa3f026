package ingest

import (
	"errors"

	"github.com/floe-io/floe/keys"
	"github.com/floe-io/floe/schema"
)

// Error classes of records that cannot be ingested (CONTRACT.md section 4).
const (
	ClassBadMagic           = "bad_magic"
	ClassUnknownSchema      = "unknown_schema"
	ClassMalformedAvro      = "malformed_avro"
	ClassUnknownKey         = "unknown_key"
	ClassDecryptFailed      = "decrypt_failed"
	ClassBadPayload         = "bad_payload"
	ClassIncompatibleSchema = "incompatible_schema"

	// Beyond the contract's seven (README, "Records that cannot be
	// ingested"): see CheckRecord.
	ClassEmptyValue = "empty_value"
	ClassTooLarge   = "too_large"
)

// Classes lists every error class: the contract's in contract order, then
// floe's own.
var Classes = []string{
	ClassBadMagic, ClassUnknownSchema, ClassMalformedAvro, ClassUnknownKey,
	ClassDecryptFailed, ClassBadPayload, ClassIncompatibleSchema,
	ClassEmptyValue, ClassTooLarge,
}

// Classify returns the contract error class of err, or "" when err is not
// a property of the record (a registry outage, a cancelled context): such
// errors are retried, never dead-lettered.
func Classify(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrEmptyValue):
		return ClassEmptyValue
	case errors.Is(err, ErrTooLarge):
		return ClassTooLarge
	case errors.Is(err, schema.ErrBadMagic):
		return ClassBadMagic
	case errors.Is(err, schema.ErrUnknownSchema):
		return ClassUnknownSchema
	case errors.Is(err, schema.ErrMalformedAvro):
		return ClassMalformedAvro
	case errors.Is(err, keys.ErrUnknownKey):
		return ClassUnknownKey
	case errors.Is(err, keys.ErrDecryptFailed):
		return ClassDecryptFailed
	case errors.Is(err, schema.ErrBadPayload):
		return ClassBadPayload
	case errors.Is(err, schema.ErrIncompatibleSchema):
		return ClassIncompatibleSchema
	}
	return ""
}
