package schema

import (
	"fmt"
	"slices"

	iceberggo "github.com/apache/iceberg-go"
)

// ApplyChanges returns a copy of table with changes applied, new fields
// getting ids after table.HighestFieldID() and the schema id incremented.
// Paths name the table as it is before the changes, so renames are applied
// last. It mirrors what a catalog's schema update does, for tests and dry
// runs; table is not modified.
func ApplyChanges(table *iceberggo.Schema, changes Changes) (*iceberggo.Schema, error) {
	root := &iceberggo.StructType{FieldList: copyFields(table.Fields())}
	next := table.HighestFieldID()
	nextID := func() int { next++; return next }
	ordered := slices.Clone(changes)
	slices.SortStableFunc(ordered, func(a, b Change) int {
		return boolInt(a.Kind == Rename) - boolInt(b.Kind == Rename)
	})
	for _, c := range ordered {
		path := c.Path
		if len(path) == 0 {
			path = []string{c.Name}
		}
		if err := applyOne(root, path, c, nextID); err != nil {
			return nil, fmt.Errorf("schema: %s %s: %w", c.Kind, c.Name, err)
		}
	}
	return iceberggo.NewSchemaWithIdentifiers(table.ID+1, table.IdentifierFieldIDs, root.FieldList...), nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func applyOne(root *iceberggo.StructType, path []string, c Change, nextID func() int) error {
	name := path[len(path)-1]
	if c.Kind == AddColumn {
		parent, err := structAt(root, path[:len(path)-1])
		if err != nil {
			return err
		}
		if slices.ContainsFunc(parent.FieldList, func(f iceberggo.NestedField) bool { return f.Name == name }) {
			return fmt.Errorf("already exists")
		}
		if c.Type == nil {
			return fmt.Errorf("no type")
		}
		fresh, err := iceberggo.AssignFreshSchemaIDs(iceberggo.NewSchema(0, iceberggo.NestedField{Name: name, Type: c.Type, Doc: c.Doc}), nextID)
		if err != nil {
			return err
		}
		f := fresh.Field(0)
		at := len(parent.FieldList)
		if len(path) == 1 && c.Before != "" {
			if i := slices.IndexFunc(parent.FieldList, func(f iceberggo.NestedField) bool { return f.Name == c.Before }); i >= 0 {
				at = i
			}
		}
		parent.FieldList = slices.Insert(parent.FieldList, at, f)
		return nil
	}
	// The field's slot: a struct field, or a list element / map value.
	parentType, err := typeAt(root, path[:len(path)-1])
	if err != nil {
		return err
	}
	switch pt := parentType.(type) {
	case *iceberggo.ListType:
		if name != "element" {
			return fmt.Errorf("no such field")
		}
		return applyTo(&pt.Element, &pt.ElementRequired, nil, c)
	case *iceberggo.MapType:
		if name != "value" {
			return fmt.Errorf("no such field")
		}
		return applyTo(&pt.ValueType, &pt.ValueRequired, nil, c)
	case *iceberggo.StructType:
		i := slices.IndexFunc(pt.FieldList, func(f iceberggo.NestedField) bool { return f.Name == name })
		if i < 0 {
			return fmt.Errorf("no such column")
		}
		f := &pt.FieldList[i]
		return applyTo(&f.Type, &f.Required, &f.Name, c)
	}
	return fmt.Errorf("parent is %s, not a struct, list or map", parentType)
}

func applyTo(typ *iceberggo.Type, required *bool, name *string, c Change) error {
	switch c.Kind {
	case Widen:
		if c.Type == nil || widerType(*typ, c.Type) != widerWriter {
			return fmt.Errorf("%s is not a promotion of %s", c.Type, *typ)
		}
		*typ = c.Type
	case MakeOptional:
		*required = false
	case Rename:
		if name == nil || c.NewName == "" {
			return fmt.Errorf("cannot rename a list element or map value")
		}
		*name = c.NewName
	default:
		return fmt.Errorf("unknown change kind")
	}
	return nil
}

// typeAt returns the type at path (a struct type for the empty path).
func typeAt(root *iceberggo.StructType, path []string) (iceberggo.Type, error) {
	var cur iceberggo.Type = root
	for _, name := range path {
		switch t := cur.(type) {
		case *iceberggo.StructType:
			i := slices.IndexFunc(t.FieldList, func(f iceberggo.NestedField) bool { return f.Name == name })
			if i < 0 {
				return nil, fmt.Errorf("no field %q", name)
			}
			cur = t.FieldList[i].Type
		case *iceberggo.ListType:
			if name != "element" {
				return nil, fmt.Errorf("list has no field %q", name)
			}
			cur = t.Element
		case *iceberggo.MapType:
			if name != "value" {
				return nil, fmt.Errorf("map has no field %q", name)
			}
			cur = t.ValueType
		default:
			return nil, fmt.Errorf("%s has no field %q", t, name)
		}
	}
	return cur, nil
}

// structAt returns the struct new fields go into at path: the struct
// itself, or the struct inside a list element or map value.
func structAt(root *iceberggo.StructType, path []string) (*iceberggo.StructType, error) {
	t, err := typeAt(root, path)
	if err != nil {
		return nil, err
	}
	switch x := t.(type) {
	case *iceberggo.ListType:
		t = x.Element
	case *iceberggo.MapType:
		t = x.ValueType
	}
	st, ok := t.(*iceberggo.StructType)
	if !ok {
		return nil, fmt.Errorf("parent is %s, not a struct", t)
	}
	return st, nil
}

// copyFields deep-copies fields so nested types can be changed in place.
func copyFields(fs []iceberggo.NestedField) []iceberggo.NestedField {
	out := slices.Clone(fs)
	for i := range out {
		out[i].Type = copyType(out[i].Type)
	}
	return out
}

func copyType(t iceberggo.Type) iceberggo.Type {
	switch x := t.(type) {
	case *iceberggo.StructType:
		return &iceberggo.StructType{FieldList: copyFields(x.FieldList)}
	case *iceberggo.ListType:
		c := *x
		c.Element = copyType(x.Element)
		return &c
	case *iceberggo.MapType:
		c := *x
		c.KeyType = copyType(x.KeyType)
		c.ValueType = copyType(x.ValueType)
		return &c
	}
	return t
}
