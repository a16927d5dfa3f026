package ingest

import (
	"maps"
	"sync"
	"time"
)

// Stats are the pipeline's counters since it started.
type Stats struct {
	Consumed    int64
	Rows        int64
	Dead        int64
	DeadByClass map[string]int64
	Commits     int64
	Files       int64
	Bytes       int64
	Fenced      int64
	LastCommit  time.Time
	// Stalled is how long consuming waited for a background commit to
	// land before it could hand over the next batch.
	Stalled time.Duration
}

type statsCounter struct {
	mu sync.Mutex
	s  Stats
}

func newStatsCounter() statsCounter {
	return statsCounter{s: Stats{DeadByClass: map[string]int64{}}}
}

func (c *statsCounter) consumed(n int64) {
	c.mu.Lock()
	c.s.Consumed += n
	c.mu.Unlock()
}

func (c *statsCounter) dead(class string) {
	c.mu.Lock()
	c.s.Dead++
	c.s.DeadByClass[class]++
	c.mu.Unlock()
}

func (c *statsCounter) fenced() {
	c.mu.Lock()
	c.s.Fenced++
	c.mu.Unlock()
}

func (c *statsCounter) stalled(d time.Duration) {
	c.mu.Lock()
	c.s.Stalled += d
	c.mu.Unlock()
}

func (c *statsCounter) committed(ci CommitInfo) {
	c.mu.Lock()
	c.s.Rows += ci.Rows
	c.s.Commits++
	c.s.Files += int64(ci.Files)
	c.s.Bytes += ci.Bytes
	c.s.LastCommit = ci.Committed
	c.mu.Unlock()
}

func (c *statsCounter) snapshot() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.s
	s.DeadByClass = maps.Clone(c.s.DeadByClass)
	return s
}
