//go:build vmguest

package bpflsm

import (
	"os"
	"testing"
	"time"

	"github.com/bulwark-security/bulwark/internal/engine"
	"github.com/bulwark-security/bulwark/internal/policy"
	"github.com/bulwark-security/bulwark/test/vm/guest"
)

// startNoise runs op repeatedly in a helper in cg until the test ends.
func (l *lab) startNoise(t *testing.T, cg *guest.Cgroup, op string) (stop func()) {
	t.Helper()
	cmd := cg.Command(l.self)
	cmd.Env = append(os.Environ(), helperEnv+"=noise "+op)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			in.Close()
			if err := cmd.Wait(); err != nil {
				t.Errorf("noise helper: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return stop
}

func (l *lab) counters(t *testing.T) Counters {
	t.Helper()
	c, err := l.e.Counters()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// throttleStats are what underNoise saw of the noise.
type throttleStats struct {
	noiseEvents int    // noise events delivered
	maxDropped  uint32 // largest drop count a noise event carried
}

func (s *throttleStats) see(r *rec, isNoise func(*rec) bool) {
	if isNoise(r) {
		s.noiseEvents++
		s.maxDropped = max(s.maxDropped, r.Dropped)
	}
}

// underNoise makes noise (an operation whose non-Block event is isNoise)
// fire continuously in cg until the kernel throttles it per rule and per
// workload; then block, done by another helper in cg, must fail with EPERM
// and its Block event (isBlock) must still be delivered. The noise goes on
// for more than a throttle window after that (a window's first noise event
// may carry the drop count).
func (l *lab) underNoise(t *testing.T, cg *guest.Cgroup, noise, block string, isNoise, isBlock func(*rec) bool) (*rec, throttleStats) {
	t.Helper()
	id := WorkloadID(cg.ID)
	var st throttleStats
	c0 := l.counters(t)
	stop := l.startNoise(t, cg, noise)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := l.counters(t)
		if c.ThrottledRule > c0.ThrottledRule && c.ThrottledWorkload > c0.ThrottledWorkload {
			t.Logf("noise throttled: %d decisions, +%d events, +%d dropped per rule, +%d per workload",
				c.Decisions-c0.Decisions, c.Events-c0.Events, c.ThrottledRule-c0.ThrottledRule, c.ThrottledWorkload-c0.ThrottledWorkload)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("noise %q not throttled per rule and per workload: counters %+v, before %+v", noise, c, c0)
		}
		l.drainInto(id, time.Now().Add(20*time.Millisecond), func(r *rec) { st.see(r, isNoise) })
	}
	saturated := time.Now()
	cb := l.counters(t)
	if got := l.helper(t, cg, false, block); got != eperm {
		t.Errorf("%s under noise: errno %d, want EPERM", block, got)
	}
	got := l.expect(t, id, "Block under noise: "+block, func(r *rec) bool {
		st.see(r, isNoise)
		return isBlock(r)
	})
	if ca := l.counters(t); ca.ThrottledRule <= cb.ThrottledRule {
		t.Errorf("noise no longer throttled while %s was decided: counters %+v, before %+v", block, ca, cb)
	}
	for time.Since(saturated) < 1500*time.Millisecond {
		l.drainInto(id, time.Now().Add(50*time.Millisecond), func(r *rec) { st.see(r, isNoise) })
	}
	stop()
	// Events written without a wake-up arrive within the flush interval.
	l.drainInto(id, time.Now().Add(time.Second), func(r *rec) { st.see(r, isNoise) })
	c1 := l.counters(t)
	t.Logf("counters %+v (before the noise %+v); %d noise events delivered, largest drop count %d", c1, c0, st.noiseEvents, st.maxDropped)
	if c1.ThrottledRule <= c0.ThrottledRule || c1.ThrottledWorkload <= c0.ThrottledWorkload {
		t.Errorf("throttled counters did not increase: %+v, before %+v", c1, c0)
	}
	if st.noiseEvents == 0 {
		t.Errorf("no noise event delivered at all")
	}
	// Throttled events are not forgotten: a later event of the rule says
	// how many were dropped before it, whichever budget dropped them.
	if st.maxDropped == 0 {
		t.Errorf("no delivered noise event carried a drop count")
	}
	return got, st
}

// drainInto passes the events of workload id to f until the deadline.
func (l *lab) drainInto(id WorkloadID, until time.Time, f func(*rec)) {
	timer := time.NewTimer(time.Until(until))
	defer timer.Stop()
	for {
		select {
		case r, ok := <-l.events:
			if !ok {
				return
			}
			if r.Workload == id {
				f(&r)
			}
		case <-timer.C:
			return
		}
	}
}

// TestThrottling: with throttling on, a noisy Audit rule firing thousands of
// times per second is throttled (per rule and per workload, counted), and
// a Block, of another rule or of the same rule, is still reported.
func TestThrottling(t *testing.T) {
	const rulePerSec, workloadPerSec = 40, 10 // the workload bucket drops before the rule bucket
	l := ownLab(t, Options{RuleEventsPerSecond: rulePerSec, WorkloadEventsPerSecond: workloadPerSec,
		MaxRuleEntries: 4096, MaxDFARows: 256, RingBufferBytes: 1 << 20})
	dir := guest.SharedTempDir(t)
	noisy := mkfile(t, dir+"/noisy", false)
	secret := mkfile(t, dir+"/secret", false)
	allowed := mkfile(t, dir+"/allowed", false)

	t.Run("Block of another rule", func(t *testing.T) {
		cg := guest.NewCgroup(t)
		spec := l.apply(t, WorkloadID(cg.ID), engine.Workload{},
			pol("noisy", policy.Rule{Class: policy.ClassFile, Matcher: policy.MatchPath, Path: noisy, Action: policy.ActionAudit}),
			pol("secret", policy.Rule{Class: policy.ClassFile, Matcher: policy.MatchPath, Path: secret, Action: policy.ActionBlock}))
		r, _ := l.underNoise(t, cg, "open "+noisy, "open "+secret,
			func(r *rec) bool { return r.path == noisy && r.Action == ActionAudit },
			func(r *rec) bool { return r.path == secret })
		checkAlert(t, r, spec, wantAlert{Action: "Block", PolicyName: "secret", Operation: "File", Resource: secret, Data: dataOpn, Result: denied})
	})

	// The default posture is one rule (0): Audit for files (allow-list,
	// audit posture), Block for the network (allow-list, block posture).
	// Its noisy Audit events do not hide its Block.
	t.Run("Block of the same rule", func(t *testing.T) {
		cg := guest.NewCgroup(t)
		spec := l.apply(t, WorkloadID(cg.ID), engine.Workload{Postures: engine.Postures{File: engine.PostureAudit, Network: engine.PostureBlock}},
			pol("allow-list",
				policy.Rule{Class: policy.ClassFile, Matcher: policy.MatchPath, Path: allowed, Action: policy.ActionAllow},
				policy.Rule{Class: policy.ClassNetwork, Matcher: policy.MatchProtocol, Protocol: "tcp", Action: policy.ActionAllow}))
		r, _ := l.underNoise(t, cg, "open "+noisy, "socket udp",
			func(r *rec) bool { return r.Rule == 0 && r.Action == ActionAudit },
			func(r *rec) bool { return r.Hook == HookSocketCreate })
		if r.Rule != 0 || r.Action != ActionBlock {
			t.Errorf("socket udp: %s rule %d, want Block by the default posture", r.Action.Engine(), r.Rule)
		}
		checkAlert(t, r, spec, wantAlert{Action: "Block", PolicyName: engine.DefaultPosturePolicyName, Operation: "Network", Data: "lsm=SOCKET_CREATE", Result: denied})
	})
}

// TestBatchedWakeups: an event other than Block is written without waking
// the reader until WakeupBytes are pending, so only the reader's polling at
// FlushInterval bounds its latency; a Block wakes the reader at once.
func TestBatchedWakeups(t *testing.T) {
	const flush = 200 * time.Millisecond
	bound := 10 * flush // generous for TCG: without the polling it never arrives
	dir := guest.SharedTempDir(t)
	audited := mkfile(t, dir+"/audited", false)
	secret := mkfile(t, dir+"/secret", false)
	policies := []*policy.Policy{
		pol("audit", policy.Rule{Class: policy.ClassFile, Matcher: policy.MatchPath, Path: audited, Action: policy.ActionAudit}),
		pol("block", policy.Rule{Class: policy.ClassFile, Matcher: policy.MatchPath, Path: secret, Action: policy.ActionBlock}),
	}
	opts := func(flush time.Duration) Options {
		return Options{WakeupBytes: 1 << 20, FlushInterval: flush, RuleEventsPerSecond: -1, WorkloadEventsPerSecond: -1,
			MaxRuleEntries: 4096, MaxDFARows: 256, RingBufferBytes: 1 << 22}
	}
	isAudit := func(r *rec) bool { return r.path == audited && r.Action == ActionAudit }

	t.Run("FlushInterval bounds the latency", func(t *testing.T) {
		l := ownLab(t, opts(flush))
		cg := guest.NewCgroup(t)
		id := WorkloadID(cg.ID)
		l.apply(t, id, engine.Workload{}, policies...)
		for i := range 3 {
			if got := l.helper(t, cg, false, "open "+audited); got != 0 {
				t.Fatalf("open %s: errno %d", audited, got)
			}
			done := time.Now()
			l.expectWithin(t, id, bound, "Audit event with FlushInterval "+flush.String(), isAudit)
			t.Logf("Audit event %d arrived %v after the open (FlushInterval %v)", i, time.Since(done).Round(time.Millisecond), flush)
		}
	})

	// The control: with a FlushInterval of an hour, the same Audit event
	// does not arrive within the bound (so it was batched), until a Block
	// wakes the reader.
	t.Run("only a Block wakes the reader", func(t *testing.T) {
		l := ownLab(t, opts(time.Hour))
		cg := guest.NewCgroup(t)
		id := WorkloadID(cg.ID)
		l.apply(t, id, engine.Workload{}, policies...)
		if got := l.helper(t, cg, false, "open "+audited); got != 0 {
			t.Fatalf("open %s: errno %d", audited, got)
		}
		l.drainInto(id, time.Now().Add(bound), func(r *rec) {
			t.Errorf("event without a wake-up or a flush: %s %q (batching off?)", r.Action.Engine(), r.path)
		})
		if got := l.helper(t, cg, false, "open "+secret); got != eperm {
			t.Fatalf("open %s: errno %d, want EPERM", secret, got)
		}
		done := time.Now()
		l.expectWithin(t, id, bound, "batched Audit event after a Block", isAudit)
		l.expectWithin(t, id, bound, "Block event", func(r *rec) bool { return r.path == secret && r.Action == ActionBlock })
		t.Logf("Audit and Block events arrived %v after the Block", time.Since(done).Round(time.Millisecond))
	})
}
