package schema

import (
	"fmt"
	"strings"

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
	aliases  []string
}

// Columns maps the fields of a payload record schema to Iceberg column types,
// in field order. Errors name the field path and wrap ErrIncompatibleSchema.
//
// The mapping (docs/types.md): boolean, int, long, float, double, string,
// bytes as themselves; enum -> string; fixed(n) -> fixed[n]; decimal on
// bytes or fixed -> decimal(p,s); uuid -> uuid; date -> date;
// time-millis/-micros -> time; timestamp-millis/-micros -> timestamptz;
// local-timestamp-millis/-micros -> timestamp; ["null", T] -> optional T;
// any other union -> a struct with one optional member per non-null branch
// (see unionMemberName); array -> list; map -> map<string, V>; record ->
// struct. A recursive record, and the nanosecond and duration logical types,
// are refused.
//
// Nested struct fields, list elements and map values are required unless
// their Avro type is nullable. Field ids inside nested types are
// placeholders (1, 2, ... in visiting order): a catalog assigns real ids
// when the column is added.
func (s *Schema) Columns() ([]Column, error) {
	if s.root.kind != avroRecord {
		return nil, fmt.Errorf("%w: schema %d: top-level type is %s, not a record", ErrIncompatibleSchema, s.ID, s.root.kind)
	}
	cols := make([]Column, 0, len(s.root.fields))
	for _, f := range s.root.fields {
		m := mapper{visiting: map[*avroType]bool{s.root: true}}
		typ, optional, err := m.icebergType(f.typ, []string{f.name})
		if err != nil {
			return nil, fmt.Errorf("%w: schema %d: %w", ErrIncompatibleSchema, s.ID, err)
		}
		cols = append(cols, Column{Name: f.name, Type: typ, Optional: optional, Doc: f.doc, avro: f.typ, aliases: f.aliases})
	}
	return cols, nil
}

// IcebergSchema returns the payload schema's columns as an Iceberg schema
// (id 0, field ids 1.. in visiting order), required where the Avro type is
// not nullable. It is the rendering of the type mapping used by the golden
// tests and docs/types.md.
func (s *Schema) IcebergSchema() (*iceberggo.Schema, error) {
	cols, err := s.Columns()
	if err != nil {
		return nil, err
	}
	// Columns numbers each column's nested fields from 1: number them
	// across the schema, top-level fields first.
	next := 0
	nextID := func() int { next++; return next }
	fields := make([]iceberggo.NestedField, len(cols))
	for i, c := range cols {
		fresh, err := iceberggo.AssignFreshSchemaIDs(iceberggo.NewSchema(0, iceberggo.NestedField{Name: c.Name, Type: c.Type}), func() int { return 0 })
		if err != nil {
			return nil, err
		}
		fields[i] = iceberggo.NestedField{ID: nextID(), Name: c.Name, Type: fresh.Field(0).Type, Required: !c.Optional, Doc: c.Doc}
	}
	var reassign func(t iceberggo.Type) iceberggo.Type
	reassign = func(t iceberggo.Type) iceberggo.Type {
		switch x := t.(type) {
		case *iceberggo.StructType:
			out := &iceberggo.StructType{FieldList: make([]iceberggo.NestedField, len(x.FieldList))}
			for i, f := range x.FieldList {
				f.ID = nextID()
				out.FieldList[i] = f
			}
			for i := range out.FieldList {
				out.FieldList[i].Type = reassign(out.FieldList[i].Type)
			}
			return out
		case *iceberggo.ListType:
			c := *x
			c.ElementID = nextID()
			c.Element = reassign(x.Element)
			return &c
		case *iceberggo.MapType:
			c := *x
			c.KeyID, c.ValueID = nextID(), nextID()
			c.ValueType = reassign(x.ValueType)
			return &c
		}
		return t
	}
	for i := range fields {
		fields[i].Type = reassign(fields[i].Type)
	}
	return iceberggo.NewSchema(0, fields...), nil
}

// mapper maps one Avro type tree, tracking the records being visited to
// refuse recursion, and numbering nested fields.
type mapper struct {
	visiting map[*avroType]bool
	nextID   int
}

func (m *mapper) id() int {
	m.nextID++
	return m.nextID
}

// fieldError names the field path in an error.
func fieldError(path []string, format string, args ...any) error {
	return fmt.Errorf("field %q: %s", strings.Join(path, "."), fmt.Sprintf(format, args...))
}

// icebergType maps one Avro type at path; optional reports a nullable
// union (["null", T] or a union holding "null").
func (m *mapper) icebergType(t *avroType, path []string) (typ iceberggo.Type, optional bool, err error) {
	if t.kind == avroUnion {
		if inner, ok := t.nullable(); ok {
			typ, _, err := m.icebergType(inner, path)
			return typ, true, err
		}
		if len(t.branches) == 1 {
			typ, _, err := m.icebergType(t.branches[0], path)
			return typ, true, err
		}
		return m.unionStruct(t, path)
	}
	switch t.logical {
	case "decimal":
		if t.kind != avroBytes && t.kind != avroFixed {
			break
		}
		if t.precision < 1 || t.precision > maxDecimalPrecision || t.scale < 0 || t.scale > t.precision {
			return nil, false, fieldError(path, "unsupported type %s: precision must be 1..%d and scale 0..precision", t, maxDecimalPrecision)
		}
		return iceberggo.DecimalTypeOf(t.precision, t.scale), false, nil
	case "uuid":
		if t.kind == avroString || (t.kind == avroFixed && t.size == 16) {
			return iceberggo.PrimitiveTypes.UUID, false, nil
		}
	case "timestamp-millis", "timestamp-micros":
		if t.kind == avroLong {
			return iceberggo.PrimitiveTypes.TimestampTz, false, nil
		}
	case "local-timestamp-millis", "local-timestamp-micros":
		if t.kind == avroLong {
			return iceberggo.PrimitiveTypes.Timestamp, false, nil
		}
	case "date":
		if t.kind == avroInt {
			return iceberggo.PrimitiveTypes.Date, false, nil
		}
	case "time-millis":
		if t.kind == avroInt {
			return iceberggo.PrimitiveTypes.Time, false, nil
		}
	case "time-micros":
		if t.kind == avroLong {
			return iceberggo.PrimitiveTypes.Time, false, nil
		}
	case "timestamp-nanos", "local-timestamp-nanos", "duration":
		return nil, false, fieldError(path, "unsupported type %s: floe cannot represent it", t)
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
	case avroRecord:
		return m.record(t, path)
	case avroArray:
		elem, opt, err := m.icebergType(t.items, append(path, "element"))
		if err != nil {
			return nil, false, err
		}
		return &iceberggo.ListType{ElementID: m.id(), Element: elem, ElementRequired: !opt}, false, nil
	case avroMap:
		val, opt, err := m.icebergType(t.values, append(path, "value"))
		if err != nil {
			return nil, false, err
		}
		return &iceberggo.MapType{
			KeyID: m.id(), KeyType: iceberggo.PrimitiveTypes.String,
			ValueID: m.id(), ValueType: val, ValueRequired: !opt,
		}, false, nil
	case avroNull:
		return nil, false, fieldError(path, "unsupported type null: a column needs a non-null type")
	}
	return nil, false, fieldError(path, "unsupported type %s", t)
}

func (m *mapper) record(t *avroType, path []string) (iceberggo.Type, bool, error) {
	if m.visiting[t] {
		return nil, false, fieldError(path, "recursive type %s: a table cannot represent it", t)
	}
	m.visiting[t] = true
	defer delete(m.visiting, t)
	st := &iceberggo.StructType{}
	for _, f := range t.fields {
		ft, opt, err := m.icebergType(f.typ, append(path, f.name))
		if err != nil {
			return nil, false, err
		}
		st.FieldList = append(st.FieldList, iceberggo.NestedField{ID: m.id(), Name: f.name, Type: ft, Required: !opt, Doc: f.doc})
	}
	if len(st.FieldList) == 0 {
		return nil, false, fieldError(path, "record %s has no fields: a struct column needs one", t.name)
	}
	return st, false, nil
}

// unionStruct maps a union other than ["null", T]: a struct with one
// optional member per non-null branch, named by unionMemberName. At most
// one member of a row is set; a null branch makes the struct optional.
func (m *mapper) unionStruct(t *avroType, path []string) (iceberggo.Type, bool, error) {
	st := &iceberggo.StructType{}
	optional := false
	seen := map[string]bool{}
	for _, b := range t.branches {
		if b.kind == avroNull {
			optional = true
			continue
		}
		name := unionMemberName(b)
		if seen[name] {
			return nil, false, fieldError(path, "union branches %s share the member name %q", t, name)
		}
		seen[name] = true
		bt, _, err := m.icebergType(b, append(path, name))
		if err != nil {
			return nil, false, err
		}
		st.FieldList = append(st.FieldList, iceberggo.NestedField{ID: m.id(), Name: name, Type: bt})
	}
	return st, optional, nil
}

// unionMemberName names the struct member of a union branch: the short
// name of a named type (record, enum, fixed), else the primitive type name
// followed by its logical type with '-' as '_' (e.g. "long",
// "long_timestamp_millis", "bytes_decimal").
func unionMemberName(b *avroType) string {
	if b.name != "" {
		if i := strings.LastIndexByte(b.name, '.'); i >= 0 {
			return b.name[i+1:]
		}
		return b.name
	}
	if b.logical != "" {
		return b.kind.String() + "_" + strings.ReplaceAll(b.logical, "-", "_")
	}
	return b.kind.String()
}
