package identity

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeSource hands its sink to the test.
type fakeSource struct{ sinks chan Sink }

func (f *fakeSource) Name() string { return "fake" }

func (f *fakeSource) Run(ctx context.Context, s Sink) error {
	f.sinks <- s
	<-ctx.Done()
	return nil
}

func startFake(t *testing.T) (*Registry, Sink) {
	t.Helper()
	src := &fakeSource{sinks: make(chan Sink, 1)}
	r := NewRegistry(Options{Sources: []Source{src}})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- r.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return r, <-src.sinks
}

func run(id string, cgroupID uint64, pid uint32) *Container {
	c := &Container{ID: id, RuntimeNamespace: "ns", CgroupID: cgroupID, CgroupPath: "/ns/" + id, PID: pid, Labels: map[string]string{"v": "1"}}
	c.FillFromLabels()
	return c
}

// receive returns the next value from ch, failing after 5 s.
func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received")
		panic("unreachable")
	}
}

func next(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	return receive(t, ch)
}

func TestRegistryEvents(t *testing.T) {
	r, sink := startFake(t)
	sink.Upsert(run("a", 100, 10))
	events, cancel := r.Subscribe()
	defer cancel()
	if e := next(t, events); e.Type != Added || e.Container.ID != "a" {
		t.Fatalf("replay: %v %+v", e.Type, e.Container)
	}

	t.Run("the same run with new labels is Updated", func(t *testing.T) {
		c := run("a", 100, 10)
		c.Labels = map[string]string{"v": "2"}
		sink.Upsert(c)
		sink.Upsert(c) // no change, no event
		if e := next(t, events); e.Type != Updated || e.Container.Labels["v"] != "2" {
			t.Fatalf("%v %+v", e.Type, e.Container)
		}
	})
	t.Run("a new run replaces the old one", func(t *testing.T) {
		sink.Upsert(run("a", 101, 11))
		if e := next(t, events); e.Type != Removed || e.Container.CgroupID != 100 {
			t.Fatalf("%v %+v", e.Type, e.Container)
		}
		if e := next(t, events); e.Type != Added || e.Container.CgroupID != 101 {
			t.Fatalf("%v %+v", e.Type, e.Container)
		}
		if _, ok := r.Lookup(100); ok {
			t.Error("old cgroup id still resolves")
		}
	})
	t.Run("a reused cgroup id goes to the newest container", func(t *testing.T) {
		sink.Upsert(run("b", 101, 12)) // a's exit was missed
		if e := next(t, events); e.Type != Removed || e.Container.ID != "a" {
			t.Fatalf("%v %+v", e.Type, e.Container)
		}
		if e := next(t, events); e.Type != Added || e.Container.ID != "b" {
			t.Fatalf("%v %+v", e.Type, e.Container)
		}
		if c, ok := r.Lookup(101); !ok || c.ID != "b" {
			t.Errorf("Lookup(101) = %+v", c)
		}
	})
	t.Run("Remove and Sync remove", func(t *testing.T) {
		sink.Upsert(run("c", 102, 13))
		next(t, events)
		at := time.Unix(1700000000, 0)
		sink.Remove("ns", "b", at)
		if e := next(t, events); e.Type != Removed || e.Container.ID != "b" || !e.Container.StoppedAt.Equal(at) {
			t.Fatalf("%v %+v", e.Type, e.Container)
		}
		sink.Sync(nil)
		if e := next(t, events); e.Type != Removed || e.Container.ID != "c" {
			t.Fatalf("%v %+v", e.Type, e.Container)
		}
		if n := len(r.Containers()); n != 0 {
			t.Errorf("%d containers left", n)
		}
	})
}

// mkCgroup makes a cgroup (and its parents) below the v2 root, removed at
// the end of the test, and returns its id.
func mkCgroup(t *testing.T, h *Host, rel string) uint64 {
	t.Helper()
	root, err := h.Root()
	if err != nil {
		t.Fatal(err)
	}
	var made []string
	for p := rel; p != "/"; p = filepath.Dir(p) {
		made = append(made, filepath.Join(root, p))
	}
	for i := len(made) - 1; i >= 0; i-- {
		if err := unix.Mkdir(made[i], 0o755); err != nil && err != unix.EEXIST {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, d := range made {
			_ = unix.Rmdir(d)
		}
	})
	id, err := h.CgroupID(rel)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type out struct {
	item string
	res  Resolution
}

func startPending(t *testing.T, r *Registry, opts PendingOptions) (*Pending[string], chan out) {
	ch := make(chan out, 100)
	p := NewPending(r, opts, func(item string, res Resolution) { ch <- out{item, res} })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return p, ch
}

func recv(t *testing.T, ch chan out) out {
	t.Helper()
	return receive[out](t, ch)
}

func TestPendingHostEventsAreNotHeld(t *testing.T) {
	r, _ := startFake(t)
	p, ch := startPending(t, r, PendingOptions{MaxWait: time.Minute})
	root := mkCgroup(t, r.Host(), "/")
	svc := mkCgroup(t, r.Host(), "/bwid-host-"+randomHex(4)+"/svc.service")
	for _, id := range []uint64{root, svc} {
		p.Submit(id, "x")
		if o := recv(t, ch); o.res.Status != StatusHost || o.res.Container != nil {
			t.Errorf("cgroup %d: %+v", id, o.res)
		}
	}
}

func TestPendingExpiresWithThePathDerivedID(t *testing.T) {
	r, _ := startFake(t)
	p, ch := startPending(t, r, PendingOptions{MaxWait: 300 * time.Millisecond})
	id := randomHex(32)
	cg := mkCgroup(t, r.Host(), "/bwid-orphan-"+randomHex(4)+"/"+id)
	start := time.Now()
	p.Submit(cg, "first")
	p.Submit(cg, "second")
	for _, want := range []string{"first", "second"} {
		o := recv(t, ch)
		if o.item != want || o.res.Status != StatusUnknown || !o.res.Expired || o.res.ContainerID != id {
			t.Errorf("emitted %q %+v, want %q expired with id %s", o.item, o.res, want, id)
		}
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("emitted after %v, before MaxWait", d)
	}
	// The cgroup gave up: later events are not held again.
	p.Submit(cg, "third")
	if o := recv(t, ch); o.item != "third" || !o.res.Expired {
		t.Errorf("third: %+v", o)
	}
	if s := p.Stats(); s.Held != 2 || s.Expired != 2 || s.Immediate != 1 || s.Waiting != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestPendingEnrichesInOrderAndBoundsTheQueue(t *testing.T) {
	r, sink := startFake(t)
	p, ch := startPending(t, r, PendingOptions{MaxWait: time.Minute, MaxHeld: 3})
	parent := "/bwid-pend-" + randomHex(4)
	a, b := randomHex(32), randomHex(32)
	cgA := mkCgroup(t, r.Host(), parent+"/"+a)
	cgB := mkCgroup(t, r.Host(), parent+"/"+b)
	p.Submit(cgA, "a1")
	p.Submit(cgB, "b1")
	p.Submit(cgA, "a2")
	p.Submit(cgA, "a3") // full: a1 goes out unresolved
	if o := recv(t, ch); o.item != "a1" || o.res.Status != StatusUnknown || o.res.ContainerID != a {
		t.Fatalf("overflow: %+v", o)
	}
	c := &Container{ID: a, RuntimeNamespace: "ns", CgroupID: cgA, CgroupPath: parent + "/" + a, PID: 1}
	sink.Upsert(c)
	for _, want := range []string{"a2", "a3"} {
		if o := recv(t, ch); o.item != want || o.res.Container == nil || o.res.Container.ID != a {
			t.Fatalf("got %+v, want %s enriched", o, want)
		}
	}
	if s := p.Stats(); s.Overflowed != 1 || s.Enriched != 2 || s.Waiting != 1 {
		t.Errorf("stats %+v", s)
	}

	t.Run("a cgroup nested in a container's is the container's", func(t *testing.T) {
		nested := mkCgroup(t, r.Host(), parent+"/"+a+"/inner")
		p.Submit(nested, "n")
		if o := recv(t, ch); o.res.Status != StatusContainer || o.res.Container.ID != a {
			t.Errorf("%+v", o)
		}
	})
}
