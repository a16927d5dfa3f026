package schema

import (
	"fmt"

	iceberggo "github.com/apache/iceberg-go"
)

// maxDecimalPrecision is the largest precision Iceberg (and decimal128)
// can hold.
const maxDecimalPrecision = 38

// Column is a payload field mapped to an Iceberg column type.
type Column struct {
	Name     string
	Type     iceberggo.Type
	Optional bool   // the Avro type is ["null", T]
	Doc      string // the Avro field's doc
	avro     *avroType
}

// Columns maps the fields of a payload record schema to Iceberg column types,
// in field order. Errors name the field and wrap ErrIncompatibleSchema.
//
// Mapping: boolean, int, long, float, double, string, bytes as themselves;
// enum -> string; fixed(n) -> fixed[n]; decimal on bytes or fixed ->
// decimal(p,s); timestamp-millis/micros -> timestamptz; date -> date;
// ["null", T] -> optional T. Records, arrays, maps, other unions and the
// time-of-day, local-timestamp, nanosecond and duration logical types are not
// supported.
func (s *Schema) Columns() ([]Column, error) {
	if s.root.kind != avroRecord {
		return nil, fmt.Errorf("%w: schema %d: top-level type is %s, not a record", ErrIncompatibleSchema, s.ID, s.root.kind)
	}
	cols := make([]Column, 0, len(s.root.fields))
	for _, f := range s.root.fields {
		typ, optional, err := icebergType(f.typ)
		if err != nil {
			return nil, fmt.Errorf("%w: schema %d: field %q: %w", ErrIncompatibleSchema, s.ID, f.name, err)
		}
		cols = append(cols, Column{Name: f.name, Type: typ, Optional: optional, Doc: f.doc, avro: f.typ})
	}
	return cols, nil
}

// icebergType maps one Avro field type.
func icebergType(t *avroType) (typ iceberggo.Type, optional bool, err error) {
	if t.kind == avroUnion {
		inner, ok := t.nullable()
		if !ok {
			if len(t.branches) == 1 {
				return icebergType(t.branches[0])
			}
			return nil, false, fmt.Errorf("unsupported type %s: only [\"null\", T] unions map to a column", t)
		}
		typ, _, err := icebergType(inner)
		return typ, true, err
	}
	switch t.logical {
	case "decimal":
		if t.kind != avroBytes && t.kind != avroFixed {
			break
		}
		if t.precision < 1 || t.precision > maxDecimalPrecision || t.scale < 0 || t.scale > t.precision {
			return nil, false, fmt.Errorf("unsupported type %s: precision must be 1..%d", t, maxDecimalPrecision)
		}
		return iceberggo.DecimalTypeOf(t.precision, t.scale), false, nil
	case "timestamp-millis", "timestamp-micros":
		if t.kind == avroLong {
			return iceberggo.PrimitiveTypes.TimestampTz, false, nil
		}
	case "date":
		if t.kind == avroInt {
			return iceberggo.PrimitiveTypes.Date, false, nil
		}
	case "time-millis", "time-micros", "local-timestamp-millis", "local-timestamp-micros",
		"timestamp-nanos", "local-timestamp-nanos", "duration":
		return nil, false, fmt.Errorf("unsupported type %s", t)
	}
	switch t.kind {
	case avroBoolean:
		return iceberggo.PrimitiveTypes.Bool, false, nil
	case avroInt:
		return iceberggo.PrimitiveTypes.Int32, false, nil
	case avroLong:
		return iceberggo.PrimitiveTypes.Int64, false, nil
	case avroFloat:
		return iceberggo.PrimitiveTypes.Float32, false, nil
	case avroDouble:
		return iceberggo.PrimitiveTypes.Float64, false, nil
	case avroBytes:
		return iceberggo.PrimitiveTypes.Binary, false, nil
	case avroString, avroEnum:
		return iceberggo.PrimitiveTypes.String, false, nil
	case avroFixed:
		if t.size > 0 {
			return iceberggo.FixedTypeOf(t.size), false, nil
		}
	}
	return nil, false, fmt.Errorf("unsupported type %s", t)
}
