package schema

import (
	"errors"
	"fmt"
)

// goavro trusts the lengths an Avro body declares: an array or map block
// count is only capped at 2^31-1, and it allocates room for that many items
// before reading one (measured: a 5-byte body declaring 2^26 nulls
// allocates 1 GiB; 2^31-1 would need 32 GiB). Bytes and strings are checked
// against the remaining buffer by goavro itself. checkBounds walks the body
// with the writer schema before goavro sees it, without allocating, and
// refuses a body whose declared lengths cannot be backed by its bytes:
//
//   - a bytes or string length beyond the remaining bytes;
//   - a fixed size beyond the remaining bytes;
//   - an array or map holding, over the whole body, more items than the
//     body has bytes (so an array of a zero-size type, such as null, can
//     hold at most as many items as the body is long);
//   - a union branch index out of range, a varint longer than 10 bytes;
//   - nesting deeper than maxBoundsDepth (a recursive schema).
//
// So decoding allocates O(len(body)) at most. A construct the schema model
// does not know is left to goavro.

// maxBoundsDepth bounds the recursion of checkBounds through recursive
// schemas.
const maxBoundsDepth = 256

// errOutOfBounds is returned (wrapped with an offset) by checkBounds.
var errOutOfBounds = errors.New("declared length exceeds the body")

type boundsChecker struct {
	buf   []byte
	off   int
	items int // array and map items left for the whole body
	depth int
}

// checkBounds reports whether body can be decoded with t without a length
// that exceeds it. Its error holds offsets and counts only, never content.
func checkBounds(t *avroType, body []byte) error {
	c := boundsChecker{buf: body, items: len(body)}
	return c.value(t)
}

func (c *boundsChecker) fail(what string) error {
	return fmt.Errorf("%w: %s at byte %d of %d", errOutOfBounds, what, c.off, len(c.buf))
}

// take skips n bytes and reports whether the body has them. Callers
// build their failure's description only when it returns false: this runs
// for every string of every record.
func (c *boundsChecker) take(n int64) bool {
	if n < 0 || n > int64(len(c.buf)-c.off) {
		return false
	}
	c.off += int(n)
	return true
}

// long reads a zig-zag varint.
func (c *boundsChecker) long() (int64, error) {
	v, off, reason := readLong(c.buf, c.off)
	c.off = off
	switch reason {
	case "":
		return v, nil
	case reasonTruncated:
		return 0, c.fail("truncated varint")
	}
	return 0, c.fail(reason)
}

func (c *boundsChecker) value(t *avroType) error {
	if t == nil {
		return nil // unknown to the model: goavro decides
	}
	c.depth++
	defer func() { c.depth-- }()
	if c.depth > maxBoundsDepth {
		return c.fail("nesting deeper than 256")
	}
	switch t.kind {
	case avroNull:
		return nil
	case avroBoolean:
		if !c.take(1) {
			return c.fail("boolean")
		}
		return nil
	case avroInt, avroLong, avroEnum:
		_, err := c.long()
		return err
	case avroFloat:
		if !c.take(4) {
			return c.fail("float")
		}
		return nil
	case avroDouble:
		if !c.take(8) {
			return c.fail("double")
		}
		return nil
	case avroBytes, avroString:
		n, err := c.long()
		if err != nil {
			return err
		}
		if !c.take(n) {
			return c.fail(fmt.Sprintf("%s length %d", t.kind, n))
		}
		return nil
	case avroFixed:
		if !c.take(int64(t.size)) {
			return c.fail(fmt.Sprintf("fixed size %d", t.size))
		}
		return nil
	case avroRecord:
		for _, f := range t.fields {
			if err := c.value(f.typ); err != nil {
				return err
			}
		}
		return nil
	case avroUnion:
		i, err := c.long()
		if err != nil {
			return err
		}
		if i < 0 || i >= int64(len(t.branches)) {
			return c.fail(fmt.Sprintf("union branch %d of %d", i, len(t.branches)))
		}
		return c.value(t.branches[i])
	case avroArray:
		return c.blocks(t.items, false)
	case avroMap:
		return c.blocks(t.values, true)
	}
	return nil
}

// blocks walks the blocks of an array or map.
func (c *boundsChecker) blocks(item *avroType, isMap bool) error {
	for {
		n, err := c.long()
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if n < 0 {
			if n == -n { // math.MinInt64
				return c.fail("block count")
			}
			n = -n
			if _, err := c.long(); err != nil { // block size in bytes
				return err
			}
		}
		if n > int64(c.items) {
			return c.fail(fmt.Sprintf("block of %d items (at most %d left)", n, c.items))
		}
		c.items -= int(n)
		for range n {
			if isMap {
				kn, err := c.long()
				if err != nil {
					return err
				}
				if !c.take(kn) {
					return c.fail(fmt.Sprintf("map key length %d", kn))
				}
			}
			if err := c.value(item); err != nil {
				return err
			}
		}
	}
}
