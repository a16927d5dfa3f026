package schema

import (
	"fmt"
	"strings"

	iceberggo "github.com/apache/iceberg-go"
)

// ChangeKind is the kind of a safe table schema change.
type ChangeKind int

const (
	// AddColumn adds an optional column at the end of the table.
	AddColumn ChangeKind = iota + 1
	// Widen promotes a column's type: int -> long, float -> double, or
	// decimal(p,s) -> decimal(p',s) with p' > p.
	Widen
	// MakeOptional drops a column's required constraint.
	MakeOptional
)

func (k ChangeKind) String() string {
	switch k {
	case AddColumn:
		return "add-column"
	case Widen:
		return "widen"
	case MakeOptional:
		return "make-optional"
	}
	return fmt.Sprintf("ChangeKind(%d)", int(k))
}

// Change is one safe change a writer schema needs the table to make.
type Change struct {
	Kind ChangeKind
	Name string         // top-level column name
	Type iceberggo.Type // AddColumn: the new column's type; Widen: the wider type; MakeOptional: the current type
	Doc  string         // AddColumn: the Avro field's doc
}

func (c Change) String() string {
	return fmt.Sprintf("%s %s %s", c.Kind, c.Name, c.Type)
}

// Changes are the changes for one writer schema, in payload field order.
// Empty means the table takes the writer's records as they are.
type Changes []Change

func (cs Changes) String() string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.String()
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

// Plan compares a payload writer schema with the table schema and returns the
// safe changes (AddColumn, Widen, MakeOptional) the table needs before
// records of that schema can be appended. It is a pure function.
//
// Fields are matched to columns by exact name. A writer type narrower than
// the column (int into long, float into double, decimal(p,s) into
// decimal(p',s) with p' >= p) needs no change. Anything else that is not the
// same type — a different type, a decimal scale change, a name that only
// differs in case, a payload field named like an envelope or metadata
// column, a required column the writer lacks, an unsupported Avro type — is
// an error wrapping ErrIncompatibleSchema that names the field and both
// types. Columns the writer lacks are otherwise fine (they stay null).
func Plan(table *iceberggo.Schema, payload *Schema) (Changes, error) {
	cols, err := payload.Columns()
	if err != nil {
		return nil, err
	}
	var changes Changes
	seen := make(map[string]bool, len(cols))
	for _, c := range cols {
		seen[c.Name] = true
		if reservedNames[c.Name] {
			return nil, fmt.Errorf("%w: schema %d: payload field %q collides with an envelope or metadata column", ErrIncompatibleSchema, payload.ID, c.Name)
		}
		col, ok := table.FindFieldByName(c.Name)
		if !ok {
			if other, ok := table.FindFieldByNameCaseInsensitive(c.Name); ok {
				return nil, fmt.Errorf("%w: schema %d: payload field %q differs only in case from column %q", ErrIncompatibleSchema, payload.ID, c.Name, other.Name)
			}
			changes = append(changes, Change{Kind: AddColumn, Name: c.Name, Type: c.Type, Doc: c.Doc})
			continue
		}
		ch, err := planColumn(col, c)
		if err != nil {
			return nil, fmt.Errorf("%w: schema %d: field %q: %w", ErrIncompatibleSchema, payload.ID, c.Name, err)
		}
		changes = append(changes, ch...)
	}
	for _, f := range table.Fields() {
		if f.Required && !seen[f.Name] && !reservedNames[f.Name] {
			return nil, fmt.Errorf("%w: schema %d: required column %q is missing from the writer schema", ErrIncompatibleSchema, payload.ID, f.Name)
		}
	}
	return changes, nil
}

// planColumn compares one writer field with its existing column.
func planColumn(col iceberggo.NestedField, c Column) ([]Change, error) {
	var changes []Change
	switch widerType(col.Type, c.Type) {
	case sameOrNarrower:
	case widerWriter:
		changes = append(changes, Change{Kind: Widen, Name: col.Name, Type: c.Type})
	default:
		return nil, fmt.Errorf("writer type %s (Avro %s) cannot be written to table column type %s", c.Type, c.avro, col.Type)
	}
	if col.Required && c.Optional {
		typ := col.Type
		if len(changes) > 0 {
			typ = changes[0].Type
		}
		changes = append(changes, Change{Kind: MakeOptional, Name: col.Name, Type: typ})
	}
	return changes, nil
}

type typeRelation int

const (
	incompatible   typeRelation = iota
	sameOrNarrower              // the column can hold every writer value
	widerWriter                 // the column must be promoted to the writer's type
)

// widerType relates a writer type to a column type along Iceberg's allowed
// promotions.
func widerType(column, writer iceberggo.Type) typeRelation {
	if column.Equals(writer) {
		return sameOrNarrower
	}
	if cd, ok := column.(iceberggo.DecimalType); ok {
		wd, ok := writer.(iceberggo.DecimalType)
		if !ok || wd.Scale() != cd.Scale() {
			return incompatible
		}
		if wd.Precision() < cd.Precision() {
			return sameOrNarrower
		}
		return widerWriter
	}
	switch {
	case column.Equals(iceberggo.PrimitiveTypes.Int64) && writer.Equals(iceberggo.PrimitiveTypes.Int32),
		column.Equals(iceberggo.PrimitiveTypes.Float64) && writer.Equals(iceberggo.PrimitiveTypes.Float32):
		return sameOrNarrower
	case column.Equals(iceberggo.PrimitiveTypes.Int32) && writer.Equals(iceberggo.PrimitiveTypes.Int64),
		column.Equals(iceberggo.PrimitiveTypes.Float32) && writer.Equals(iceberggo.PrimitiveTypes.Float64):
		return widerWriter
	}
	return incompatible
}

// ApplyChanges returns a copy of table with changes applied, new columns
// getting ids after table.HighestFieldID() and the schema id incremented.
// It mirrors what a catalog's schema update does, for tests and dry runs.
func ApplyChanges(table *iceberggo.Schema, changes Changes) (*iceberggo.Schema, error) {
	fields := table.Fields()
	next := table.HighestFieldID()
	index := make(map[string]int, len(fields))
	for i, f := range fields {
		index[f.Name] = i
	}
	for _, c := range changes {
		i, exists := index[c.Name]
		switch c.Kind {
		case AddColumn:
			if exists {
				return nil, fmt.Errorf("schema: add column %q: already exists", c.Name)
			}
			next++
			index[c.Name] = len(fields)
			fields = append(fields, iceberggo.NestedField{ID: next, Name: c.Name, Type: c.Type, Doc: c.Doc})
		case Widen:
			if !exists || widerType(fields[i].Type, c.Type) != widerWriter {
				return nil, fmt.Errorf("schema: widen %q to %s: not a promotion of the column", c.Name, c.Type)
			}
			fields[i].Type = c.Type
		case MakeOptional:
			if !exists {
				return nil, fmt.Errorf("schema: make %q optional: no such column", c.Name)
			}
			fields[i].Required = false
		default:
			return nil, fmt.Errorf("schema: unknown change kind %v", c.Kind)
		}
	}
	return iceberggo.NewSchemaWithIdentifiers(table.ID+1, table.IdentifierFieldIDs, fields...), nil
}
