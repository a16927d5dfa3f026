package ingest

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckRecord(t *testing.T) {
	secret := "user-4711 card 4000"
	tests := []struct {
		name  string
		r     Record
		max   int
		class string
	}{
		{"ok", Record{Key: []byte("tx"), Value: []byte{0, 0, 0, 0, 1, 2}}, 8, ""},
		{"exactly the limit", Record{Key: []byte("tx"), Value: []byte{0, 0, 0, 0, 1, 2}}, 8, ""},
		{"no limit", Record{Value: make([]byte, 1<<20)}, 0, ""},
		{"nil value", Record{Key: []byte("tx")}, 8, ClassEmptyValue},
		{"empty value", Record{Key: []byte("tx"), Value: []byte{}}, 0, ClassEmptyValue},
		{"too large", Record{Key: []byte("tx"), Value: []byte(secret)}, 8, ClassTooLarge},
		{"key counts", Record{Key: []byte("0123456789"), Value: []byte{0}}, 8, ClassTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckRecord(&tc.r, tc.max)
			if got := Classify(err); got != tc.class {
				t.Fatalf("CheckRecord = %v, class %q, want %q", err, got, tc.class)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Fatalf("error %q quotes the record", err)
			}
		})
	}
	err := CheckRecord(&Record{Value: []byte(secret)}, 4)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "19 bytes") || !strings.Contains(err.Error(), "limit 4") {
		t.Fatalf("too large: %v", err)
	}
	for _, c := range []string{ClassEmptyValue, ClassTooLarge} {
		found := false
		for _, k := range Classes {
			found = found || k == c
		}
		if !found {
			t.Errorf("Classes lacks %s", c)
		}
	}
}
