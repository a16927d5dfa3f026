package schema

import (
	"fmt"
	"slices"
	"strings"

	iceberggo "github.com/apache/iceberg-go"
)

// ChangeKind is the kind of a safe table schema change.
type ChangeKind int

const (
	// AddColumn adds an optional column, at the top level or inside a
	// struct (also one inside a list element or a map value).
	AddColumn ChangeKind = iota + 1
	// Widen promotes a column's type: int -> long, float -> double, or
	// decimal(p,s) -> decimal(p',s) with p' > p.
	Widen
	// MakeOptional drops a column's required constraint.
	MakeOptional
	// Rename renames a column (a writer field whose Avro alias is the
	// column's name); the column keeps its field id.
	Rename
)

func (k ChangeKind) String() string {
	switch k {
	case AddColumn:
		return "add-column"
	case Widen:
		return "widen"
	case MakeOptional:
		return "make-optional"
	case Rename:
		return "rename"
	}
	return fmt.Sprintf("ChangeKind(%d)", int(k))
}

// Change is one safe change a writer schema needs the table to make.
type Change struct {
	Kind ChangeKind
	// Path is the column's path in the table as it is before the changes
	// (AddColumn: the parent's path and the new name). List elements and
	// map values are the path elements "element" and "value".
	Path []string
	// Name is Path joined with "." (a top-level column's name).
	Name string
	// Type is AddColumn's new column type, Widen's wider type, or
	// MakeOptional's (possibly widened) current type.
	Type iceberggo.Type
	// Doc is the Avro field's doc (AddColumn).
	Doc string
	// NewName is Rename's new name (the last path element only).
	NewName string
	// Before, for a top-level AddColumn, names the column the new one is
	// placed before (the first metadata column), so that payload columns
	// stay together; "" appends it at the end.
	Before string
}

func (c Change) String() string {
	if c.Kind == Rename {
		return fmt.Sprintf("%s %s %s", c.Kind, c.Name, c.NewName)
	}
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

// MatchOption tunes how writer fields are matched to columns (Plan,
// NewAppender).
type MatchOption func(*matchConfig)

type matchConfig struct {
	former map[int][]string // field id -> every name the column had
}

// WithNameMapping gives the table's name mapping
// (schema.name-mapping.default), which keeps the former names of renamed
// columns: records of a writer schema older than a rename then still land
// in the renamed column.
func WithNameMapping(nm iceberggo.NameMapping) MatchOption {
	return func(c *matchConfig) {
		if c.former == nil {
			c.former = map[int][]string{}
		}
		var walk func([]iceberggo.MappedField)
		walk = func(fs []iceberggo.MappedField) {
			for _, f := range fs {
				if f.FieldID != nil {
					c.former[*f.FieldID] = append(c.former[*f.FieldID], f.Names...)
				}
				walk(f.Fields)
			}
		}
		walk(nm)
	}
}

func newMatchConfig(opts []MatchOption) matchConfig {
	var c matchConfig
	for _, o := range opts {
		o(&c)
	}
	return c
}

// member is a writer field, or a branch of a union mapped to a struct.
type member struct {
	name    string
	aliases []string
	doc     string
	typ     *avroType
}

func recordMembers(t *avroType) []member {
	out := make([]member, len(t.fields))
	for i, f := range t.fields {
		out[i] = member{name: f.name, aliases: f.aliases, doc: f.doc, typ: f.typ}
	}
	return out
}

func unionMembers(t *avroType) []member {
	var out []member
	for _, b := range t.branches {
		if b.kind != avroNull {
			out = append(out, member{name: unionMemberName(b), typ: b})
		}
	}
	return out
}

type matchKind int

const (
	noMatch    matchKind = iota
	exactMatch           // same name
	formerName           // the column was renamed from the writer's name
	aliasMatch           // the writer's alias is the column's name: rename it
)

// matchMember finds the column of a writer field among fields. others
// are the names of all writer fields at that level (an alias naming
// another writer field is not a rename).
func (c *matchConfig) matchMember(fields []iceberggo.NestedField, m member, others []string) (int, matchKind) {
	for i, f := range fields {
		if f.Name == m.name {
			return i, exactMatch
		}
	}
	for i, f := range fields {
		if slices.Contains(c.former[f.ID], m.name) {
			return i, formerName
		}
	}
	for _, a := range m.aliases {
		if slices.Contains(others, a) {
			continue
		}
		for i, f := range fields {
			if f.Name == a {
				return i, aliasMatch
			}
		}
	}
	return -1, noMatch
}

func memberNames(ms []member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.name
	}
	return out
}

// Plan compares a payload writer schema with the table schema and returns the
// safe changes the table needs before records of that schema can be
// appended. It is a pure function.
//
// Writer fields are matched to columns by name at every nesting level
// (struct fields, list elements, map values, union members); a writer field
// whose Avro alias names an existing column renames it (Rename, the field
// id is kept), and with WithNameMapping a column renamed earlier also
// matches its former names. New fields become new optional columns
// (AddColumn, also inside nested structs); a wider writer type promotes the
// column (Widen: int -> long, float -> double, decimal precision at the same
// scale); a nullable writer type relaxes a required column (MakeOptional).
// A writer type narrower than the column needs no change.
//
// Anything else — a different or narrowed-only-by-the-table type, a decimal
// scale change, a name that only differs in case from a column, a payload
// field named like an envelope or metadata column, a required column the
// writer lacks, a type floe cannot represent — is an error wrapping
// ErrIncompatibleSchema that names the field path and both types. Columns
// the writer lacks are otherwise fine (they stay null).
func Plan(table *iceberggo.Schema, payload *Schema, opts ...MatchOption) (Changes, error) {
	if _, err := payload.Columns(); err != nil {
		return nil, err
	}
	p := planner{cfg: newMatchConfig(opts)}
	fields := table.Fields()
	before := ""
	if _, ok := table.FindFieldByName(KafkaTopicColumn); ok {
		before = KafkaTopicColumn
	}
	members := recordMembers(payload.root)
	names := memberNames(members)
	matched := map[int]bool{}
	for _, m := range members {
		if reservedNames[m.name] {
			return nil, fmt.Errorf("%w: schema %d: payload field %q collides with an envelope or metadata column", ErrIncompatibleSchema, payload.ID, m.name)
		}
		i, how := p.cfg.matchMember(fields, m, names)
		if how == noMatch {
			if other, ok := table.FindFieldByNameCaseInsensitive(m.name); ok {
				return nil, fmt.Errorf("%w: schema %d: payload field %q differs only in case from column %q", ErrIncompatibleSchema, payload.ID, m.name, other.Name)
			}
		}
		if i >= 0 && reservedNames[fields[i].Name] {
			return nil, fmt.Errorf("%w: schema %d: payload field %q matches the envelope or metadata column %q", ErrIncompatibleSchema, payload.ID, m.name, fields[i].Name)
		}
		if i >= 0 {
			matched[i] = true
		}
		if err := p.member(nil, fields, i, how, m, before); err != nil {
			return nil, fmt.Errorf("%w: schema %d: %w", ErrIncompatibleSchema, payload.ID, err)
		}
	}
	for i, f := range fields {
		if f.Required && !matched[i] && !reservedNames[f.Name] {
			return nil, fmt.Errorf("%w: schema %d: required column %q is missing from the writer schema", ErrIncompatibleSchema, payload.ID, f.Name)
		}
	}
	return p.changes, nil
}

type planner struct {
	cfg     matchConfig
	changes Changes
}

func (p *planner) add(c Change) {
	c.Name = strings.Join(c.Path, ".")
	p.changes = append(p.changes, c)
}

func childPath(parent []string, name string) []string {
	return append(slices.Clip(parent), name)
}

// member plans one writer member against fields[i] (matched as how), or
// its addition under parent when unmatched.
func (p *planner) member(parent []string, fields []iceberggo.NestedField, i int, how matchKind, m member, before string) error {
	if how == noMatch {
		mp := mapper{visiting: map[*avroType]bool{}}
		typ, _, err := mp.icebergType(m.typ, childPath(parent, m.name))
		if err != nil {
			return err
		}
		p.add(Change{Kind: AddColumn, Path: childPath(parent, m.name), Type: typ, Doc: m.doc, Before: before})
		return nil
	}
	col := fields[i]
	path := childPath(parent, col.Name)
	if err := p.compare(path, col, m.typ); err != nil {
		return err
	}
	if how == aliasMatch {
		p.add(Change{Kind: Rename, Path: path, NewName: m.name})
	}
	return nil
}

// unwrapNullable returns T for ["null", T] or [T] and whether the writer
// type may be null.
func unwrapNullable(w *avroType) (*avroType, bool) {
	if inner, ok := w.nullable(); ok {
		return inner, true
	}
	if w.kind == avroUnion && len(w.branches) == 1 {
		return w.branches[0], true
	}
	if w.kind == avroUnion {
		for _, b := range w.branches {
			if b.kind == avroNull {
				return w, true
			}
		}
	}
	return w, false
}

// compare plans a writer type against an existing column at path.
func (p *planner) compare(path []string, col iceberggo.NestedField, w *avroType) error {
	inner, optional := unwrapNullable(w)
	var widened iceberggo.Type
	switch ct := col.Type.(type) {
	case *iceberggo.StructType:
		var members []member
		switch inner.kind {
		case avroRecord:
			members = recordMembers(inner)
		case avroUnion:
			members = unionMembers(inner)
		default:
			return mismatch(path, col.Type, w)
		}
		names := memberNames(members)
		matched := map[int]bool{}
		for _, m := range members {
			i, how := p.cfg.matchMember(ct.FieldList, m, names)
			if i >= 0 {
				matched[i] = true
			}
			if err := p.member(path, ct.FieldList, i, how, m, ""); err != nil {
				return err
			}
		}
		for i, f := range ct.FieldList {
			if f.Required && !matched[i] {
				return fieldError(childPath(path, f.Name), "required column is missing from the writer schema")
			}
		}
	case *iceberggo.ListType:
		if inner.kind != avroArray {
			return mismatch(path, col.Type, w)
		}
		if err := p.compare(childPath(path, "element"), ct.ElementField(), inner.items); err != nil {
			return err
		}
	case *iceberggo.MapType:
		if inner.kind != avroMap {
			return mismatch(path, col.Type, w)
		}
		if err := p.compare(childPath(path, "value"), ct.ValueField(), inner.values); err != nil {
			return err
		}
	default:
		switch inner.kind {
		case avroRecord, avroArray, avroMap, avroUnion:
			return mismatch(path, col.Type, w)
		}
		mp := mapper{visiting: map[*avroType]bool{}}
		wt, _, err := mp.icebergType(inner, path)
		if err != nil {
			return err
		}
		switch widerType(col.Type, wt) {
		case sameOrNarrower:
		case widerWriter:
			widened = wt
			p.add(Change{Kind: Widen, Path: path, Type: wt})
		default:
			return fieldError(path, "writer type %s (Avro %s) cannot be written to table column type %s", wt, w, col.Type)
		}
	}
	if col.Required && optional {
		typ := col.Type
		if widened != nil {
			typ = widened
		}
		p.add(Change{Kind: MakeOptional, Path: path, Type: typ})
	}
	return nil
}

func mismatch(path []string, col iceberggo.Type, w *avroType) error {
	return fieldError(path, "writer type Avro %s cannot be written to table column type %s", w, col)
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
