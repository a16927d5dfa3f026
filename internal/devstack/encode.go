package devstack

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/linkedin/goavro/v2"
)

// amountAsBytesCodec returns a codec for a payment schema with its decimal
// "amount" read as plain bytes. The binary encoding is the same (the
// unscaled value, big-endian two's complement); it spares goavro's
// *big.Rat arithmetic, which costs more than the rest of an event.
func amountAsBytesCodec(schema string) (*goavro.Codec, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(schema), &m); err != nil {
		return nil, err
	}
	fields, _ := m["fields"].([]any)
	found := false
	for _, f := range fields {
		if f, ok := f.(map[string]any); ok && f["name"] == "amount" {
			f["type"] = "bytes"
			found = true
		}
	}
	if !found {
		return nil, errors.New("no amount field")
	}
	text, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return goavro.NewCodec(string(text))
}

// decimalBytes returns v as the shortest big-endian two's complement, the
// Avro encoding of a decimal's unscaled value.
func decimalBytes(v int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(v))
	i := 0
	for i < 7 && (b[i] == 0 && b[i+1]&0x80 == 0 || b[i] == 0xff && b[i+1]&0x80 != 0) {
		i++
	}
	return append([]byte(nil), b[i:]...)
}

func (g *Generator) txID(i uint64) string {
	const width = 9
	b := make([]byte, 0, len(g.opts.Prefix)+width+4)
	b = append(b, g.opts.Prefix...)
	var num [20]byte
	d := strconv.AppendUint(num[:0], i, 10)
	for n := len(d); n < width; n++ {
		b = append(b, '0')
	}
	return string(append(b, d...))
}

func formatCents(c int64) string {
	b := strconv.AppendInt(make([]byte, 0, 24), c/100, 10)
	b = append(b, '.', byte('0'+c%100/10), byte('0'+c%10))
	return string(b)
}

func userID(n int) string {
	b := append(make([]byte, 0, 8), "u-"...)
	var num [8]byte
	d := strconv.AppendInt(num[:0], int64(n), 10)
	for k := len(d); k < 5; k++ {
		b = append(b, '0')
	}
	return string(append(b, d...))
}

// currencyNumber is a stand-in numeric code for bad-v4's int currency.
func currencyNumber(c string) int {
	n := 0
	for _, r := range c {
		n = n*31 + int(r)
	}
	return n % 1000
}

// vocabulary holds the values fields are drawn from.
type vocabulary struct {
	sources, statuses, channels, countries []string
}

func newVocabulary() vocabulary {
	return vocabulary{
		sources:   []string{"gateway-0", "gateway-1", "gateway-2"},
		statuses:  []string{"AUTHORIZED", "CAPTURED", "REFUNDED", "DECLINED"},
		channels:  []string{"pos", "app", "web"},
		countries: []string{"DE", "JP", "US", "SG", "VN", "GB", "FR"},
	}
}
