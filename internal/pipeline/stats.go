package pipeline

import "sync/atomic"

// DropReason says why a record was not delivered somewhere.
type DropReason string

// Drop reasons, also the "reason" label of bulwark_pipeline_dropped_total.
const (
	DropQueueFull      DropReason = "queue_full"      // input queue full: lost everywhere
	DropThrottled      DropReason = "throttled"       // alert muted by throttling: lost everywhere
	DropSubscriberSlow DropReason = "subscriber_slow" // one subscriber's queue full: lost for it
	DropSinkFull       DropReason = "sink_full"       // sink queue full: not written to the log
	DropSinkError      DropReason = "sink_error"      // the log write failed
	DropStopped        DropReason = "stopped"         // published after the pipeline stopped
)

var dropReasons = [...]DropReason{DropQueueFull, DropThrottled, DropSubscriberSlow, DropSinkFull, DropSinkError, DropStopped}

type counters struct {
	delivered [numKinds]atomic.Uint64
	dropped   [numKinds][len(dropReasons)]atomic.Uint64
}

func reasonIndex(r DropReason) int {
	for i, x := range dropReasons {
		if x == r {
			return i
		}
	}
	panic("pipeline: unknown drop reason " + string(r))
}

func (p *Pipeline) drop(k Kind, r DropReason, n uint64) {
	p.counts.dropped[k][reasonIndex(r)].Add(n)
}

// Stats is a snapshot of the pipeline's counters.
type Stats struct {
	// Delivered counts records that passed throttling and went to the sink
	// and subscribers, AlertThreshold notices included, by kind.
	Delivered map[Kind]uint64
	// Dropped counts lost records by kind and reason. A record lost by two
	// subscribers counts twice.
	Dropped map[Kind]map[DropReason]uint64
}

// Stats returns the current counters.
func (p *Pipeline) Stats() Stats {
	s := Stats{Delivered: make(map[Kind]uint64), Dropped: make(map[Kind]map[DropReason]uint64)}
	for k := range numKinds {
		s.Delivered[k] = p.counts.delivered[k].Load()
		m := make(map[DropReason]uint64)
		for i, r := range dropReasons {
			if n := p.counts.dropped[k][i].Load(); n > 0 {
				m[r] = n
			}
		}
		s.Dropped[k] = m
	}
	return s
}
