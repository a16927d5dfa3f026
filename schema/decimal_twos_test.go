package schema_test

import (
	"math/big"
	"testing"

	"github.com/floe-io/floe/schema"
)

// TestDecimalFromTwos: unscaled values of either sign, in as many
// bytes as a FIXED_LEN_BYTE_ARRAY decimal of each precision takes.
func TestDecimalFromTwos(t *testing.T) {
	for _, s := range []string{"0", "1", "-1", "127", "-128", "12345678901234", "-12345678901234", "99999999999999999999999999999999999999", "-99999999999999999999999999999999999999"} {
		want, _ := new(big.Int).SetString(s, 10)
		for _, n := range []int{8, 9, 16} {
			if want.BitLen() >= 8*n {
				continue
			}
			// Two's complement in n bytes.
			v := new(big.Int).Set(want)
			if v.Sign() < 0 {
				v.Add(v, new(big.Int).Lsh(big.NewInt(1), uint(8*n)))
			}
			b := v.FillBytes(make([]byte, n))
			d, wide := schema.DecimalFromTwos(b)
			if got := d.BigInt(); wide || got.Cmp(want) != 0 {
				t.Errorf("%s in %d bytes (%x): got %s", s, n, b, got)
			}
		}
	}
}
