package iceberg

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
	iceberggo "github.com/apache/iceberg-go"
)

// A decimal column's bounds decode, with iceberg-go's reader of bound
// bytes, to the column's minimum and maximum.
func TestDecimalBoundsDecode(t *testing.T) {
	vals := []int64{0, 1, -1, 127, 128, -128, -129, 255, 256, -256, -257, 32767, 32768, -32768, -32769,
		math.MaxInt64, math.MinInt64, 999999999999999999, -999999999999999999}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		vals = append(vals, int64(rnd.Uint64())>>rnd.IntN(63))
	}
	c := &pqColumn{name: "amount", kind: pqDecimal, precision: 18, scale: 2}
	typ := iceberggo.DecimalTypeOf(18, 2)
	for i := 0; i+1 < len(vals); i += 2 {
		lo, hi := min(vals[i], vals[i+1]), max(vals[i], vals[i+1])
		_, lb, hb := icebergBounds(nil, c, &chunkStats{has: true, minI: lo, maxI: hi}, metricsMode{kind: 'f'})
		for _, b := range []struct {
			got  []byte
			want int64
		}{{lb, lo}, {hb, hi}} {
			lit, err := iceberggo.LiteralFromBytes(typ, b.got)
			if err != nil {
				t.Fatalf("%d: %v", b.want, err)
			}
			d := lit.(iceberggo.DecimalLiteral)
			if d.Val != decimal128.FromI64(b.want) || d.Scale != 2 {
				t.Fatalf("bound %x decodes to %v (scale %d), want %d", b.got, d.Val, d.Scale, b.want)
			}
		}
	}
}

func TestTruncateBounds(t *testing.T) {
	for _, c := range []struct {
		in        string
		n         int
		low, high string
		noHigh    bool
	}{
		{in: "abc", n: 16, low: "abc", high: "abc"},
		{in: "abcdef", n: 3, low: "abc", high: "abd"},
		{in: "üüüü", n: 2, low: "üü", high: "üý"},
		{in: "a\ud7ffb", n: 2, low: "a\ud7ff", high: "a\ue000"},
		{in: "a\U0010FFFFb", n: 2, low: "a\U0010FFFF", high: "b"},
		{in: "\U0010FFFF\U0010FFFFx", n: 2, low: "\U0010FFFF\U0010FFFF", noHigh: true},
	} {
		if got := string(truncateUTF8([]byte(c.in), c.n)); got != c.low {
			t.Errorf("truncate(%q, %d) = %q, want %q", c.in, c.n, got, c.low)
		}
		in := []byte(c.in)
		got := truncateUTF8Upper(in, c.n)
		if c.noHigh != (got == nil) || (!c.noHigh && string(got) != c.high) {
			t.Errorf("upper(%q, %d) = %q, want %q (none: %v)", c.in, c.n, got, c.high, c.noHigh)
		}
		// The input may be a column's buffer: it must stay as it was.
		if string(in) != c.in {
			t.Errorf("upper(%q, %d) changed its input to %q", c.in, c.n, in)
		}
	}
	if got := truncateBytesUpper([]byte{1, 0xff, 0xff, 7}, 3); !bytes.Equal(got, []byte{2}) {
		t.Errorf("bytes upper = %x", got)
	}
	if got := truncateBytesUpper([]byte{0xff, 0xff, 7}, 2); got != nil {
		t.Errorf("bytes upper = %x, want none", got)
	}
}

func TestParseMetricsMode(t *testing.T) {
	for in, want := range map[string]metricsMode{
		"none": {kind: 'n'}, "Counts": {kind: 'c'}, " full ": {kind: 'f'}, "truncate(8)": {kind: 't', trunc: 8},
	} {
		if got, err := parseMetricsMode(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	for _, bad := range []string{"truncate(0)", "truncate(x)", "truncate(3", "some"} {
		if _, err := parseMetricsMode(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
