package compaction

import (
	"math/bits"
	"sync"
	"unsafe"
)

// pooledAllocator is an Arrow memory.Allocator that reuses freed buffers
// (in power-of-two size classes, through sync.Pools). The Parquet reader
// gives every column chunk it opens three page buffers, the first of them
// 16 KiB, and frees them when the column reader is closed: for the small
// files compaction reads most that is ~320 KiB of fresh memory per file
// of 20 columns, and the garbage collector's work for it, where the values
// are a few KiB. A buffer never freed is simply collected. Buffers come
// back zeroed and 64-byte aligned, like memory.GoAllocator's.
type pooledAllocator struct {
	classes [40]sync.Pool // by log2 of the capacity
}

const poolAlign = 64

var pagePool = &pooledAllocator{}

func (p *pooledAllocator) Allocate(size int) []byte {
	if size <= 0 {
		return make([]byte, 0, poolAlign+1) // not a size class: Free drops it
	}
	class := bits.Len(uint(size - 1)) // 1<<class >= size
	if class < len(p.classes) {
		if v, ok := p.classes[class].Get().(*[]byte); ok {
			b := (*v)[:size]
			clear(b)
			return b
		}
	}
	raw := make([]byte, (1<<class)+poolAlign)
	off := 0
	if r := int(uintptr(unsafe.Pointer(&raw[0])) % poolAlign); r != 0 {
		off = poolAlign - r
	}
	return raw[off : off+size : off+1<<class]
}

func (p *pooledAllocator) Reallocate(size int, b []byte) []byte {
	if size <= cap(b) {
		n := len(b)
		b = b[:size]
		if size > n {
			clear(b[n:])
		}
		return b
	}
	nb := p.Allocate(size)
	copy(nb, b)
	p.Free(b)
	return nb
}

func (p *pooledAllocator) Free(b []byte) {
	c := cap(b)
	if c == 0 || c&(c-1) != 0 {
		return // not one of ours
	}
	class := bits.Len(uint(c)) - 1
	if class < len(p.classes) {
		b = b[:c]
		p.classes[class].Put(&b)
	}
}
