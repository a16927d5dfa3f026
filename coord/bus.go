package coord

import (
	"context"
	"sync"
)

// Bus is the control channel: every message sent by any process reaches
// every subscriber of every process, in one order.
type Bus interface {
	// Send delivers m to the channel and returns once it is durable there.
	Send(ctx context.Context, m Message) error
	// Subscribe returns the messages sent from now on, and a function that
	// ends the subscription.
	Subscribe() (<-chan Message, func())
}

// subscribers fans messages out to subscriptions. A slow subscriber holds
// up the others (its channel is buffered).
type subscribers struct {
	mu   sync.Mutex
	next int
	subs map[int]chan Message
}

const subBuffer = 4096

func (s *subscribers) subscribe() (<-chan Message, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subs == nil {
		s.subs = map[int]chan Message{}
	}
	id := s.next
	s.next++
	ch := make(chan Message, subBuffer)
	s.subs[id] = ch
	return ch, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if c, ok := s.subs[id]; ok {
			delete(s.subs, id)
			close(c)
		}
	}
}

func (s *subscribers) publish(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range s.subs {
		ch <- m
	}
}

func (s *subscribers) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, ch := range s.subs {
		delete(s.subs, id)
		close(ch)
	}
}

// MemBus is an in-process Bus (tests, and several pipelines in one
// process). Filter, when set, may drop a message (return false) before it
// is delivered: a test's lost message or dead coordinator.
type MemBus struct {
	subscribers
	Filter func(Message) bool

	mu   sync.Mutex
	sent []Message
}

// NewMemBus returns an empty MemBus.
func NewMemBus() *MemBus { return &MemBus{} }

// Send implements Bus.
func (b *MemBus) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	b.sent = append(b.sent, m)
	f := b.Filter
	b.mu.Unlock()
	if f != nil && !f(m) {
		return nil
	}
	b.publish(m)
	return nil
}

// Sent returns every message sent so far (dropped ones too).
func (b *MemBus) Sent() []Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Message(nil), b.sent...)
}

// Replay delivers m again, as a control topic read from an earlier offset
// would.
func (b *MemBus) Replay(m Message) { b.publish(m) }

// Subscribe implements Bus.
func (b *MemBus) Subscribe() (<-chan Message, func()) { return b.subscribe() }
