package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// avroKind is the underlying Avro type of an avroType.
type avroKind int

const (
	avroNull avroKind = iota
	avroBoolean
	avroInt
	avroLong
	avroFloat
	avroDouble
	avroBytes
	avroString
	avroRecord
	avroEnum
	avroFixed
	avroArray
	avroMap
	avroUnion
)

var primitiveKinds = map[string]avroKind{
	"null": avroNull, "boolean": avroBoolean, "int": avroInt, "long": avroLong,
	"float": avroFloat, "double": avroDouble, "bytes": avroBytes, "string": avroString,
}

func (k avroKind) String() string {
	switch k {
	case avroNull:
		return "null"
	case avroBoolean:
		return "boolean"
	case avroInt:
		return "int"
	case avroLong:
		return "long"
	case avroFloat:
		return "float"
	case avroDouble:
		return "double"
	case avroBytes:
		return "bytes"
	case avroString:
		return "string"
	case avroRecord:
		return "record"
	case avroEnum:
		return "enum"
	case avroFixed:
		return "fixed"
	case avroArray:
		return "array"
	case avroMap:
		return "map"
	case avroUnion:
		return "union"
	}
	return fmt.Sprintf("avroKind(%d)", int(k))
}

// avroType is the part of a parsed Avro schema floe needs to map it to the
// table and to read goavro's native values. goavro has already validated
// the schema when this is built, so parsing is lenient.
type avroType struct {
	kind      avroKind
	name      string   // full name of a record, enum or fixed
	logical   string   // logicalType, if any
	precision int      // decimal
	scale     int      // decimal
	size      int      // fixed
	symbols   []string // enum
	fields    []avroField
	branches  []*avroType // union
	items     *avroType   // array
	values    *avroType   // map
}

type avroField struct {
	name    string
	doc     string
	aliases []string
	typ     *avroType
}

// String renders the type for error messages, e.g. "int",
// "bytes(decimal(18,2))", `union["null","string"]`.
func (t *avroType) String() string {
	switch {
	case t.kind == avroUnion:
		parts := make([]string, len(t.branches))
		for i, b := range t.branches {
			parts[i] = b.String()
		}
		return "union[" + strings.Join(parts, ",") + "]"
	case t.logical == "decimal":
		return fmt.Sprintf("%s(decimal(%d,%d))", t.kind, t.precision, t.scale)
	case t.logical != "":
		return fmt.Sprintf("%s(%s)", t.kind, t.logical)
	case t.name != "":
		return fmt.Sprintf("%s %s", t.kind, t.name)
	}
	return t.kind.String()
}

// field returns the record field with the given name.
func (t *avroType) field(name string) (avroField, bool) {
	for _, f := range t.fields {
		if f.name == name {
			return f, true
		}
	}
	return avroField{}, false
}

// nullable splits ["null", T] / [T, "null"] into T and true; any other type
// is returned as is with false.
func (t *avroType) nullable() (*avroType, bool) {
	if t.kind != avroUnion || len(t.branches) != 2 {
		return t, false
	}
	switch {
	case t.branches[0].kind == avroNull && t.branches[1].kind != avroNull:
		return t.branches[1], true
	case t.branches[1].kind == avroNull && t.branches[0].kind != avroNull:
		return t.branches[0], true
	}
	return t, false
}

// parseAvro parses an Avro schema text.
func parseAvro(text string) (*avroType, error) {
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		return nil, fmt.Errorf("schema is not JSON: %w", err)
	}
	p := avroParser{named: map[string]*avroType{}}
	return p.parse(v, "")
}

type avroParser struct {
	named map[string]*avroType
	depth int
}

const maxAvroDepth = 64

func (p *avroParser) parse(v any, ns string) (*avroType, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxAvroDepth {
		return nil, errors.New("schema nests too deeply")
	}
	switch v := v.(type) {
	case string:
		if k, ok := primitiveKinds[v]; ok {
			return &avroType{kind: k}, nil
		}
		if t, ok := p.named[fullName(v, ns)]; ok {
			return t, nil
		}
		if t, ok := p.named[v]; ok {
			return t, nil
		}
		return nil, fmt.Errorf("unknown type name %q", v)
	case []any:
		u := &avroType{kind: avroUnion}
		for _, b := range v {
			bt, err := p.parse(b, ns)
			if err != nil {
				return nil, err
			}
			u.branches = append(u.branches, bt)
		}
		return u, nil
	case map[string]any:
		return p.parseObject(v, ns)
	}
	return nil, fmt.Errorf("unexpected JSON %T in schema", v)
}

// fieldAliases reads a record field's "aliases".
func fieldAliases(fm map[string]any) []string {
	list, _ := fm["aliases"].([]any)
	var out []string
	for _, a := range list {
		if s, ok := a.(string); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (p *avroParser) parseObject(m map[string]any, ns string) (*avroType, error) {
	typ, ok := m["type"]
	if !ok {
		return nil, errors.New(`object without "type"`)
	}
	name, _ := typ.(string)
	logical, _ := m["logicalType"].(string)
	switch name {
	case "record", "error", "enum", "fixed":
		return p.parseNamed(name, m, ns, logical)
	case "array":
		items, err := p.parse(m["items"], ns)
		if err != nil {
			return nil, err
		}
		return &avroType{kind: avroArray, items: items}, nil
	case "map":
		values, err := p.parse(m["values"], ns)
		if err != nil {
			return nil, err
		}
		return &avroType{kind: avroMap, values: values}, nil
	}
	if k, ok := primitiveKinds[name]; ok {
		t := &avroType{kind: k, logical: logical}
		if logical == "decimal" && k == avroBytes {
			t.precision, t.scale = intProp(m, "precision"), intProp(m, "scale")
		}
		return t, nil
	}
	// {"type": "SomeName"} or {"type": {...}}: a wrapped type.
	t, err := p.parse(typ, ns)
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (p *avroParser) parseNamed(kind string, m map[string]any, ns, logical string) (*avroType, error) {
	name, _ := m["name"].(string)
	if name == "" {
		return nil, fmt.Errorf("%s without a name", kind)
	}
	if explicit, ok := m["namespace"].(string); ok && !strings.Contains(name, ".") {
		ns = explicit
	}
	full := fullName(name, ns)
	if i := strings.LastIndexByte(full, '.'); i >= 0 {
		ns = full[:i]
	} else {
		ns = ""
	}
	t := &avroType{name: full}
	p.named[full] = t
	switch kind {
	case "enum":
		t.kind = avroEnum
		list, _ := m["symbols"].([]any)
		for _, x := range list {
			sym, _ := x.(string)
			t.symbols = append(t.symbols, sym)
		}
	case "fixed":
		t.kind = avroFixed
		t.size = intProp(m, "size")
		switch logical {
		case "decimal":
			t.logical = logical
			t.precision, t.scale = intProp(m, "precision"), intProp(m, "scale")
		case "uuid", "duration":
			t.logical = logical
		}
	default:
		t.kind = avroRecord
		fields, _ := m["fields"].([]any)
		for _, f := range fields {
			fm, ok := f.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("record %s: field is not an object", full)
			}
			fname, _ := fm["name"].(string)
			doc, _ := fm["doc"].(string)
			ft, err := p.parse(fm["type"], ns)
			if err != nil {
				return nil, fmt.Errorf("record %s: field %q: %w", full, fname, err)
			}
			t.fields = append(t.fields, avroField{name: fname, doc: doc, aliases: fieldAliases(fm), typ: ft})
		}
	}
	return t, nil
}

func fullName(name, ns string) string {
	if strings.Contains(name, ".") || ns == "" {
		return name
	}
	return ns + "." + name
}

func intProp(m map[string]any, key string) int {
	f, _ := m[key].(float64)
	return int(f)
}
