package contract

import (
	_ "embed" // for the embedded .avsc files
)

// DefaultTopic is the Kafka topic the events are produced to by default.
const DefaultTopic = "payments.transactions"

// Subjects of the Schema Registry (TopicNameStrategy for the record value).
const (
	// EnvelopeSubject is the subject of the Kafka record value schema.
	EnvelopeSubject = "payments.transactions-value"
	// PaymentSubject is the subject of the encrypted payload schemas.
	PaymentSubject = "payments.transactions-payload"
)

// Schema texts, exactly as in schemas/*.avsc.
var (
	//go:embed schemas/envelope.avsc
	Envelope string
	//go:embed schemas/payment-v1.avsc
	PaymentV1 string
	//go:embed schemas/payment-v2.avsc
	PaymentV2 string
	//go:embed schemas/payment-v3.avsc
	PaymentV3 string
	//go:embed schemas/payment-bad-v4.avsc
	PaymentBadV4 string
)

// IDs are the registry ids of the contract schemas.
type IDs struct {
	Envelope uint32
	V1       uint32
	V2       uint32
	V3       uint32
	BadV4    uint32
}

// Entry is one schema of the contract with the subject it is registered under.
type Entry struct {
	Name    string // file name, e.g. "payment-v2.avsc"
	Subject string
	Schema  string
}

// Entries returns the contract schemas in registration order (the order of
// "registry" in testdata/contract/vectors.json).
func Entries() []Entry {
	return []Entry{
		{Name: "envelope.avsc", Subject: EnvelopeSubject, Schema: Envelope},
		{Name: "payment-v1.avsc", Subject: PaymentSubject, Schema: PaymentV1},
		{Name: "payment-v2.avsc", Subject: PaymentSubject, Schema: PaymentV2},
		{Name: "payment-v3.avsc", Subject: PaymentSubject, Schema: PaymentV3},
		{Name: "payment-bad-v4.avsc", Subject: PaymentSubject, Schema: PaymentBadV4},
	}
}
