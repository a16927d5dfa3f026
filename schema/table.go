package schema

import (
	"github.com/apache/arrow-go/v18/arrow"
	iceberggo "github.com/apache/iceberg-go"
)

// Column names fed from the envelope and the record metadata rather than
// the payload (CONTRACT.md section 3).
const (
	TransactionIDColumn  = "transaction_id"
	EventTimeColumn      = "event_time"
	SourceColumn         = "source"
	KafkaTopicColumn     = "_kafka_topic"
	KafkaPartitionColumn = "_kafka_partition"
	KafkaOffsetColumn    = "_kafka_offset"
	// IngestedAtColumn is set by the batcher at flush, not by the Appender.
	IngestedAtColumn = "_ingested_at"
)

// reservedNames are the column names a payload field must not use: the
// envelope and metadata columns, and the envelope fields that are never
// stored.
var reservedNames = map[string]bool{
	TransactionIDColumn: true, EventTimeColumn: true, SourceColumn: true,
	KafkaTopicColumn: true, KafkaPartitionColumn: true, KafkaOffsetColumn: true,
	IngestedAtColumn: true, fieldKeyID: true, fieldPayload: true,
}

// TableSchema returns the schema a new table is created with: the envelope
// columns, the columns of payment-v1 and the metadata columns, field ids
// 1..12, schema id 0. The columns of later payment versions (channel,
// fee_bps, country: CONTRACT.md section 3) are added by schema evolution
// when the first record written with them arrives (Plan); they are placed
// before the metadata columns, so after payment-v3 the table has the
// contract's columns in the contract's order. Each call returns a new
// schema.
func TableSchema() *iceberggo.Schema {
	str := iceberggo.PrimitiveTypes.String
	return iceberggo.NewSchema(0,
		iceberggo.NestedField{ID: 1, Name: TransactionIDColumn, Type: str, Required: true},
		iceberggo.NestedField{ID: 2, Name: EventTimeColumn, Type: iceberggo.PrimitiveTypes.TimestampTz, Required: true},
		iceberggo.NestedField{ID: 3, Name: SourceColumn, Type: str},
		iceberggo.NestedField{ID: 4, Name: "amount", Type: iceberggo.DecimalTypeOf(18, 2)},
		iceberggo.NestedField{ID: 5, Name: "currency", Type: str},
		iceberggo.NestedField{ID: 6, Name: "user_id", Type: str},
		iceberggo.NestedField{ID: 7, Name: "merchant_id", Type: str},
		iceberggo.NestedField{ID: 8, Name: "status", Type: str},
		iceberggo.NestedField{ID: 9, Name: KafkaTopicColumn, Type: str},
		iceberggo.NestedField{ID: 10, Name: KafkaPartitionColumn, Type: iceberggo.PrimitiveTypes.Int32},
		iceberggo.NestedField{ID: 11, Name: KafkaOffsetColumn, Type: iceberggo.PrimitiveTypes.Int64},
		iceberggo.NestedField{ID: 12, Name: IngestedAtColumn, Type: iceberggo.PrimitiveTypes.TimestampTz},
	)
}

// UniqueColumns are the columns of TableSchema whose values are (nearly)
// unique per row, which a Parquet dictionary does not compress
// (iceberg.TunedWriteProperties).
func UniqueColumns() []string {
	return []string{TransactionIDColumn, EventTimeColumn, "amount", "user_id", KafkaOffsetColumn}
}

// PartitionSpec returns identity(currency), identity(merchant_id) bound to
// the field ids of s, with partition field ids 1000 and 1001. A column
// missing from s is left out of the spec.
func PartitionSpec(s *iceberggo.Schema) iceberggo.PartitionSpec {
	var fields []iceberggo.PartitionField
	next := 1000
	for _, name := range []string{"currency", "merchant_id"} {
		f, ok := s.FindFieldByName(name)
		if !ok {
			continue
		}
		fields = append(fields, iceberggo.PartitionField{
			SourceIDs: []int{f.ID},
			FieldID:   next,
			Name:      name,
			Transform: iceberggo.IdentityTransform{},
		})
		next++
	}
	return iceberggo.NewPartitionSpec(fields...)
}

// RowArrowSchema returns full (the table's Arrow schema) without the
// _ingested_at column: the schema the Appender fills. Metadata is kept.
func RowArrowSchema(full *arrow.Schema) *arrow.Schema {
	fields := make([]arrow.Field, 0, full.NumFields())
	for _, f := range full.Fields() {
		if f.Name != IngestedAtColumn {
			fields = append(fields, f)
		}
	}
	md := full.Metadata()
	return arrow.NewSchema(fields, &md)
}
