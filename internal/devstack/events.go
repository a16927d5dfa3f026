package devstack

import "time"

// Dead-letter classes of CONTRACT.md section 4, as Event.Class carries them.
const (
	ClassBadMagic           = "bad_magic"
	ClassUnknownSchema      = "unknown_schema"
	ClassMalformedAvro      = "malformed_avro"
	ClassUnknownKey         = "unknown_key"
	ClassDecryptFailed      = "decrypt_failed"
	ClassBadPayload         = "bad_payload"
	ClassIncompatibleSchema = "incompatible_schema"
)

// Classes returns the seven dead-letter classes in contract order.
func Classes() []string {
	return []string{
		ClassBadMagic, ClassUnknownSchema, ClassMalformedAvro, ClassUnknownKey,
		ClassDecryptFailed, ClassBadPayload, ClassIncompatibleSchema,
	}
}

// Defect variants, named like the invalid entries of vectors.json. Each
// class has one or more; Event.Variant says which an event carries.
const (
	VariantBadMagic           = "bad-magic"           // first byte 1
	VariantTooShort           = "too-short"           // 3 bytes, shorter than the frame header
	VariantUnknownSchemaID    = "unknown-schema-id"   // envelope framed with UnknownSchemaID
	VariantTruncatedAvro      = "truncated-avro"      // envelope body cut short
	VariantUnknownKeyID       = "unknown-key-id"      // key_id UnknownKeyID
	VariantTamperedCiphertext = "tampered-ciphertext" // one ciphertext byte flipped
	VariantWrongAAD           = "wrong-aad"           // sealed with another transaction id as AAD
	VariantWrongKey           = "wrong-key"           // sealed with another key than key_id names
	VariantPayloadNotFramed   = "payload-not-framed"  // plaintext is a bare Avro body
	VariantPayloadTooShort    = "payload-too-short"   // plaintext shorter than a frame header
	VariantIncompatible       = "incompatible-schema" // payload written with payment-bad-v4
)

const (
	// UnknownSchemaID is the schema id of unknown_schema events.
	UnknownSchemaID uint32 = 4242
	// UnknownKeyID is the key_id of unknown_key events; it must not be in
	// the keyring.
	UnknownKeyID = "k9"
)

// Event is one generated Kafka record.
type Event struct {
	// Key is the UTF-8 transaction id; Value the framed envelope.
	Key, Value []byte
	// TransactionID is the envelope's transaction_id.
	TransactionID string
	// Class is "" for a valid event, otherwise the dead-letter class the
	// event must get; Variant names the defect.
	Class, Variant string
	// PayloadSchemaID is the schema id the payload was written with (0 if
	// the plaintext is not framed).
	PayloadSchemaID uint32
	// KeyID is the envelope's key_id.
	KeyID string
	// Expect is the table row a valid event must become; nil if invalid.
	Expect *Row
}

// Valid reports whether the event must land in the table.
func (e *Event) Valid() bool { return e.Class == "" }

// Row is the table row (CONTRACT.md section 3, without the Kafka metadata
// columns) that a valid event must become.
type Row struct {
	TransactionID string
	EventTime     time.Time // UTC, millisecond precision
	Source        string
	Amount        string // decimal(18,2) as text, e.g. "48562.72"
	Currency      string
	UserID        string
	MerchantID    string
	Status        string
	Channel       *string // v2 and later
	FeeBps        *int64  // v2 and later
	Country       *string // v3
}
