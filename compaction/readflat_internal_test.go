package compaction

import (
	"testing"
	"unsafe"
)

// TestPooledAllocator: buffers come back with the asked length, 64-byte
// aligned and zeroed, also when reused after Free; Reallocate keeps the
// contents.
func TestPooledAllocator(t *testing.T) {
	p := &pooledAllocator{}
	check := func(b []byte, size int, from int) {
		t.Helper()
		if len(b) != size {
			t.Fatalf("len %d, want %d", len(b), size)
		}
		if size > 0 && uintptr(unsafe.Pointer(&b[0]))%poolAlign != 0 {
			t.Fatalf("buffer of %d bytes not %d-byte aligned", size, poolAlign)
		}
		for i, c := range b[from:] {
			if c != 0 {
				t.Fatalf("byte %d of a new buffer is %d", i, c)
			}
		}
	}
	for _, size := range []int{1, 63, 64, 1000, 16 << 10, 100_000} {
		b := p.Allocate(size)
		check(b, size, 0)
		for i := range b {
			b[i] = 0xab
		}
		p.Free(b)
		b = p.Allocate(size) // likely the same buffer, dirty
		check(b, size, 0)
		b[0] = 7
		b = p.Reallocate(size*3, b)
		check(b, size*3, 1)
		if b[0] != 7 {
			t.Fatalf("Reallocate lost the contents")
		}
		p.Free(b)
	}
}
