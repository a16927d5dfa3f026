package iceberg_test

import (
	"strings"
	"testing"

	"github.com/floe-io/floe/iceberg"
)

// TestPartitionSegmentJavaEscaping checks PartitionSegment against what
// java.net.URLEncoder.encode(value, UTF_8) gives (Java Iceberg's
// PartitionSpec.partitionToPath), worked out by hand from its rules.
func TestPartitionSegmentJavaEscaping(t *testing.T) {
	for _, c := range []struct{ value, want string }{
		{"m-1", "merchant_id=m-1"},
		{"shop/42", "merchant_id=shop%2F42"},
		{" spaced out ", "merchant_id=+spaced+out+"},
		{"商户-ü", "merchant_id=%E5%95%86%E6%88%B7-%C3%BC"},
		{"a=b&c%2F?#", "merchant_id=a%3Db%26c%252F%3F%23"},
		{"~*._-", "merchant_id=%7E*._-"},
		{"+", "merchant_id=%2B"},
		{"", "merchant_id="},
		{"\x00\x01\n\x7f", "merchant_id=%00%01%0A%7F"},
		{"..", "merchant_id=.."},
		{"null", "merchant_id=null"},
	} {
		if got := iceberg.PartitionSegment("merchant_id", c.value); got != c.want {
			t.Errorf("PartitionSegment(%q) = %q, want %q", c.value, got, c.want)
		}
	}
	if got := iceberg.PartitionSegment("a b/c", "x"); got != "a+b%2Fc=x" {
		t.Errorf("field name not escaped: %q", got)
	}
}

// TestPartitionSegmentLong checks that a value too long for a file name
// gets a short, unique, well-formed segment.
func TestPartitionSegmentLong(t *testing.T) {
	long := strings.Repeat("x", 300)
	seen := map[string]string{}
	for _, v := range []string{
		long, long + "y", long + "z", strings.Repeat("é", 150), strings.Repeat("é", 151),
		strings.Repeat("%", 100), strings.Repeat("a", 187), strings.Repeat("a", 188), strings.Repeat("a", 250),
	} {
		s := iceberg.PartitionSegment("merchant_id", v)
		if len(s) > 200 {
			t.Errorf("%d-byte value: segment of %d bytes", len(v), len(s))
		}
		if strings.ContainsAny(s, "/?#\x00 ") {
			t.Errorf("segment %q holds a path or URL metacharacter", s)
		}
		// No escape is cut: every '%' is followed by two hex digits.
		for i := 0; i < len(s); i++ {
			if s[i] == '%' && (i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2])) {
				t.Errorf("segment %q has a cut escape at %d", s, i)
			}
		}
		if prev, dup := seen[s]; dup {
			t.Errorf("values %q and %q share the segment %q", prev, v, s)
		}
		seen[s] = v
		if again := iceberg.PartitionSegment("merchant_id", v); again != s {
			t.Errorf("not deterministic: %q then %q", s, again)
		}
	}
	// A short value is never cut and so never ends like a cut one.
	if s := iceberg.PartitionSegment("merchant_id", "abc~0123456789abcdef"); s != "merchant_id=abc%7E0123456789abcdef" {
		t.Errorf("short value with '~': %q", s)
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'F'
}
