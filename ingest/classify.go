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
)

// Classes lists every error class in contract order.
var Classes = []string{
	ClassBadMagic, ClassUnknownSchema, ClassMalformedAvro, ClassUnknownKey,
	ClassDecryptFailed, ClassBadPayload, ClassIncompatibleSchema,
}

// Classify returns the contract error class of err, or "" when err is not
// a property of the record (a registry outage, a cancelled context): such
// errors are retried, never dead-lettered.
func Classify(err error) string {
	switch {
	case err == nil:
		return ""
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
