package bench

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/floe-io/floe/ingest"
)

// timedSource wraps the pipeline's source and remembers, per partition and
// in offset order, when each record was born (its Kafka timestamp, or the
// moment Poll returned it). When a snapshot commits, every remembered record
// below the snapshot's recorded offset is visible: its latency is the commit
// time minus its birth. The pipeline itself is unchanged.
type timedSource struct {
	ingest.Source
	fromPoll bool
	now      func() time.Time

	mu        sync.Mutex
	pending   map[ingest.TopicPartition]*stampQueue
	latencies []float32 // ms
	bytes     int64
	polled    int64
}

type stamp struct {
	off  int64
	born int64 // unix nanos
}

type stampQueue struct {
	q    []stamp
	head int
}

func newTimedSource(src ingest.Source, fromPoll bool, expect int) *timedSource {
	return &timedSource{
		Source: src, fromPoll: fromPoll, now: time.Now,
		pending:   map[ingest.TopicPartition]*stampQueue{},
		latencies: make([]float32, 0, expect),
	}
}

// Poll implements ingest.Source.
func (s *timedSource) Poll(ctx context.Context, rb ingest.Rebalancer, max int, wait time.Duration) ([]ingest.Record, error) {
	recs, err := s.Source.Poll(ctx, rb, max, wait)
	if len(recs) == 0 {
		return recs, err
	}
	polled := s.now().UnixNano()
	s.mu.Lock()
	for i := range recs {
		r := &recs[i]
		tp := r.TP()
		q := s.pending[tp]
		if q == nil {
			q = &stampQueue{}
			s.pending[tp] = q
		}
		born := polled
		if !s.fromPoll {
			born = r.Timestamp.UnixNano()
		}
		q.q = append(q.q, stamp{r.Offset, born})
		s.bytes += int64(len(r.Key) + len(r.Value))
	}
	s.polled += int64(len(recs))
	s.mu.Unlock()
	return recs, err
}

// committed records the latency of every record the snapshot made visible.
func (s *timedSource) committed(at time.Time, to map[ingest.TopicPartition]int64) {
	t := at.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	for tp, next := range to {
		q := s.pending[tp]
		if q == nil {
			continue
		}
		for q.head < len(q.q) && q.q[q.head].off < next {
			s.latencies = append(s.latencies, float32(float64(t-q.q[q.head].born)/1e6))
			q.head++
		}
		if q.head > 4096 && q.head*2 > len(q.q) {
			q.q = append(q.q[:0], q.q[q.head:]...)
			q.head = 0
		}
	}
}

// Forward the optional capabilities the pipeline looks for.

func (s *timedSource) Watermarks(tp ingest.TopicPartition) (int64, int64, error) {
	if wm, ok := s.Source.(interface {
		Watermarks(ingest.TopicPartition) (int64, int64, error)
	}); ok {
		return wm.Watermarks(tp)
	}
	return 0, 0, nil
}

func (s *timedSource) CachedHighWatermark(tp ingest.TopicPartition) (int64, bool) {
	if wm, ok := s.Source.(interface {
		CachedHighWatermark(ingest.TopicPartition) (int64, bool)
	}); ok {
		return wm.CachedHighWatermark(tp)
	}
	return 0, false
}

// percentiles returns the p-th percentiles (0..100) of xs, sorting it.
func percentiles(xs []float32, ps ...float64) []float64 {
	out := make([]float64, len(ps))
	if len(xs) == 0 {
		return out
	}
	slices.Sort(xs)
	for i, p := range ps {
		k := int(p/100*float64(len(xs))+0.5) - 1
		k = max(0, min(k, len(xs)-1))
		out[i] = float64(xs[k])
	}
	return out
}
