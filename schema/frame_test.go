package schema

import (
	"bytes"
	"errors"
	"testing"
)

func TestParseFrame(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		id      uint32
		body    []byte
		wantErr bool
	}{
		{"empty", nil, 0, nil, true},
		{"four bytes", []byte{0, 0, 0, 1}, 0, nil, true},
		{"bad magic", []byte{1, 0, 0, 0, 1, 9}, 0, nil, true},
		{"header only", []byte{0, 0, 0, 0, 7}, 7, []byte{}, false},
		{"big endian id", []byte{0, 0x01, 0x02, 0x03, 0x04, 0xaa, 0xbb}, 0x01020304, []byte{0xaa, 0xbb}, false},
		{"max id", []byte{0, 0xff, 0xff, 0xff, 0xff, 1}, 0xffffffff, []byte{1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, body, err := ParseFrame(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrBadMagic) {
					t.Fatalf("err = %v, want ErrBadMagic", err)
				}
				return
			}
			if err != nil || id != tc.id || !bytes.Equal(body, tc.body) {
				t.Fatalf("ParseFrame = %d, %x, %v; want %d, %x", id, body, err, tc.id, tc.body)
			}
		})
	}
}

func TestAppendFrameRoundTrip(t *testing.T) {
	for _, id := range []uint32{0, 1, 4242, 1 << 31, ^uint32(0)} {
		b := append(AppendFrame([]byte("x")[:0], id), "body"...)
		got, body, err := ParseFrame(b)
		if err != nil || got != id || string(body) != "body" {
			t.Fatalf("round trip %d: %d %q %v", id, got, body, err)
		}
	}
}
