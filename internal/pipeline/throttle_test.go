package pipeline

import (
	"testing"
	"time"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
)

// step is one alert offered to the throttler at a time offset.
type step struct {
	at time.Duration
	a  *feeder.Alert
}

type outcome struct {
	delivered []*feeder.Alert
	notices   []*feeder.Alert
	dropped   int
}

func offer(th *throttler, base time.Time, steps []step) outcome {
	var o outcome
	for _, s := range steps {
		ok, n := th.allow(s.a, base.Add(s.at))
		o.notices = append(o.notices, n...)
		if ok {
			o.delivered = append(o.delivered, s.a)
		} else {
			o.dropped++
		}
	}
	return o
}

// expectAllow checks one throttling decision.
func expectAllow(t *testing.T, th *throttler, a *feeder.Alert, at time.Time, want bool, what string) {
	t.Helper()
	if ok, _ := th.allow(a, at); ok != want {
		t.Errorf("%s: delivered = %v, want %v", what, ok, want)
	}
}

func defaultThrottler() *throttler {
	o, _ := Options{}.withDefaults()
	return newThrottler(o.Throttle)
}

func burst(n int, start, every time.Duration, mk func(i int) *feeder.Alert) []step {
	s := make([]step, n)
	for i := range s {
		s[i] = step{start + time.Duration(i)*every, mk(i)}
	}
	return s
}

func TestThrottleNoisyRuleIsMutedAlone(t *testing.T) {
	th := defaultThrottler()
	base := newFakeClock().Now()
	noisy := func(int) *feeder.Alert { return alert("c1", "audit-etc", "Audit", "File") }
	o := offer(th, base, burst(20, 0, 10*time.Millisecond, noisy))
	if len(o.delivered) != 10 || o.dropped != 10 {
		t.Fatalf("noisy rule: delivered %d, dropped %d; want 10, 10", len(o.delivered), o.dropped)
	}
	if len(o.notices) != 1 {
		t.Fatalf("notices = %d, want 1", len(o.notices))
	}
	n := o.notices[0]
	if n.Type != "SystemEvent" || n.Operation != "AlertThreshold" || n.MaxAlertsPerSec != 10 ||
		n.DroppingAlertsInterval != 30 || n.PolicyName != "audit-etc" || n.ContainerID != "c1" {
		t.Errorf("rule notice = %v", n)
	}

	// In the next second the workload's other rules flow: the muted rule's
	// alerts did not use up the workload budget.
	other := func(int) *feeder.Alert { return alert("c1", "audit-proc", "Audit", "Process") }
	o = offer(th, base, append(burst(5, 1500*time.Millisecond, 10*time.Millisecond, noisy),
		burst(8, 1600*time.Millisecond, 10*time.Millisecond, other)...))
	if len(o.delivered) != 8 || o.dropped != 5 || len(o.notices) != 0 {
		t.Errorf("after mute: delivered %d, dropped %d, notices %d; want 8, 5, 0", len(o.delivered), o.dropped, len(o.notices))
	}

	// Another container is never affected.
	expectAllow(t, th, alert("c2", "audit-etc", "Audit", "File"), base.Add(100*time.Millisecond), true, "alert of another container was throttled")
	// After ThrottleSec the rule is heard again.
	expectAllow(t, th, noisy(0), base.Add(31*time.Second), true, "rule still muted after throttleSec")
}

func TestThrottleWorkloadAsUpstream(t *testing.T) {
	th := defaultThrottler()
	base := newFakeClock().Now()
	policies := []string{"p0", "p1", "p2", "p3", "p4"}
	// Five rules, three alerts each, round robin, within one second: each
	// rule stays under its budget but the container passes 10/s.
	o := offer(th, base, burst(15, 0, time.Millisecond, func(i int) *feeder.Alert {
		return alert("c1", policies[i%5], "Audit", "File")
	}))
	if len(o.delivered) != 10 || o.dropped != 5 {
		t.Fatalf("delivered %d, dropped %d; want 10, 5", len(o.delivered), o.dropped)
	}
	if len(o.notices) != 1 || o.notices[0].PolicyName != "" || o.notices[0].Operation != "AlertThreshold" ||
		o.notices[0].ContainerID != "c1" || o.notices[0].ContainerName != "c-c1" {
		t.Fatalf("want one workload notice, got %v", o.notices)
	}
	// Host alerts are their own workload.
	h := alert("", "host-policy", "Audit", "File")
	h.HostName = "node1"
	expectAllow(t, th, h, base.Add(20*time.Millisecond), true, "host alert throttled by a container's budget")
	// Muted for 30 s, then back.
	expectAllow(t, th, alert("c1", "p1", "Audit", "File"), base.Add(29*time.Second), false, "workload not muted for throttleSec")
	expectAllow(t, th, alert("c1", "p1", "Audit", "File"), base.Add(31*time.Second), true, "workload still muted after throttleSec")
}

func TestThrottleNeverHidesFirstBlock(t *testing.T) {
	th := defaultThrottler()
	base := newFakeClock().Now()
	// A noisy default-posture Audit flood...
	steps := burst(50, 0, time.Millisecond, func(int) *feeder.Alert {
		return alert("c1", "DefaultPosture", "Audit", "File")
	})
	// ...does not hide the first Block of the same rule key,
	steps = append(steps, step{100 * time.Millisecond, alert("c1", "DefaultPosture", "Block", "File")})
	// nor the first Block of another rule, while the container is muted.
	steps = append(steps, step{200 * time.Millisecond, alert("c1", "block-shadow", "Block", "File")})
	o := offer(th, base, steps)
	var blocks []string
	for _, a := range o.delivered {
		if a.Action == "Block" {
			blocks = append(blocks, a.PolicyName)
		}
	}
	if len(blocks) != 2 {
		t.Fatalf("delivered Blocks = %v, want both first Blocks", blocks)
	}
	// Later Blocks of those rules are throttled until the interval passes.
	expectAllow(t, th, alert("c1", "DefaultPosture", "Block", "File"), base.Add(300*time.Millisecond), false, "second Block of a muted rule delivered")
	expectAllow(t, th, alert("c1", "block-shadow", "Block", "File"), base.Add(400*time.Millisecond), false, "second Block in a muted container delivered")
	expectAllow(t, th, alert("c1", "block-shadow", "Block", "File"), base.Add(31*time.Second), true, "Block not delivered after the throttle interval")
}

func TestThrottleSweepForgetsIdleState(t *testing.T) {
	th := defaultThrottler()
	base := newFakeClock().Now()
	offer(th, base, burst(30, 0, time.Millisecond, func(i int) *feeder.Alert {
		return alert("c1", "p", "Audit", "File")
	}))
	if len(th.workloads) == 0 || len(th.rules) == 0 {
		t.Fatal("no state recorded")
	}
	th.allow(alert("c2", "p", "Audit", "File"), base.Add(2*time.Minute))
	if len(th.workloads) != 1 || len(th.rules) != 1 {
		t.Errorf("after sweep: %d workloads, %d rules; want only c2's", len(th.workloads), len(th.rules))
	}
}
