package pipeline

import (
	"fmt"
	"slices"
	"sync/atomic"
)

// Kind is a kind of record: alert, log or daemon message.
type Kind int

// Record kinds.
const (
	KindAlert Kind = iota
	KindLog
	KindMessage
	numKinds
)

func (k Kind) String() string {
	switch k {
	case KindAlert:
		return "alert"
	case KindLog:
		return "log"
	case KindMessage:
		return "message"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Subscription filters, as upstream's RequestMessage.Filter.
const (
	FilterAll    = "all"
	FilterPolicy = "policy" // alerts
	FilterSystem = "system" // logs
)

// ValidFilter reports whether filter may be used to subscribe to kind:
// "all" or "policy" for alerts, "all" or "system" for logs, anything for
// messages. As upstream, the two valid alert (or log) filters select the
// same records.
func ValidFilter(kind Kind, filter string) bool {
	switch kind {
	case KindAlert:
		return filter == FilterAll || filter == FilterPolicy
	case KindLog:
		return filter == FilterAll || filter == FilterSystem
	case KindMessage:
		return true
	}
	return false
}

// dropWarnEvery is how many drops of one subscriber pass between warnings.
const dropWarnEvery = 10000

// Subscription receives records of one kind through a bounded queue.
type Subscription struct {
	p       *Pipeline
	kind    Kind
	filter  string
	ch      chan Event
	dropped atomic.Uint64
	closed  atomic.Bool
}

// Subscribe returns a subscription to records of kind delivered from now
// on. Its queue holds Options.QueueSize records; when the subscriber does
// not keep up, new records are dropped for it alone.
func (p *Pipeline) Subscribe(kind Kind, filter string) (*Subscription, error) {
	if kind < 0 || kind >= numKinds {
		return nil, fmt.Errorf("subscribe: unknown kind %v", kind)
	}
	if !ValidFilter(kind, filter) {
		return nil, fmt.Errorf("subscribe: invalid %v filter %q", kind, filter)
	}
	s := &Subscription{p: p, kind: kind, filter: filter, ch: make(chan Event, p.opts.QueueSize)}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("subscribe: %w", ErrStopped)
	}
	old := *p.subs[kind].Load()
	next := append(slices.Clip(old), s)
	p.subs[kind].Store(&next)
	return s, nil
}

// Events returns the subscription's queue. It is closed when the pipeline
// stops; after Close it is simply no longer fed.
func (s *Subscription) Events() <-chan Event { return s.ch }

// Kind returns the kind of records the subscription receives.
func (s *Subscription) Kind() Kind { return s.kind }

// Filter returns the filter the subscription was made with.
func (s *Subscription) Filter() string { return s.filter }

// Dropped returns how many records this subscriber lost to a full queue.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription. It is safe to call more than once.
func (s *Subscription) Close() {
	if !s.closed.CompareAndSwap(false, true) {
		return
	}
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	old := *p.subs[s.kind].Load()
	i := slices.Index(old, s)
	if i < 0 {
		return
	}
	next := slices.Delete(slices.Clone(old), i, i+1)
	p.subs[s.kind].Store(&next)
}

// lost records one record dropped for s.
func (s *Subscription) lost(p *Pipeline) {
	n := s.dropped.Add(1)
	p.drop(s.kind, DropSubscriberSlow, 1)
	if n == 1 || n%dropWarnEvery == 0 {
		p.log.Warn("subscriber too slow, dropping records", "kind", s.kind.String(), "filter", s.filter,
			"dropped", n, "queueSize", cap(s.ch))
	}
}

// Subscribers returns the number of current subscriptions of kind.
func (p *Pipeline) Subscribers(kind Kind) int {
	if kind < 0 || kind >= numKinds {
		return 0
	}
	return len(*p.subs[kind].Load())
}
