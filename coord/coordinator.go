package coord

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/floe-io/floe/iceberg"
)

// Coordinator commits the workers' staged batches, all pending ones in one
// snapshot per trigger (sooner, but at least half a trigger after the last
// round, once every process heard from in the last three triggers has a
// request in),
// while it is active (its process holds partition 0
// of the source topic). Its commits go through the process's
// iceberg.Writer, whose Committer the local compactor shares: they take
// turns.
type Coordinator struct {
	w    *iceberg.Writer
	bus  Bus
	opts Options

	active atomic.Bool
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}

	// OnRound, when set, is told of every round that committed or
	// answered something (tests, metrics).
	OnRound func(Round)

	mu sync.Mutex
	// rounds counts commit rounds; snapshots those that added one.
	rounds, snapshots int
}

// Round describes one coordinator round.
type Round struct {
	Requests, Accepted, Fenced, Deferred, Duplicates int
	SnapshotID                                       int64
	Attempts                                         int
	Duration                                         time.Duration
	Err                                              error
}

// pending is one request waiting to be committed.
type pending struct {
	s      iceberg.Staged
	first  time.Time
	sender string
}

// maxDeferred is how long a request the table is not ready for stays
// pending; its worker sends it again if it still waits.
const maxDeferred = time.Minute

// NewCoordinator returns an inactive Coordinator listening on bus; Close
// it.
func NewCoordinator(w *iceberg.Writer, bus Bus, opts Options) *Coordinator {
	opts.defaults()
	c := &Coordinator{w: w, bus: bus, opts: opts, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	msgs, unsub := bus.Subscribe()
	go c.run(msgs, unsub)
	return c
}

// SetActive makes the process the coordinator (true) or not. It does not
// block. A coordinator that stops commits what it has collected first.
func (c *Coordinator) SetActive(on bool) {
	if c.active.Swap(on) != on {
		if on {
			c.opts.Log.Info("coordinated commits: this process is the coordinator")
		} else {
			c.opts.Log.Info("coordinated commits: this process is no longer the coordinator")
		}
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// Active says whether the process is the coordinator.
func (c *Coordinator) Active() bool { return c.active.Load() }

// Close stops the Coordinator after committing what it has collected.
func (c *Coordinator) Close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
}

func (c *Coordinator) run(msgs <-chan Message, unsub func()) {
	defer close(c.done)
	defer unsub()
	var (
		queue   []*pending
		byID    = map[string]*pending{}
		timer   *time.Timer
		timerC  <-chan time.Time
		last    time.Time
		wasOn   bool
		flushed = func() {
			queue, byID = nil, map[string]*pending{}
		}
	)
	// seen is when each process last sent a request. Once every process
	// heard from in the last three triggers has a request in, the round
	// need not wait for the trigger (but waits at least half of it since
	// the last round).
	seen := map[string]time.Time{}
	allIn := func() bool {
		in := map[string]bool{}
		for _, p := range queue {
			in[p.sender] = true
		}
		recent := time.Now().Add(-3 * c.opts.Trigger)
		for s, at := range seen {
			if at.Before(recent) {
				delete(seen, s)
				continue
			}
			if !in[s] {
				return false
			}
		}
		return len(in) > 0
	}
	schedule := func() {
		if len(queue) == 0 {
			return
		}
		due := last.Add(c.opts.Trigger)
		if allIn() {
			due = last.Add(c.opts.Trigger / 2)
		}
		if timerC != nil {
			if !allIn() {
				return
			}
			timer.Stop()
		}
		wait := time.Until(due)
		if wait < 0 {
			wait = 0
		}
		timer = time.NewTimer(wait)
		timerC = timer.C
	}
	round := func() {
		if timer != nil {
			timer.Stop()
		}
		timer, timerC = nil, nil
		last = time.Now()
		queue = c.round(queue)
		byID = map[string]*pending{}
		for _, p := range queue {
			byID[p.s.CommitID] = p
		}
		schedule()
	}
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				return
			}
			if m.Kind != KindFiles || m.Request == nil || !c.active.Load() {
				continue
			}
			s, err := m.Request.staged()
			if err != nil {
				c.opts.Log.Warn("coordinated commits: ignoring a malformed request", "sender", m.Sender, "err", err)
				continue
			}
			seen[m.Sender] = time.Now()
			if _, dup := byID[s.CommitID]; dup {
				continue // a resend: keeps its place
			}
			p := &pending{s: s, first: time.Now(), sender: m.Sender}
			queue = append(queue, p)
			byID[s.CommitID] = p
			schedule()
		case <-timerC:
			round()
		case <-c.wake:
			on := c.active.Load()
			if on && !wasOn {
				// Collect for one trigger before the first commit.
				last = time.Now()
			}
			if wasOn && !on && len(queue) > 0 {
				round() // commit what was collected before handing over
				flushed()
			}
			if !on {
				flushed()
			}
			wasOn = on
		case <-c.stop:
			if c.active.Load() && len(queue) > 0 {
				round()
			}
			return
		}
	}
}

// round commits the queue in one snapshot, answers every decided request
// and returns those still pending.
func (c *Coordinator) round(queue []*pending) []*pending {
	if len(queue) == 0 {
		return nil
	}
	reqs := make([]iceberg.Staged, len(queue))
	for i, p := range queue {
		reqs[i] = p.s
	}
	// The commit outlives a stop: an answer must follow a landed commit.
	ctx := context.Background()
	res, err := c.w.CommitStaged(ctx, reqs)
	r := Round{Requests: len(reqs), Accepted: res.Accepted, SnapshotID: res.SnapshotID, Attempts: res.Attempts, Duration: res.Duration, Err: err}
	var (
		answers []Result
		keep    []*pending
	)
	for i, o := range res.Outcomes {
		switch o.Status {
		case iceberg.StagedCommitted:
			answers = append(answers, Result{CommitID: o.CommitID, Status: StatusCommitted, SnapshotID: o.SnapshotID, Attempts: res.Attempts})
			if o.SnapshotID != res.SnapshotID || res.SnapshotID == 0 {
				r.Duplicates++
			}
		case iceberg.StagedFenced:
			r.Fenced++
			answers = append(answers, Result{CommitID: o.CommitID, Status: StatusFenced, Reason: o.Reason})
		default:
			r.Deferred++
			if time.Since(queue[i].first) < maxDeferred {
				keep = append(keep, queue[i])
			}
		}
	}
	c.mu.Lock()
	c.rounds++
	if res.SnapshotID != 0 {
		c.snapshots++
	}
	c.mu.Unlock()
	if err != nil {
		c.opts.Log.Warn("coordinated commit failed; its requests wait for the next round", "requests", len(reqs), "err", err)
	} else {
		c.opts.Log.Info("coordinated commit", "snapshot_id", res.SnapshotID, "requests", len(reqs), "accepted", res.Accepted,
			"fenced", r.Fenced, "deferred", r.Deferred, "already_committed", r.Duplicates,
			"attempts", res.Attempts, "duration_ms", res.Duration.Milliseconds())
	}
	if len(answers) > 0 {
		if serr := c.bus.Send(ctx, Message{Kind: KindResults, Sender: c.opts.Sender, Results: answers}); serr != nil {
			// The workers find their batches in the table after their
			// timeout.
			c.opts.Log.Warn("coordinated commits: sending the answers failed", "err", serr)
		}
	}
	if c.OnRound != nil {
		c.OnRound(r)
	}
	return keep
}

// Stats returns the rounds run and the snapshots they added.
func (c *Coordinator) Stats() (rounds, snapshots int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rounds, c.snapshots
}
