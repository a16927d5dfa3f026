package devstack

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ProduceOption configures Produce and ProduceStream.
type ProduceOption interface{ apply(*produceConfig) }

type produceConfig struct {
	noKeys  bool
	kgoOpts []kgo.Opt
	now     func() time.Time
}

type produceOpt func(*produceConfig)

func (o produceOpt) apply(c *produceConfig) { o(c) }

// WithoutKeys produces records with a nil key (the contract allows it); the
// client then spreads them over partitions itself.
func WithoutKeys() ProduceOption { return produceOpt(func(c *produceConfig) { c.noKeys = true }) }

// WithClientOptions adds franz-go client options, applied after the
// defaults (no compression, idempotent writes, acks from all replicas).
func WithClientOptions(opts ...kgo.Opt) ProduceOption {
	return produceOpt(func(c *produceConfig) { c.kgoOpts = append(c.kgoOpts, opts...) })
}

// WithClock sets the clock stamping record timestamps; default time.Now.
func WithClock(now func() time.Time) ProduceOption {
	return produceOpt(func(c *produceConfig) { c.now = now })
}

func newProducer(brokers []string, topic string, opts []ProduceOption) (*kgo.Client, produceConfig, error) {
	cfg := produceConfig{now: time.Now}
	for _, o := range opts {
		o.apply(&cfg)
	}
	if len(brokers) == 0 {
		return nil, cfg, errors.New("devstack: produce: no brokers")
	}
	if topic == "" {
		return nil, cfg, errors.New("devstack: produce: no topic")
	}
	kopts := append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.MaxBufferedRecords(100_000),
	}, cfg.kgoOpts...)
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return nil, cfg, fmt.Errorf("devstack: produce: %w", err)
	}
	return cl, cfg, nil
}

// firstErr keeps the first error of concurrent produce callbacks.
type firstErr struct {
	mu  sync.Mutex
	err error
}

func (f *firstErr) set(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

func (f *firstErr) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (c *produceConfig) record(topic string, e *Event) *kgo.Record {
	r := &kgo.Record{Topic: topic, Value: e.Value, Timestamp: c.now()}
	if !c.noKeys {
		r.Key = e.Key
	}
	return r
}

// Produce writes events to topic, in order per partition, and returns when
// all are acknowledged. Records are keyed by transaction id unless
// WithoutKeys is given, and stamped with the current time.
func Produce(ctx context.Context, brokers []string, topic string, events []Event, opts ...ProduceOption) error {
	i := 0
	_, err := ProduceStream(ctx, brokers, topic, func() (Event, bool) {
		if i == len(events) {
			return Event{}, false
		}
		i++
		return events[i-1], true
	}, 0, opts...)
	return err
}

// ProduceStream writes the events next yields until it reports false, at
// most rate events per second (0: as fast as the broker takes them), and
// returns how many were acknowledged. It stops at the first produce error
// or when ctx is done.
func ProduceStream(ctx context.Context, brokers []string, topic string, next func() (Event, bool), rate int, opts ...ProduceOption) (int64, error) {
	if rate < 0 {
		return 0, fmt.Errorf("devstack: produce: rate %d < 0", rate)
	}
	cl, cfg, err := newProducer(brokers, topic, opts)
	if err != nil {
		return 0, err
	}
	defer cl.Close()

	var (
		ferr  firstErr
		acked atomic.Int64
	)
	done := func(_ *kgo.Record, err error) {
		if err != nil {
			ferr.set(err)
			return
		}
		acked.Add(1)
	}
	start := time.Now()
	var sent int64
	for ctx.Err() == nil && ferr.get() == nil {
		e, ok := next()
		if !ok {
			break
		}
		if rate > 0 {
			due := start.Add(time.Duration(float64(sent) / float64(rate) * float64(time.Second)))
			if wait := time.Until(due); wait > time.Millisecond {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
				case <-t.C:
				}
				t.Stop()
				if ctx.Err() != nil {
					break
				}
			}
		}
		cl.Produce(ctx, cfg.record(topic, &e), done)
		sent++
	}
	flushErr := cl.Flush(ctx)
	n := acked.Load()
	if err := ferr.get(); err != nil {
		return n, fmt.Errorf("devstack: produce to %s: %w", topic, err)
	}
	if err := ctx.Err(); err != nil {
		return n, fmt.Errorf("devstack: produce to %s: %w", topic, err)
	}
	if flushErr != nil {
		return n, fmt.Errorf("devstack: produce to %s: flush: %w", topic, flushErr)
	}
	return n, nil
}
