package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path"
	"slices"
	"sync"
	"time"
)

// Source reports the containers of one runtime endpoint.
type Source interface {
	// Name identifies the source, e.g. "containerd:/run/containerd/containerd.sock".
	Name() string
	// Run lists the runtime's containers into sink, then follows its
	// events, reconnecting when the runtime goes away, until ctx ends. It
	// returns nil when ctx ends and an error only when it cannot work at
	// all (a bad configuration).
	Run(ctx context.Context, sink Sink) error
}

// Sink receives what one Source learns. Its methods may be called from any
// goroutine.
type Sink interface {
	// Upsert reports a container with a running task (c.PID set). A new
	// run (another PID or cgroup) replaces the old one; the same run only
	// updates metadata. The Registry fills the cgroup, namespace and start
	// time fields from c.PID when c.CgroupID is zero, and drops c if the
	// process is already gone. c must not be modified afterwards.
	Upsert(c *Container)
	// Remove reports that the task of container id (in runtimeNamespace)
	// ended or the container was deleted.
	Remove(runtimeNamespace, id string, at time.Time)
	// Sync reports the complete set of the source's running containers
	// (after listing them on connect); the others are removed.
	Sync(running []*Container)
}

// EventType says what happened to a container.
type EventType uint8

// Event types.
const (
	// Added: a run of a container began (or was found running).
	Added EventType = iota + 1
	// Updated: a running container's metadata (labels, image) changed.
	Updated
	// Removed: a run ended; its cgroup id no longer identifies it.
	Removed
)

var eventTypeNames = [...]string{Added: "added", Updated: "updated", Removed: "removed"}

func (t EventType) String() string {
	if int(t) < len(eventTypeNames) && eventTypeNames[t] != "" {
		return eventTypeNames[t]
	}
	return fmt.Sprintf("EventType(%d)", uint8(t))
}

// Event is a change to the set of running containers.
type Event struct {
	Type      EventType
	Container *Container
}

// Options configure a Registry.
type Options struct {
	// Sources feed the registry; see the discover package.
	Sources []Source
	// Host reads procfs and cgroupfs; nil means the defaults.
	Host *Host
	// Logger receives connection problems; nil discards them.
	Logger *slog.Logger
}

// Registry holds the running containers of all sources, indexed by cgroup
// v2 id. Its methods are safe for concurrent use.
type Registry struct {
	sources []Source
	host    *Host
	log     *slog.Logger

	mu       sync.RWMutex
	byKey    map[key]*Container
	byCgroup map[uint64]*Container
	byPath   map[string]*Container
	// parents are the cgroup directories containers were seen in: an
	// unknown cgroup there is an unreported container, not the host.
	parents   map[string]struct{}
	hostCache map[uint64]string
	subs      map[*subscriber]struct{}
	changed   chan struct{} // closed and replaced on every change
}

// NewRegistry returns a Registry for opts.
func NewRegistry(opts Options) *Registry {
	r := &Registry{
		sources:   opts.Sources,
		host:      opts.Host,
		log:       opts.Logger,
		byKey:     map[key]*Container{},
		byCgroup:  map[uint64]*Container{},
		byPath:    map[string]*Container{},
		parents:   map[string]struct{}{},
		hostCache: map[uint64]string{},
		subs:      map[*subscriber]struct{}{},
		changed:   make(chan struct{}),
	}
	if r.host == nil {
		r.host = &Host{}
	}
	r.log = DiscardLogger(r.log)
	return r
}

// Host returns the Host the registry reads procfs and cgroupfs with.
func (r *Registry) Host() *Host { return r.host }

// Start runs the sources until ctx ends.
func (r *Registry) Start(ctx context.Context) error {
	if len(r.sources) == 0 {
		<-ctx.Done()
		return nil
	}
	errs := make(chan error, len(r.sources))
	for _, s := range r.sources {
		go func() {
			err := s.Run(ctx, &sink{r: r, source: s.Name()})
			if err != nil && ctx.Err() == nil {
				err = fmt.Errorf("identity source %s: %w", s.Name(), err)
			} else {
				err = nil
			}
			errs <- err
		}()
	}
	var all []error
	for range r.sources {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// Lookup returns the running container whose cgroup v2 id is cgroupID.
func (r *Registry) Lookup(cgroupID uint64) (*Container, bool) {
	r.mu.RLock()
	c, ok := r.byCgroup[cgroupID]
	r.mu.RUnlock()
	return c, ok
}

// LookupPID returns the running container process pid belongs to, by its
// cgroup (a cgroup nested in a container's counts as the container's).
func (r *Registry) LookupPID(pid uint32) (*Container, bool) {
	p, id, err := r.host.CgroupOfPID(pid)
	if err != nil {
		return nil, false
	}
	if c, ok := r.Lookup(id); ok {
		return c, true
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.underLocked(p)
}

// underLocked finds the container whose cgroup contains p.
func (r *Registry) underLocked(p string) (*Container, bool) {
	for ; p != "/" && p != "." && p != ""; p = path.Dir(p) {
		if c, ok := r.byPath[p]; ok {
			return c, true
		}
	}
	return nil, false
}

// Containers returns the running containers, in no particular order.
func (r *Registry) Containers() []*Container {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Collect(maps.Values(r.byKey))
}

// Changed returns a channel closed at the next change of the registry.
func (r *Registry) Changed() <-chan struct{} {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.changed
}

// Subscribe streams events: first Added for every running container, then
// changes as they happen, in order and without loss (the queue is
// unbounded). cancel ends the subscription and closes the channel.
func (r *Registry) Subscribe() (events <-chan Event, cancel func()) {
	s := newSubscriber()
	r.mu.Lock()
	for _, c := range r.byKey {
		s.push(Event{Type: Added, Container: c})
	}
	r.subs[s] = struct{}{}
	r.mu.Unlock()
	go s.run()
	return s.out, func() {
		r.mu.Lock()
		delete(r.subs, s)
		r.mu.Unlock()
		s.stop()
	}
}

// publishLocked queues e to every subscriber and wakes Changed waiters.
func (r *Registry) publishLocked(e Event) {
	for s := range r.subs {
		s.push(e)
	}
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *Registry) addLocked(k key, c *Container) {
	r.byKey[k] = c
	r.byCgroup[c.CgroupID] = c
	if c.CgroupPath != "" {
		r.byPath[c.CgroupPath] = c
		if parent := path.Dir(c.CgroupPath); parent != "/" {
			r.parents[parent] = struct{}{}
		}
	}
	// A cgroup taken for the host's may be this container's, or in it.
	clear(r.hostCache)
	r.publishLocked(Event{Type: Added, Container: c})
}

func (r *Registry) removeLocked(k key, at time.Time) {
	old, ok := r.byKey[k]
	if !ok {
		return
	}
	delete(r.byKey, k)
	if r.byCgroup[old.CgroupID] == old {
		delete(r.byCgroup, old.CgroupID)
	}
	if r.byPath[old.CgroupPath] == old {
		delete(r.byPath, old.CgroupPath)
	}
	gone := *old
	if gone.StoppedAt.IsZero() {
		gone.StoppedAt = at
	}
	r.publishLocked(Event{Type: Removed, Container: &gone})
}

func (r *Registry) upsert(source string, c *Container) {
	if c.CgroupID == 0 {
		if c.PID == 0 {
			return
		}
		filled := *c
		if err := r.host.Fill(&filled); err != nil {
			r.log.Debug("container process gone", "source", source, "container", c.ID, "error", err)
			return
		}
		c = &filled
	}
	k := c.key(source)
	r.mu.Lock()
	defer r.mu.Unlock()
	old, ok := r.byKey[k]
	switch {
	case ok && sameRun(old, c):
		if old.StartedAt.Equal(c.StartedAt) && maps.Equal(old.Labels, c.Labels) &&
			maps.Equal(old.PodLabels, c.PodLabels) && old.Image == c.Image && old.ImageDigest == c.ImageDigest && old.Name == c.Name {
			return
		}
		r.byKey[k], r.byCgroup[c.CgroupID] = c, c
		if c.CgroupPath != "" {
			r.byPath[c.CgroupPath] = c
		}
		r.publishLocked(Event{Type: Updated, Container: c})
	case ok:
		r.removeLocked(k, c.StartedAt)
		r.addLocked(k, c)
	default:
		if other, taken := r.byCgroup[c.CgroupID]; taken {
			// A stale run whose exit was missed holds the cgroup id.
			for ok2, ov := range r.byKey {
				if ov == other {
					r.removeLocked(ok2, c.StartedAt)
					break
				}
			}
		}
		r.addLocked(k, c)
	}
}

// sink binds a Source to the Registry.
type sink struct {
	r      *Registry
	source string
}

func (s *sink) Upsert(c *Container) { s.r.upsert(s.source, c) }

func (s *sink) Remove(ns, id string, at time.Time) {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	s.r.removeLocked(key{source: s.source, ns: ns, id: id}, at)
}

func (s *sink) Sync(running []*Container) {
	live := map[key]bool{}
	for _, c := range running {
		s.Upsert(c)
		live[c.key(s.source)] = true
	}
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	now := time.Now()
	for k := range s.r.byKey {
		if k.source == s.source && !live[k] {
			s.r.removeLocked(k, now)
		}
	}
}

// subscriber is an unbounded, ordered event queue drained into out.
type subscriber struct {
	mu    sync.Mutex
	queue []Event
	wake  chan struct{}
	done  chan struct{}
	out   chan Event
	once  sync.Once
}

func newSubscriber() *subscriber {
	return &subscriber{wake: make(chan struct{}, 1), done: make(chan struct{}), out: make(chan Event)}
}

func (s *subscriber) push(e Event) {
	s.mu.Lock()
	s.queue = append(s.queue, e)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscriber) run() {
	defer close(s.out)
	for {
		s.mu.Lock()
		q := s.queue
		s.queue = nil
		s.mu.Unlock()
		for _, e := range q {
			select {
			case s.out <- e:
			case <-s.done:
				return
			}
		}
		select {
		case <-s.wake:
		case <-s.done:
			return
		}
	}
}

func (s *subscriber) stop() { s.once.Do(func() { close(s.done) }) }
