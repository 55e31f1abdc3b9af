package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
)

// ErrStopped is returned by Subscribe once the pipeline has stopped.
var ErrStopped = errors.New("pipeline stopped")

// Event is one record in the pipeline; exactly one field is set.
type Event struct {
	Alert   *feeder.Alert
	Log     *feeder.Log
	Message *feeder.Message

	// throttle, set only inside the pipeline, carries SetThrottle's
	// settings through the input queue, in order with the records.
	throttle *ThrottleOptions
}

// Kind returns which kind of record e holds.
func (e Event) Kind() Kind {
	switch {
	case e.Alert != nil:
		return KindAlert
	case e.Log != nil:
		return KindLog
	default:
		return KindMessage
	}
}

// Pipeline fans records out to the sink and to subscribers. It is safe for
// concurrent use; see the package documentation.
type Pipeline struct {
	opts   Options
	log    *slog.Logger
	in     chan Event
	sink   *sink         // nil when LogPath is "none"
	thr    *throttler    // nil when throttling is off; the dispatcher's own
	quit   chan struct{} // closed when Start returns
	now    func() time.Time
	counts counters
	met    *metrics // nil without a Registerer

	started atomic.Bool
	stopped atomic.Bool

	mu     sync.Mutex // guards subs writes and closed
	closed bool
	subs   [numKinds]atomic.Pointer[[]*Subscription]
}

// New returns a pipeline configured by opts. Nothing runs until Start.
func New(opts Options) (*Pipeline, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("pipeline options: %w", err)
	}
	p := &Pipeline{
		opts: o,
		log:  o.Logger,
		in:   make(chan Event, o.InputQueueSize),
		now:  time.Now,
		quit: make(chan struct{}),
	}
	if o.Throttle.enabled() {
		p.thr = newThrottler(o.Throttle)
	}
	if o.LogPath != LogPathNone {
		p.sink = newSink(o.LogPath, o.SinkQueueSize, p)
	}
	for k := range p.subs {
		p.subs[k].Store(new([]*Subscription))
	}
	if o.Registerer != nil {
		m, err := newMetrics(p, o.Registerer)
		if err != nil {
			return nil, fmt.Errorf("pipeline metrics: %w", err)
		}
		p.met = m
	}
	return p, nil
}

// PublishAlert queues an alert. It never blocks; when the input queue is
// full the alert is dropped and counted. The pipeline takes ownership of a.
func (p *Pipeline) PublishAlert(a *feeder.Alert) {
	if a != nil {
		p.publish(Event{Alert: a}, KindAlert)
	}
}

// PublishLog queues a log record like PublishAlert.
func (p *Pipeline) PublishLog(l *feeder.Log) {
	if l != nil {
		p.publish(Event{Log: l}, KindLog)
	}
}

// PublishMessage queues a daemon message like PublishAlert.
func (p *Pipeline) PublishMessage(m *feeder.Message) {
	if m != nil {
		p.publish(Event{Message: m}, KindMessage)
	}
}

func (p *Pipeline) publish(ev Event, k Kind) {
	if p.stopped.Load() {
		p.drop(k, DropStopped, 1)
		return
	}
	select {
	case p.in <- ev:
	default:
		p.drop(k, DropQueueFull, 1)
	}
}

// Start runs the pipeline until ctx is done, then delivers what is still
// queued, flushes and closes the sink, ends every subscription (their Events
// channels are closed) and returns. It fails only if the log file cannot be
// opened, or if the pipeline was started before.
func (p *Pipeline) Start(ctx context.Context) error {
	if !p.started.CompareAndSwap(false, true) {
		return errors.New("pipeline: already started")
	}
	defer close(p.quit)
	var sinkDone chan struct{}
	if p.sink != nil {
		if err := p.sink.open(); err != nil {
			p.stop()
			return fmt.Errorf("pipeline: open log sink: %w", err)
		}
		sinkDone = make(chan struct{})
		go func() {
			defer close(sinkDone)
			p.sink.run()
		}()
	}
	p.log.Info("pipeline started", "logPath", p.opts.LogPath, "throttling", p.thr != nil,
		"maxAlertsPerSec", p.opts.Throttle.MaxAlertsPerSec, "throttleSec", p.opts.Throttle.ThrottleSec)

	for done := false; !done; {
		select {
		case ev := <-p.in:
			p.dispatch(ev)
		case <-ctx.Done():
			done = true
		}
	}
	p.stopped.Store(true)
	for drained := false; !drained; {
		select {
		case ev := <-p.in:
			p.dispatch(ev)
		default:
			drained = true
		}
	}
	if p.sink != nil {
		close(p.sink.queue)
		<-sinkDone
	}
	p.stop()
	p.log.Info("pipeline stopped", "alerts", p.counts.delivered[KindAlert].Load(), "logs", p.counts.delivered[KindLog].Load())
	return nil
}

// stop ends all subscriptions and refuses new ones.
func (p *Pipeline) stop() {
	p.stopped.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for k := range p.subs {
		for _, s := range *p.subs[k].Load() {
			close(s.ch)
		}
		p.subs[k].Store(new([]*Subscription))
	}
}

// SetThrottle replaces the throttling settings of a running pipeline (a
// configuration reload): records published before it returns are
// throttled under the old settings, the later ones under the new. Workloads
// and rules start with fresh budgets, so nothing muted under the old
// settings stays muted. It waits for room in the input queue.
func (p *Pipeline) SetThrottle(o ThrottleOptions) error {
	o, err := o.withDefaults()
	if err != nil {
		return fmt.Errorf("throttle options: %w", err)
	}
	select {
	case p.in <- Event{throttle: &o}:
		return nil
	case <-p.quit:
		return errors.New("pipeline stopped")
	}
}

func (p *Pipeline) setThrottler(o ThrottleOptions) {
	p.thr = nil
	if o.enabled() {
		p.thr = newThrottler(o)
	}
	p.log.Info("alert throttling changed", "throttling", p.thr != nil,
		"maxAlertsPerSec", o.MaxAlertsPerSec, "throttleSec", o.ThrottleSec)
}

// Reopen makes the file sink close and reopen its file, for log rotation
// (the agent calls it on SIGHUP). It returns at once; the reopen happens in
// the sink's goroutine. It does nothing for "stdout" and "none".
func (p *Pipeline) Reopen() {
	if p.sink != nil {
		p.sink.requestReopen()
	}
}

func (p *Pipeline) dispatch(ev Event) {
	now := p.now()
	switch {
	case ev.throttle != nil:
		p.setThrottler(*ev.throttle)
	case ev.Alert != nil:
		p.stampAlert(ev.Alert, now)
		if p.thr != nil {
			ok, notices := p.thr.allow(ev.Alert, now)
			for _, n := range notices {
				p.met.throttleEpisode(n.GetPolicyName() != "")
				p.deliver(Event{Alert: n}, KindAlert)
			}
			if !ok {
				p.drop(KindAlert, DropThrottled, 1)
				return
			}
		}
		p.deliver(ev, KindAlert)
	case ev.Log != nil:
		p.stampLog(ev.Log, now)
		p.deliver(ev, KindLog)
	case ev.Message != nil:
		m := ev.Message
		p.stamp(now, &m.Timestamp, &m.UpdatedTime, &m.ClusterName, &m.HostName, nil)
		p.deliver(ev, KindMessage)
	}
}

func (p *Pipeline) deliver(ev Event, k Kind) {
	p.counts.delivered[k].Add(1)
	p.met.delivered(ev)
	if p.sink != nil && k != KindMessage {
		p.sink.enqueue(ev, k)
	}
	for _, s := range *p.subs[k].Load() {
		select {
		case s.ch <- ev:
		default:
			s.lost(p)
		}
	}
}

func (p *Pipeline) stampAlert(a *feeder.Alert, now time.Time) {
	p.stamp(now, &a.Timestamp, &a.UpdatedTime, &a.ClusterName, &a.HostName, &a.NodeID)
}

func (p *Pipeline) stampLog(l *feeder.Log, now time.Time) {
	p.stamp(now, &l.Timestamp, &l.UpdatedTime, &l.ClusterName, &l.HostName, &l.NodeID)
}

// stamp fills in the empty identity and time fields of a record; nodeID
// may be nil (messages have no NodeID).
func (p *Pipeline) stamp(now time.Time, ts *int64, updated, cluster, host, nodeID *string) {
	setIfEmpty := func(f *string, v string) {
		if f != nil && *f == "" {
			*f = v
		}
	}
	setIfEmpty(cluster, p.opts.ClusterName)
	setIfEmpty(host, p.opts.HostName)
	setIfEmpty(nodeID, p.opts.NodeID)
	if *ts == 0 {
		*ts = now.Unix()
	}
	if *updated == "" {
		*updated = formatTime(now)
	}
}

// formatTime is upstream's UpdatedTime: RFC 3339, microseconds, UTC.
func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}
