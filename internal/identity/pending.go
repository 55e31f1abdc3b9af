package identity

import (
	"context"
	"slices"
	"sync"
	"time"
)

// PendingOptions configure a Pending queue.
type PendingOptions struct {
	// MaxWait is how long an event waits for its container; zero means
	// 10 s (KubeArmor replays an event for up to 10 s).
	MaxWait time.Duration
	// MaxHeld bounds the events held at once; zero means 4096. When full,
	// the oldest held event is emitted unresolved.
	MaxHeld int
	// MaxGivenUp bounds the remembered cgroups whose container never
	// appeared (their later events are emitted at once); zero means 1024.
	MaxGivenUp int
}

func (o PendingOptions) withDefaults() PendingOptions {
	if o.MaxWait <= 0 {
		o.MaxWait = 10 * time.Second
	}
	if o.MaxHeld <= 0 {
		o.MaxHeld = 4096
	}
	if o.MaxGivenUp <= 0 {
		o.MaxGivenUp = 1024
	}
	return o
}

// PendingStats count what a Pending queue did.
type PendingStats struct {
	// Immediate events were resolved on submission.
	Immediate uint64
	// Held events waited; Enriched of them got their container, Expired
	// timed out and Overflowed were pushed out by MaxHeld.
	Held, Enriched, Expired, Overflowed uint64
	// Waiting is the number of events held now.
	Waiting int
}

type heldItem[T any] struct {
	cgroupID uint64
	res      Resolution
	item     T
	deadline time.Time
}

// Pending attributes events to containers, holding events of unknown
// container cgroups until the runtime reports the container. Events of one
// cgroup are emitted in submission order.
type Pending[T any] struct {
	r    *Registry
	opts PendingOptions
	emit func(T, Resolution)

	mu      sync.Mutex
	held    []*heldItem[T] // in submission order
	byGroup map[uint64][]*heldItem[T]
	givenUp map[uint64]Resolution
	stats   PendingStats
	wake    chan struct{}
}

// NewPending returns a queue that emits each submitted event with its
// Resolution. emit is called from Submit's goroutine when the event
// resolves at once, otherwise from Run's; calls never overlap.
func NewPending[T any](r *Registry, opts PendingOptions, emit func(T, Resolution)) *Pending[T] {
	return &Pending[T]{
		r: r, opts: opts.withDefaults(), emit: emit,
		byGroup: map[uint64][]*heldItem[T]{},
		givenUp: map[uint64]Resolution{},
		wake:    make(chan struct{}, 1),
	}
}

// Submit resolves the event's cgroup and emits it, or holds it.
func (p *Pending[T]) Submit(cgroupID uint64, item T) {
	// Fast path: a known container and nothing of its cgroup held.
	if c, ok := p.r.Lookup(cgroupID); ok {
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(p.byGroup[cgroupID]) == 0 {
			p.stats.Immediate++
			p.emit(item, Resolution{Status: StatusContainer, Container: c, ContainerID: c.ID, CgroupPath: c.CgroupPath})
			return
		}
		p.holdLocked(cgroupID, Resolution{Status: StatusUnknown}, item)
		p.flushLocked(cgroupID, c)
		return
	}
	p.mu.Lock()
	if len(p.byGroup[cgroupID]) > 0 {
		p.holdLocked(cgroupID, p.byGroup[cgroupID][0].res, item)
		p.mu.Unlock()
		return
	}
	if res, ok := p.givenUp[cgroupID]; ok {
		p.stats.Immediate++
		p.emit(item, res)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()

	res := p.r.Resolve(cgroupID)
	p.mu.Lock()
	defer p.mu.Unlock()
	if res.Status != StatusUnknown {
		p.stats.Immediate++
		p.emit(item, res)
		return
	}
	p.holdLocked(cgroupID, res, item)
	// The container may have been added since Lookup, before Run saw the
	// event: check again now that the item is visible to Run.
	if c, ok := p.r.Lookup(cgroupID); ok {
		p.flushLocked(cgroupID, c)
	}
}

func (p *Pending[T]) holdLocked(cgroupID uint64, res Resolution, item T) {
	if len(p.held) >= p.opts.MaxHeld {
		// The oldest held event is the first of its cgroup's.
		oldest := p.held[0]
		p.held = p.held[1:]
		if g := p.byGroup[oldest.cgroupID][1:]; len(g) > 0 {
			p.byGroup[oldest.cgroupID] = g
		} else {
			delete(p.byGroup, oldest.cgroupID)
		}
		p.stats.Overflowed++
		p.emit(oldest.item, oldest.res)
	}
	h := &heldItem[T]{cgroupID: cgroupID, res: res, item: item, deadline: time.Now().Add(p.opts.MaxWait)}
	p.held = append(p.held, h)
	p.byGroup[cgroupID] = append(p.byGroup[cgroupID], h)
	p.stats.Held++
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// takeLocked removes the events held for cgroupID from the queue and
// returns them in order.
func (p *Pending[T]) takeLocked(cgroupID uint64) []*heldItem[T] {
	g := p.byGroup[cgroupID]
	if len(g) == 0 {
		return nil
	}
	delete(p.byGroup, cgroupID)
	p.held = slices.DeleteFunc(p.held, func(h *heldItem[T]) bool { return h.cgroupID == cgroupID })
	return g
}

// flushLocked emits, in order, the events held for cgroupID, enriched with c.
func (p *Pending[T]) flushLocked(cgroupID uint64, c *Container) {
	delete(p.givenUp, cgroupID)
	res := Resolution{Status: StatusContainer, Container: c, ContainerID: c.ID, CgroupPath: c.CgroupPath}
	for _, h := range p.takeLocked(cgroupID) {
		p.stats.Enriched++
		p.emit(h.item, res)
	}
}

// Run flushes held events as their containers are added and expires the
// others, until ctx ends; then it emits what is left, unresolved.
func (p *Pending[T]) Run(ctx context.Context) error {
	events, cancel := p.r.Subscribe()
	defer cancel()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		p.mu.Lock()
		now := time.Now()
		for len(p.held) > 0 && !p.held[0].deadline.After(now) {
			p.expireLocked(p.held[0].cgroupID)
		}
		next := time.Hour
		if len(p.held) > 0 {
			next = p.held[0].deadline.Sub(now)
		}
		p.mu.Unlock()
		timer.Reset(next)

		select {
		case <-ctx.Done():
			p.mu.Lock()
			for len(p.held) > 0 {
				p.expireLocked(p.held[0].cgroupID)
			}
			p.mu.Unlock()
			return nil
		case e, ok := <-events:
			if !ok {
				return nil
			}
			if e.Type == Added || e.Type == Updated {
				p.mu.Lock()
				p.flushLocked(e.Container.CgroupID, e.Container)
				p.mu.Unlock()
			}
		case <-p.wake:
		case <-timer.C:
		}
	}
}

// expireLocked gives up on cgroupID: its held events are emitted with the
// path-derived id, and later ones go out at once.
func (p *Pending[T]) expireLocked(cgroupID uint64) {
	g := p.takeLocked(cgroupID)
	if len(g) == 0 {
		return
	}
	res := g[0].res
	res.Expired = true
	if len(p.givenUp) >= p.opts.MaxGivenUp {
		clear(p.givenUp)
	}
	p.givenUp[cgroupID] = res
	for _, h := range g {
		p.stats.Expired++
		p.emit(h.item, res)
	}
}

// Forget drops what the queue remembers about a cgroup that gave up, so
// its next events wait again (call it when the cgroup is reused).
func (p *Pending[T]) Forget(cgroupID uint64) {
	p.mu.Lock()
	delete(p.givenUp, cgroupID)
	p.mu.Unlock()
}

// Stats returns the counters.
func (p *Pending[T]) Stats() PendingStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Waiting = len(p.held)
	return s
}
