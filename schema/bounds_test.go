package schema

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/linkedin/goavro/v2"
)

// huge declared lengths in short bodies must be refused before goavro
// allocates for them.
func TestCheckBoundsRefusesHugeLengths(t *testing.T) {
	const text = `{"type": "record", "name": "R", "fields": [
		{"name": "s", "type": "string"},
		{"name": "a", "type": {"type": "array", "items": "null"}},
		{"name": "m", "type": {"type": "map", "values": "long"}},
		{"name": "u", "type": ["null", "bytes"]},
		{"name": "f", "type": {"type": "fixed", "name": "F", "size": 4}}
	]}`
	s, err := Compile(7, text)
	if err != nil {
		t.Fatal(err)
	}
	long := func(v int64) []byte {
		c, _ := goavro.NewCodec(`"long"`)
		b, _ := c.BinaryFromNative(nil, v)
		return b
	}
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	str := cat(long(2), []byte("ok"))
	valid := cat(str, long(3), long(0), long(1), long(1), []byte("k"), long(5), long(0), long(1), long(1), []byte("x"), []byte("abcd"))
	if err := checkBounds(s.root, valid); err != nil {
		t.Fatalf("valid body refused: %v", err)
	}
	if _, _, err := s.Codec.NativeFromBinary(valid); err != nil {
		t.Fatalf("goavro refuses the valid body: %v", err)
	}

	tests := map[string][]byte{
		"string 2^60":          cat(long(1<<60), []byte("x")),
		"negative string":      cat(long(-5)),
		"array 2^31-1 nulls":   cat(str, long(1<<31-1), long(0)),
		"array 2^60":           cat(str, long(1<<60), long(0)),
		"negative block count": cat(str, long(-(1 << 40)), long(1), long(0)),
		"min int64 block":      cat(str, long(-1<<63)),
		"map 2^31-1":           cat(str, long(0), long(1<<31-1)),
		"map key 2^40":         cat(str, long(0), long(1), long(1<<40)),
		"union branch 7":       cat(str, long(0), long(0), long(7)),
		"union bytes 2^50":     cat(str, long(0), long(0), long(1), long(1<<50)),
		"fixed truncated":      cat(str, long(0), long(0), long(0), []byte("ab")),
		"varint too long":      append(cat(str), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := checkBounds(s.root, body)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, errOutOfBounds) {
				t.Fatalf("checkBounds = %v", err)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<10 {
				t.Fatalf("checkBounds allocated %d bytes", grew)
			}
			// Through the decoders: classified, small allocations.
			runtime.ReadMemStats(&before)
			_, perr := decodePayload(s, body)
			runtime.ReadMemStats(&after)
			if !errors.Is(perr, ErrBadPayload) {
				t.Fatalf("decodePayload = %v", perr)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
				t.Fatalf("decodePayload allocated %d bytes for a %d-byte body", grew, len(body))
			}
			if strings.Contains(perr.Error(), "at byte") {
				t.Fatalf("payload error %q quotes counts read from plaintext", perr)
			}
		})
	}
}

// The envelope path is bounded too, and its error says where.
func TestEnvelopeHugeArray(t *testing.T) {
	v := loadVectors(t)
	text := strings.Replace(readSchemaFile(t, v.Registry[0].SchemaFile), `"fields": [`, `"fields": [{"name": "tags", "type": {"type": "array", "items": "null"}}, `, 1)
	if text == readSchemaFile(t, v.Registry[0].SchemaFile) {
		t.Fatal("could not add a field to the envelope schema")
	}
	s, err := Compile(99, text)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte{0xfe, 0xff, 0xff, 0xff, 0x0f, 0} // 2^31-1 nulls
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = decodeEnvelope(s, body)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrMalformedAvro) || !strings.Contains(err.Error(), "block of 2147483647 items") {
		t.Fatalf("decodeEnvelope = %v", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("decodeEnvelope allocated %d bytes", grew)
	}
}
