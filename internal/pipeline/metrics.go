package pipeline

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names registered by a pipeline with a Registerer.
const (
	MetricAlerts           = "bulwark_alerts_total"                     // {policy, action, operation}
	MetricLogs             = "bulwark_logs_total"                       // {operation}
	MetricMessages         = "bulwark_messages_total"                   //
	MetricDropped          = "bulwark_pipeline_dropped_total"           // {kind, reason}
	MetricThrottleEpisodes = "bulwark_pipeline_throttle_episodes_total" // {scope: workload|rule}
	MetricQueueLength      = "bulwark_pipeline_queue_length"            // {queue: input|sink|subscribers}
	MetricQueueCapacity    = "bulwark_pipeline_queue_capacity"          // {queue}
	MetricSubscribers      = "bulwark_pipeline_subscribers"             // {kind}
)

// metrics holds the pipeline's Prometheus metrics. A nil *metrics is valid
// and records nothing.
type metrics struct {
	alerts   *prometheus.CounterVec
	logs     *prometheus.CounterVec
	episodes [2]prometheus.Counter // workload, rule
}

func newMetrics(p *Pipeline, reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricAlerts,
			Help: "Alerts delivered by the pipeline (after throttling), by policy, action and operation.",
		}, []string{"policy", "action", "operation"}),
		logs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricLogs,
			Help: "Logs delivered by the pipeline, by operation.",
		}, []string{"operation"}),
	}
	episodes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricThrottleEpisodes,
		Help: "Times a workload or a rule exceeded the alert rate and was muted.",
	}, []string{"scope"})
	m.episodes[0] = episodes.WithLabelValues("workload")
	m.episodes[1] = episodes.WithLabelValues("rule")
	err := errors.Join(
		reg.Register(m.alerts),
		reg.Register(m.logs),
		reg.Register(episodes),
		reg.Register(&collector{p: p}),
	)
	if err != nil {
		return nil, err
	}
	return m, nil
}

func (m *metrics) delivered(ev Event) {
	if m == nil {
		return
	}
	switch {
	case ev.Alert != nil:
		a := ev.Alert
		m.alerts.WithLabelValues(a.GetPolicyName(), a.GetAction(), a.GetOperation()).Inc()
	case ev.Log != nil:
		m.logs.WithLabelValues(ev.Log.GetOperation()).Inc()
	}
}

func (m *metrics) throttleEpisode(rule bool) {
	if m == nil {
		return
	}
	if rule {
		m.episodes[1].Inc()
	} else {
		m.episodes[0].Inc()
	}
}

// collector reports counters and gauges read from the pipeline at scrape
// time, so the hot path only touches atomics.
type collector struct{ p *Pipeline }

var (
	descMessages = prometheus.NewDesc(MetricMessages, "Daemon messages delivered by the pipeline.", nil, nil)
	descDropped  = prometheus.NewDesc(MetricDropped,
		"Records lost, by kind and reason (queue_full, throttled, subscriber_slow, sink_full, sink_error, stopped).",
		[]string{"kind", "reason"}, nil)
	descQueueLen = prometheus.NewDesc(MetricQueueLength,
		"Records waiting in the pipeline's queues (subscribers: summed over all subscribers).", []string{"queue"}, nil)
	descQueueCap = prometheus.NewDesc(MetricQueueCapacity,
		"Capacity of the pipeline's queues (subscribers: summed over all subscribers).", []string{"queue"}, nil)
	descSubscribers = prometheus.NewDesc(MetricSubscribers, "Current subscribers, by kind.", []string{"kind"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMessages, descDropped, descQueueLen, descQueueCap, descSubscribers} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	p := c.p
	ch <- prometheus.MustNewConstMetric(descMessages, prometheus.CounterValue, float64(p.counts.delivered[KindMessage].Load()))
	for k := range numKinds {
		for i, r := range dropReasons {
			ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue,
				float64(p.counts.dropped[k][i].Load()), k.String(), string(r))
		}
	}
	gauge := func(d *prometheus.Desc, v int, label string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), label)
	}
	gauge(descQueueLen, len(p.in), "input")
	gauge(descQueueCap, cap(p.in), "input")
	if p.sink != nil {
		gauge(descQueueLen, len(p.sink.queue), "sink")
		gauge(descQueueCap, cap(p.sink.queue), "sink")
	}
	var subLen, subCap int
	for k := range numKinds {
		subs := *p.subs[k].Load()
		gauge(descSubscribers, len(subs), k.String())
		for _, s := range subs {
			subLen += len(s.ch)
			subCap += cap(s.ch)
		}
	}
	gauge(descQueueLen, subLen, "subscribers")
	gauge(descQueueCap, subCap, "subscribers")
}
