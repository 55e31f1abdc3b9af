package pipeline

import (
	"fmt"
	"time"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
)

// Alert types and operations the pipeline itself uses.
const (
	TypeSystemEvent         = "SystemEvent"
	OperationAlertThreshold = "AlertThreshold"
	actionBlock             = "Block"
)

// budget is a one-second counting window and a mute deadline, the state
// upstream's throttling.h keeps per container.
type budget struct {
	windowStart time.Time
	count       int
	mutedUntil  time.Time
	lastSeen    time.Time
}

// roll expires the mute and starts a new window when a second has passed.
func (b *budget) roll(now time.Time) {
	if !b.mutedUntil.IsZero() && !now.Before(b.mutedUntil) {
		b.mutedUntil = time.Time{}
		b.count = 0
		b.windowStart = now
	}
	if now.Sub(b.windowStart) >= time.Second {
		b.windowStart = now
		b.count = 0
	}
	b.lastSeen = now
}

func (b *budget) muted() bool { return !b.mutedUntil.IsZero() }

type ruleState struct {
	budget
	lastPass  time.Time // last alert of the rule delivered
	lastBlock time.Time // last Block alert of the rule delivered
}

type ruleID struct{ workload, rule string }

// throttler decides which alerts to deliver. It is used by the dispatcher
// goroutine only.
type throttler struct {
	max       int
	interval  time.Duration
	ruleKey   func(*feeder.Alert) string
	workloads map[string]*budget
	rules     map[ruleID]*ruleState
	lastSweep time.Time
}

func newThrottler(o ThrottleOptions) *throttler {
	return &throttler{
		max:       o.MaxAlertsPerSec,
		interval:  time.Duration(o.ThrottleSec) * time.Second,
		ruleKey:   o.RuleKey,
		workloads: make(map[string]*budget),
		rules:     make(map[ruleID]*ruleState),
	}
}

// workloadKey is the container ID, or the host for host alerts.
func workloadKey(a *feeder.Alert) string {
	if id := a.GetContainerID(); id != "" {
		return "container/" + id
	}
	return "host/" + a.GetHostName()
}

// allow reports whether a should be delivered, and returns the
// AlertThreshold notices to deliver before it.
func (t *throttler) allow(a *feeder.Alert, now time.Time) (bool, []*feeder.Alert) {
	if a.GetType() == TypeSystemEvent {
		return true, nil
	}
	t.sweep(now)
	wk := workloadKey(a)
	w := t.workloads[wk]
	if w == nil {
		w = &budget{windowStart: now}
		t.workloads[wk] = w
	}
	id := ruleID{wk, t.ruleKey(a)}
	r := t.rules[id]
	if r == nil {
		r = &ruleState{budget: budget{windowStart: now}}
		t.rules[id] = r
	}
	w.roll(now)
	r.roll(now)

	isBlock := a.GetAction() == actionBlock
	exempt := r.lastPass.IsZero() || now.Sub(r.lastPass) >= t.interval ||
		(isBlock && (r.lastBlock.IsZero() || now.Sub(r.lastBlock) >= t.interval))
	var notices []*feeder.Alert
	// The rule's budget comes first, so that a muted rule's alerts do not
	// use up the workload's budget and hide the other rules.
	for _, b := range [2]struct {
		*budget
		rule bool
	}{{&r.budget, true}, {w, false}} {
		if b.muted() && !exempt {
			return false, notices
		}
		b.count++
		if b.count > t.max && !b.muted() {
			b.mutedUntil = now.Add(t.interval)
			notices = append(notices, t.notice(a, now, b.rule))
			if !exempt {
				return false, notices
			}
		}
	}
	r.lastPass = now
	if isBlock {
		r.lastBlock = now
	}
	return true, notices
}

// notice builds the AlertThreshold system event for a's workload, or for its
// rule (then with a's PolicyName).
func (t *throttler) notice(a *feeder.Alert, now time.Time, rule bool) *feeder.Alert {
	secs := int32(t.interval / time.Second)
	n := &feeder.Alert{
		Timestamp:              now.Unix(),
		UpdatedTime:            formatTime(now),
		ClusterName:            a.GetClusterName(),
		HostName:               a.GetHostName(),
		NodeID:                 a.GetNodeID(),
		NamespaceName:          a.GetNamespaceName(),
		Owner:                  a.GetOwner(),
		PodName:                a.GetPodName(),
		Labels:                 a.GetLabels(),
		ContainerID:            a.GetContainerID(),
		ContainerName:          a.GetContainerName(),
		ContainerImage:         a.GetContainerImage(),
		Type:                   TypeSystemEvent,
		Operation:              OperationAlertThreshold,
		MaxAlertsPerSec:        int32(t.max),
		DroppingAlertsInterval: secs,
	}
	if !rule {
		n.Message = fmt.Sprintf("Alert threshold exceeded: more than %d alerts per second, dropping alerts for %d seconds", t.max, secs)
	} else {
		n.PolicyName = a.GetPolicyName()
		n.Message = fmt.Sprintf("Alert threshold exceeded by a rule of policy %s (%s): more than %d alerts per second, dropping its alerts for %d seconds",
			n.PolicyName, a.GetOperation(), t.max, secs)
	}
	return n
}

// sweep forgets state that no longer matters: unmuted and idle for a whole
// throttle interval, it is the same as no state.
func (t *throttler) sweep(now time.Time) {
	if now.Sub(t.lastSweep) < t.interval {
		return
	}
	t.lastSweep = now
	stale := func(b *budget) bool {
		return (!b.muted() || !now.Before(b.mutedUntil)) && now.Sub(b.lastSeen) >= t.interval
	}
	for k, b := range t.workloads {
		if stale(b) {
			delete(t.workloads, k)
		}
	}
	for k, r := range t.rules {
		if stale(&r.budget) {
			delete(t.rules, k)
		}
	}
}
