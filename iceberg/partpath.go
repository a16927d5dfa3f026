package iceberg

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// maxPartitionSegment bounds one "name=value" directory name in bytes,
// under the 255-byte file name limit of common file systems with room to
// spare; a whole data file key stays far below S3's 1,024 bytes.
const maxPartitionSegment = 200

// PartitionSegment is the directory name of one partition field's value,
// "name=value", escaped as Java Iceberg's PartitionSpec.partitionToPath
// does (java.net.URLEncoder with UTF-8 on the name and on the value's
// human string): A-Z a-z 0-9 . - * _ stay, a space becomes '+', every other
// byte of the UTF-8 text becomes %XX. The result holds no '/', '%'-decodable
// surprises for a literal reader, '?', '#' or control character, and is
// the same text whether read as a path or as a URL path.
//
// A segment longer than maxPartitionSegment bytes (a long value, or one
// whose escaping triples it) is cut at an escape boundary and ends in '~'
// followed by 16 hex digits of the SHA-256 of the unescaped value: '~' is
// never left unescaped by the encoder, so a cut segment cannot equal the
// segment of another value. The value itself is in the manifest.
func PartitionSegment(name, value string) string {
	var b strings.Builder
	b.Grow(len(name) + 1 + len(value))
	appendURLEncoded(&b, name)
	b.WriteByte('=')
	appendURLEncoded(&b, value)
	s := b.String()
	if len(s) <= maxPartitionSegment {
		return s
	}
	sum := sha256.Sum256([]byte(value))
	suffix := "~" + hex.EncodeToString(sum[:8])
	cut := maxPartitionSegment - len(suffix)
	// Do not split a %XX escape.
	if i := strings.LastIndexByte(s[max(cut-2, 0):cut], '%'); i >= 0 {
		cut = max(cut-2, 0) + i
	}
	return s[:cut] + suffix
}

// appendURLEncoded writes s as java.net.URLEncoder.encode(s, UTF_8) would.
func appendURLEncoded(b *strings.Builder, s string) {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '.', c == '-', c == '*', c == '_':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
}
