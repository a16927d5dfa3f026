package ingest

import (
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// countingAllocator measures the bytes the batch's Arrow builders hold, so
// the buffer can be bounded by what it really takes (builders grow by
// doubling: the allocation, not the row count, is what must stay bounded).
type countingAllocator struct {
	memory.Allocator
	n atomic.Int64
}

func newCountingAllocator(a memory.Allocator) *countingAllocator {
	if c, ok := a.(*countingAllocator); ok {
		return c
	}
	return &countingAllocator{Allocator: a}
}

func (c *countingAllocator) Allocate(size int) []byte {
	c.n.Add(int64(size))
	return c.Allocator.Allocate(size)
}

func (c *countingAllocator) Reallocate(size int, b []byte) []byte {
	c.n.Add(int64(size - len(b)))
	return c.Allocator.Reallocate(size, b)
}

func (c *countingAllocator) Free(b []byte) {
	c.n.Add(-int64(len(b)))
	c.Allocator.Free(b)
}

// Allocated is the number of bytes currently allocated through c.
func (c *countingAllocator) Allocated() int64 { return c.n.Load() }
