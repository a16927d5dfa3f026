package schema

import (
	"encoding/binary"
	"fmt"
)

// FrameHeaderSize is the length of the Schema Registry wire-format header:
// the magic byte 0 and a 4-byte big-endian schema id.
const FrameHeaderSize = 5

// ParseFrame splits a Schema Registry framed value into its schema id and
// Avro body. body aliases b. Errors wrap ErrBadMagic.
func ParseFrame(b []byte) (id uint32, body []byte, err error) {
	if len(b) < FrameHeaderSize {
		return 0, nil, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrBadMagic, len(b), FrameHeaderSize)
	}
	if b[0] != 0 {
		return 0, nil, fmt.Errorf("%w: first byte is 0x%02x, want 0x00", ErrBadMagic, b[0])
	}
	return binary.BigEndian.Uint32(b[1:FrameHeaderSize]), b[FrameHeaderSize:], nil
}

// AppendFrame appends the 5-byte frame header for schema id to dst; append
// the Avro body after it.
func AppendFrame(dst []byte, id uint32) []byte {
	dst = append(dst, 0)
	return binary.BigEndian.AppendUint32(dst, id)
}
