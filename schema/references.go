package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// inlineReferences turns an Avro schema that uses named types defined by
// other schemas (Schema Registry references) into one self-contained
// schema: the first use of each referenced type is replaced by its
// definition, later uses keep the name. refs are the referenced schemas'
// texts, each already self-contained.
//
// A referenced definition keeps its full name however deep it lands (its
// "name" is written fully qualified), so names inside it resolve as they
// did in the referenced schema. A type defined twice (two references that
// both define it) is defined once, at its first use.
func inlineReferences(text string, refs []string) (string, error) {
	defs := map[string]map[string]any{} // full name -> definition
	for i, r := range refs {
		v, err := decodeJSON(r)
		if err != nil {
			return "", fmt.Errorf("referenced schema %d: %w", i+1, err)
		}
		m, ok := v.(map[string]any)
		if !ok {
			return "", fmt.Errorf("referenced schema %d is not a named type", i+1)
		}
		full, _, err := refFullName(m, "")
		if err != nil {
			return "", fmt.Errorf("referenced schema %d: %w", i+1, err)
		}
		if _, dup := defs[full]; !dup {
			defs[full] = m
		}
	}
	root, err := decodeJSON(text)
	if err != nil {
		return "", err
	}
	in := &inliner{defs: defs, defined: map[string]bool{}}
	out, err := in.walk(root, "")
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func decodeJSON(s string) (any, error) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber() // defaults keep their exact digits
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("schema JSON: %w", err)
	}
	return v, nil
}

type inliner struct {
	defs    map[string]map[string]any
	defined map[string]bool
	depth   int
}

var primitives = map[string]bool{
	"null": true, "boolean": true, "int": true, "long": true,
	"float": true, "double": true, "bytes": true, "string": true,
}

// refFullName is the full name of the named type m (record, enum, fixed)
// declared in namespace ns, and the namespace its children are in.
func refFullName(m map[string]any, ns string) (full, childNS string, err error) {
	name, _ := m["name"].(string)
	if name == "" {
		return "", "", errors.New(`named type without "name"`)
	}
	switch {
	case strings.Contains(name, "."):
		full = name
	case m["namespace"] != nil:
		if s, _ := m["namespace"].(string); s != "" {
			full = s + "." + name
		} else {
			full = name
		}
	case ns != "":
		full = ns + "." + name
	default:
		full = name
	}
	if i := strings.LastIndexByte(full, '.'); i >= 0 {
		childNS = full[:i]
	}
	return full, childNS, nil
}

// walk returns v (a schema or part of one, in namespace ns) with
// referenced types defined at their first use.
func (in *inliner) walk(v any, ns string) (any, error) {
	in.depth++
	defer func() { in.depth-- }()
	if in.depth > 1000 {
		return nil, errors.New("schema nested too deeply")
	}
	switch t := v.(type) {
	case string:
		if primitives[t] {
			return t, nil
		}
		full := t
		if !strings.Contains(t, ".") && ns != "" {
			full = ns + "." + t
		}
		if in.defined[full] || in.defined[t] {
			return t, nil
		}
		def, ok := in.defs[full]
		if !ok {
			def, ok = in.defs[t] // a name in the null namespace
			full = t
		}
		if !ok {
			return t, nil // unknown: compiling reports it
		}
		// The definition is written with its full name: it may land in
		// another namespace than the one it was declared in.
		cp := make(map[string]any, len(def))
		for k, x := range def {
			cp[k] = x
		}
		cp["name"] = full
		delete(cp, "namespace")
		return in.walk(cp, "")
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			y, err := in.walk(x, ns)
			if err != nil {
				return nil, err
			}
			out[i] = y
		}
		return out, nil
	case map[string]any:
		return in.walkObject(t, ns)
	}
	return v, nil
}

func (in *inliner) walkObject(m map[string]any, ns string) (any, error) {
	out := make(map[string]any, len(m))
	for k, x := range m {
		out[k] = x
	}
	typ, _ := m["type"].(string)
	switch typ {
	case "record", "error", "enum", "fixed":
		full, childNS, err := refFullName(m, ns)
		if err != nil {
			return nil, err
		}
		if in.defined[full] {
			// Defined already (by another reference): use the name.
			return full, nil
		}
		in.defined[full] = true
		if typ != "record" && typ != "error" {
			return out, nil
		}
		fields, _ := m["fields"].([]any)
		nf := make([]any, len(fields))
		for i, f := range fields {
			fm, ok := f.(map[string]any)
			if !ok {
				nf[i] = f
				continue
			}
			cf := make(map[string]any, len(fm))
			for k, x := range fm {
				cf[k] = x
			}
			if ft, ok := fm["type"]; ok {
				y, err := in.walk(ft, childNS)
				if err != nil {
					return nil, err
				}
				cf["type"] = y
			}
			nf[i] = cf
		}
		if fields != nil {
			out["fields"] = nf
		}
		return out, nil
	case "array":
		if items, ok := m["items"]; ok {
			y, err := in.walk(items, ns)
			if err != nil {
				return nil, err
			}
			out["items"] = y
		}
		return out, nil
	case "map":
		if values, ok := m["values"]; ok {
			y, err := in.walk(values, ns)
			if err != nil {
				return nil, err
			}
			out["values"] = y
		}
		return out, nil
	}
	// {"type": "string", "logicalType": ...}, {"type": "com.x.Named"} or
	// {"type": {...}}.
	if t, ok := m["type"]; ok {
		y, err := in.walk(t, ns)
		if err != nil {
			return nil, err
		}
		out["type"] = y
	}
	return out, nil
}
