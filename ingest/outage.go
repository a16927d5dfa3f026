package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/floe-io/floe/iceberg"
)

// What an outage is of, as OutageObserver and OutageError name it.
const (
	OutageCatalog  = "catalog"
	OutageStorage  = "storage"
	OutageRegistry = "registry"
)

// The wait between attempts while the catalog or the object store is down:
// from outageBackoffMin, doubling up to outageBackoffMax, each wait drawn
// between half and all of it (jitter, so processes that met one outage do
// not come back in step).
const (
	outageBackoffMin = 200 * time.Millisecond
	outageBackoffMax = 2 * time.Second
)

// DefaultOutageTimeout is how long the catalog or the object store may stay
// down before Run gives up (Options.OutageTimeout).
const DefaultOutageTimeout = 5 * time.Minute

// OutageError ends Run when the catalog or the object store stayed down
// longer than Options.OutageTimeout. Nothing after the last committed batch
// is committed; a restart resumes from the table's offsets.
type OutageError struct {
	// What was down: OutageCatalog or OutageStorage.
	What string
	// Lasted is from the first failed attempt to the last.
	Lasted time.Duration
	// Err is the last attempt's error.
	Err error
}

func (e *OutageError) Error() string {
	return fmt.Sprintf("%s unavailable for %s (--outage-timeout): %v", e.What, e.Lasted.Round(100*time.Millisecond), e.Err)
}

func (e *OutageError) Unwrap() error { return e.Err }

// outageOf names what err says is down ("" for anything else).
func outageOf(err error) string {
	switch iceberg.Unavailable(err) {
	case iceberg.ErrCatalogUnavailable:
		return OutageCatalog
	case iceberg.ErrStorageUnavailable:
		return OutageStorage
	}
	return ""
}

// outageRetry runs an operation against the catalog or the object store
// until it succeeds, fails for another reason, or what it needs stays
// down longer than the timeout. It tells the observer when an outage
// begins and ends (once each), so /readyz and the state metrics name what
// is down while it lasts.
type outageRetry struct {
	opts *Options // OutageTimeout, Now, Observer
	log  *slog.Logger
}

// do calls op (attempt counts from 1) until it returns nil or an error
// that is not an outage, or until an outage has lasted opts.OutageTimeout
// (then an *OutageError). stop ends the waiting early: op's last error is
// returned. Memory does not grow while it waits: op must reuse what the
// first attempt was given.
func (r outageRetry) do(stop context.Context, name string, op func(attempt int) error) error {
	var (
		down    string
		since   time.Time
		backoff = outageBackoffMin
	)
	for attempt := 1; ; attempt++ {
		err := op(attempt)
		what := outageOf(err)
		if down != "" && what != down {
			r.ended(down, r.opts.Now().Sub(since))
			down = ""
		}
		if err == nil || what == "" {
			return err
		}
		now := r.opts.Now()
		if down == "" {
			down, since = what, now
			r.began(what, err)
		}
		lasted := now.Sub(since)
		if r.opts.OutageTimeout < 0 || lasted >= r.opts.OutageTimeout {
			return &OutageError{What: what, Lasted: lasted, Err: err}
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		wait = min(wait, r.opts.OutageTimeout-lasted+time.Millisecond)
		r.log.Debug("retrying after an outage", "op", name, "component", what, "attempt", attempt, "backoff", wait, "err", err)
		select {
		case <-stop.Done():
			r.ended(down, r.opts.Now().Sub(since))
			return fmt.Errorf("stopped while the %s was unavailable: %w", what, err)
		case <-time.After(wait):
		}
		backoff = min(backoff*2, outageBackoffMax)
	}
}

func (r outageRetry) began(what string, err error) {
	if oo, ok := r.opts.Observer.(OutageObserver); ok {
		oo.OutageBegan(what, err)
	}
}

func (r outageRetry) ended(what string, lasted time.Duration) {
	if oo, ok := r.opts.Observer.(OutageObserver); ok {
		oo.OutageEnded(what, lasted)
	}
}

// afterShutdown returns a context that is done timeout after ctx is (and
// never before): how long the pipeline keeps retrying once asked to stop.
func afterShutdown(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	out, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(timeout, cancel) })
	return out, func() {
		stop()
		cancel()
	}
}
