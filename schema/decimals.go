package schema

import (
	"fmt"
	"math/big"
)

// hasNestedDecimal reports whether a decimal appears anywhere in the
// record root other than as a top-level field's own type (those are checked
// directly): inside a nested record, an array, a map or a union member.
func hasNestedDecimal(root *avroType) bool {
	seen := map[*avroType]bool{}
	var below func(t *avroType) bool // a decimal at or below t
	below = func(t *avroType) bool {
		if t == nil || seen[t] {
			return false
		}
		seen[t] = true
		if t.logical == "decimal" {
			return true
		}
		for _, f := range t.fields {
			if below(f.typ) {
				return true
			}
		}
		for _, b := range t.branches {
			if below(b) {
				return true
			}
		}
		return below(t.items) || below(t.values)
	}
	for _, f := range root.fields {
		if ft, _ := f.typ.nullable(); ft.logical == "decimal" {
			continue
		}
		if below(f.typ) {
			return true
		}
	}
	return false
}

// checkDecimals walks a decoded value alongside its schema and refuses any
// decimal with more digits than its declared precision (goavro does not
// check): such a value cannot be stored exactly, and storing null instead
// would lose it. The error names the field path, never the value.
func checkDecimals(t *avroType, v any, path string) error {
	if v == nil || t == nil {
		return nil
	}
	if t.logical == "decimal" {
		if r, ok := v.(*big.Rat); ok && !fitsPrecision(r, t.precision, t.scale) {
			return fmt.Errorf("field %q exceeds decimal precision %d", path, t.precision)
		}
		return nil
	}
	switch t.kind {
	case avroRecord:
		m, _ := v.(map[string]any)
		for _, f := range t.fields {
			if err := checkDecimals(f.typ, m[f.name], join(path, f.name)); err != nil {
				return err
			}
		}
	case avroArray:
		items, _ := v.([]any)
		for _, x := range items {
			if err := checkDecimals(t.items, x, path+"[]"); err != nil {
				return err
			}
		}
	case avroMap:
		m, _ := v.(map[string]any)
		for _, x := range m {
			if err := checkDecimals(t.values, x, path+"{}"); err != nil {
				return err
			}
		}
	case avroUnion:
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		for _, b := range t.branches {
			if x, ok := m[unionBranchName(b)]; ok {
				return checkDecimals(b, x, path)
			}
		}
	}
	return nil
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
