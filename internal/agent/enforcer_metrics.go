package agent

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwark-security/bulwark/internal/enforcer/bpflsm"
)

// Metric names of the BPF-LSM enforcer, read from the kernel's per-CPU
// counters and the enforcer's map bookkeeping at scrape time.
const (
	MetricEnforcerDecisions      = "bulwark_enforcer_decisions_total"          // operations decided
	MetricEnforcerDenials        = "bulwark_enforcer_denials_total"            // operations denied (EPERM)
	MetricEnforcerEvents         = "bulwark_enforcer_events_total"             // events written to the ring buffer
	MetricEnforcerRingBufferFull = "bulwark_enforcer_ringbuf_full_drops_total" // events lost: ring full
	MetricEnforcerThrottled      = "bulwark_enforcer_throttled_total"          // {scope: rule|workload} events dropped by throttling
	MetricEnforcerPathsTruncated = "bulwark_enforcer_paths_truncated_total"    // dentry walks that hit their bound
	MetricEnforcerEventsRead     = "bulwark_enforcer_events_read_total"        // {result: ok|malformed} events read by the agent
	MetricEnforcerMapEntries     = "bulwark_enforcer_map_entries"              // {map: workloads|rules|dfa}
	MetricEnforcerMapCapacity    = "bulwark_enforcer_map_capacity"             // {map}
)

var (
	descEnfDecisions = prometheus.NewDesc(MetricEnforcerDecisions, "Operations the BPF-LSM enforcer decided.", nil, nil)
	descEnfDenials   = prometheus.NewDesc(MetricEnforcerDenials, "Operations the BPF-LSM enforcer denied.", nil, nil)
	descEnfEvents    = prometheus.NewDesc(MetricEnforcerEvents, "Decision events the BPF-LSM enforcer wrote to its ring buffer.", nil, nil)
	descEnfRingFull  = prometheus.NewDesc(MetricEnforcerRingBufferFull, "Decision events lost because the ring buffer was full.", nil, nil)
	descEnfThrottled = prometheus.NewDesc(MetricEnforcerThrottled,
		"Decision events dropped by the kernel's throttling, by scope (rule: per workload, rule and action; workload: non-Block events per workload).",
		[]string{"scope"}, nil)
	descEnfTruncated = prometheus.NewDesc(MetricEnforcerPathsTruncated, "Path walks that hit their bound.", nil, nil)
	descEnfRead      = prometheus.NewDesc(MetricEnforcerEventsRead, "Decision events read by the agent, by result.", []string{"result"}, nil)
	descEnfEntries   = prometheus.NewDesc(MetricEnforcerMapEntries, "Entries in use in the BPF-LSM enforcer's decision maps.", []string{"map"}, nil)
	descEnfCapacity  = prometheus.NewDesc(MetricEnforcerMapCapacity, "Capacity of the BPF-LSM enforcer's decision maps.", []string{"map"}, nil)
)

// enforcerMetrics collects the BPF-LSM enforcer's counters and map usage.
type enforcerMetrics struct {
	e      *bpflsm.Enforcer
	events *bpfLSMEvents
}

// Describe implements prometheus.Collector.
func (m *enforcerMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descEnfDecisions, descEnfDenials, descEnfEvents, descEnfRingFull,
		descEnfThrottled, descEnfTruncated, descEnfRead, descEnfEntries, descEnfCapacity} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. Counters that cannot be read
// (the enforcer is closing) are left out of the scrape.
func (m *enforcerMetrics) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	if c, err := m.e.Counters(); err == nil {
		counter(descEnfDecisions, c.Decisions)
		counter(descEnfDenials, c.Denied)
		counter(descEnfEvents, c.Events)
		counter(descEnfRingFull, c.RingBufferFull)
		counter(descEnfThrottled, c.ThrottledRule, "rule")
		counter(descEnfThrottled, c.ThrottledWorkload, "workload")
		counter(descEnfTruncated, c.PathsTruncated)
	}
	if m.events != nil {
		counter(descEnfRead, m.events.read.Load(), "ok")
		counter(descEnfRead, m.events.malformed.Load(), "malformed")
	}
	u := m.e.Usage()
	for _, row := range []struct {
		name      string
		used, max int
	}{{"workloads", u.Workloads, u.MaxWorkloads}, {"rules", u.RuleEntries, u.MaxRuleEntries}, {"dfa", u.DFARows, u.MaxDFARows}} {
		gauge(descEnfEntries, row.used, row.name)
		gauge(descEnfCapacity, row.max, row.name)
	}
}
