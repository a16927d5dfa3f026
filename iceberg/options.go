package iceberg

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// WriterOption configures a Writer.
type WriterOption interface{ apply(*writerConfig) }

type writerOpt func(*writerConfig)

func (o writerOpt) apply(c *writerConfig) { o(c) }

type writerConfig struct {
	maxAttempts     int
	retry           retryConfig
	committer       *Committer
	now             func() time.Time
	icebergGoWriter bool
	coarseRows      int // > 0: the coarse ingest layout (coarse.go)
	coarseAbove     int // > 0: coarse only for records spanning more default-spec partitions (WithAutoLayout)
	stageHook       func(stage, commitID string)
}

func defaultConfig() writerConfig {
	return writerConfig{
		maxAttempts: defaultAttempts,
		retry:       defaultRetry(),
		now:         time.Now,
	}
}

func (c *writerConfig) validate() error {
	var errs []error
	if c.maxAttempts < 1 {
		errs = append(errs, fmt.Errorf("max commit attempts %d: must be at least 1", c.maxAttempts))
	}
	if c.now == nil {
		errs = append(errs, errors.New("clock must not be nil"))
	}
	if c.committer != nil && c.retry.set {
		errs = append(errs, errors.New("WithBackoff, WithSleep and WithResolveTimeout configure the Committer: give them to NewCommitter, not with WithCommitter"))
	} else if err := c.retry.validate(); err != nil {
		errs = append(errs, err)
	}

	return errors.Join(errs...)
}

// WithStageHook calls f as a commit enters each of its stages: "write"
// (Parquet data files) and "commit" (each catalog attempt). It runs on the
// committing goroutine; floe logs it at debug level and the crash tests use
// those lines to kill a process inside a stage.
func WithStageHook(f func(stage, commitID string)) WriterOption {
	return writerOpt(func(c *writerConfig) { c.stageHook = f })
}

func (c *writerConfig) stage(stage, commitID string) {
	if c.stageHook != nil {
		c.stageHook(stage, commitID)
	}
}

// WithMaxAttempts bounds the catalog commit attempts per batch (default 10).
func WithMaxAttempts(n int) WriterOption {
	return writerOpt(func(c *writerConfig) { c.maxAttempts = n })
}

// WithCommitter makes the Writer commit through c, shared with the other
// users of the table in this process (the compactor). c must be for the
// Writer's table. Without it the Writer creates a Committer of its own.
func WithCommitter(c *Committer) WriterOption {
	return writerOpt(func(cfg *writerConfig) { cfg.committer = c })
}

// RetryOption configures a Committer, directly or through the Writer that
// creates one.
type RetryOption interface {
	WriterOption
	CommitterOption
}

// WithBackoff sets the wait before commit attempt n+1 after attempt n
// (n starts at 1) failed. The default grows exponentially from 25 ms to 2 s
// with jitter.
func WithBackoff(f func(attempt int) time.Duration) RetryOption {
	return retryOpt(func(c *retryConfig) { c.backoff = f })
}

// WithSleep replaces the function used to wait between attempts (tests).
// It must return ctx.Err() when ctx ends first.
func WithSleep(f func(ctx context.Context, d time.Duration) error) RetryOption {
	return retryOpt(func(c *retryConfig) { c.sleep = f })
}

// WithClock replaces time.Now for CommitResult.Duration (tests).
func WithClock(now func() time.Time) WriterOption {
	return writerOpt(func(c *writerConfig) { c.now = now })
}

// WithResolveTimeout bounds how long resolving an unknown commit outcome may
// take (default 30 s). Resolution runs even when the commit's context has
// been cancelled, so shutting down does not leave an outcome unresolved.
func WithResolveTimeout(d time.Duration) RetryOption {
	return retryOpt(func(c *retryConfig) { c.resolveTimeout = d })
}

// WithIcebergGoWriter(true) writes every batch's data files with
// iceberg-go's writer (table.WriteRecords) instead of floe's lean Parquet
// writer. The lean writer is the default for tables it can write (flat
// columns of primitive types, identity partitions, no sort order: see
// planLean); other tables always use iceberg-go's.
func WithIcebergGoWriter(on bool) WriterOption {
	return writerOpt(func(c *writerConfig) { c.icebergGoWriter = on })
}

// expBackoff returns min*2^(attempt-1) capped at max, with "equal jitter":
// a random value in [d/2, d), so contending writers spread out.
func expBackoff(minWait, maxWait time.Duration) func(int) time.Duration {
	return func(attempt int) time.Duration {
		d := minWait
		for i := 1; i < attempt && d < maxWait; i++ {
			d *= 2
		}
		d = min(d, maxWait)
		half := d / 2

		return half + rand.N(d-half+1)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
