package agent

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync/atomic"

	"github.com/cilium/ebpf/ringbuf"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
	"github.com/bulwark-security/bulwark/internal/enforcer/bpflsm"
	"github.com/bulwark-security/bulwark/internal/engine"
	"github.com/bulwark-security/bulwark/internal/probe"
)

// BPF-LSM in the agent: bpfLSM adapts *bpflsm.Enforcer to Enforcer (the
// probe's "bpf" candidate in DefaultEnforcers), and bpfLSMEvents, added by
// DefaultComponents when it is the active enforcer, turns the kernel's
// decision events into alerts: bpflsm.Alert, then the node's identity
// (HostName, NodeID, ClusterName) and, for a container's cgroup, the
// container's identity as the agent tracks it (Containers), published on
// the pipeline. Its counters and map usage are metrics (enforcerMetrics).

// bpfLSM is the BPF-LSM enforcer as an agent Enforcer.
type bpfLSM struct {
	e *bpflsm.Enforcer
}

// newBPFLSM is the EnforcerFactory of the "bpf" candidate: it loads and
// attaches the programs, or returns bpflsm.New's error saying why BPF-LSM
// cannot be used here.
func newBPFLSM(o EnforcerOptions) (Enforcer, error) {
	var opts bpflsm.Options
	if c := o.Config; c != nil {
		opts.MaxWorkloads, opts.MaxRuleEntries, opts.MaxDFARows = c.BPFMaxWorkloads, c.BPFMaxRuleEntries, c.BPFMaxDFARows
	}
	if o.Probe != nil && o.Probe.SecurityFS.Path != "" {
		opts.LSMFile = filepath.Join(o.Probe.SecurityFS.Path, "lsm")
	}
	e, err := bpflsm.New(opts)
	if err != nil {
		return nil, err
	}
	return &bpfLSM{e: e}, nil
}

// Name implements Enforcer: "BPFLSM".
func (b *bpfLSM) Name() string { return b.e.Name() }

// Supported implements Enforcer.
func (b *bpfLSM) Supported() (bool, string) { return b.e.Supported() }

// Apply implements Enforcer: the rule set is compiled with the enforcer's
// seed and replaces w's atomically.
func (b *bpfLSM) Apply(w Workload, rs *engine.RuleSet) error {
	return b.e.ApplyRuleSet(bpflsm.WorkloadID(w.CgroupID), rs)
}

// Remove implements Enforcer.
func (b *bpfLSM) Remove(w Workload) error { return b.e.Remove(bpflsm.WorkloadID(w.CgroupID)) }

// Close implements Enforcer: it detaches the programs and frees the maps
// (and stops the event reader).
func (b *bpfLSM) Close() error { return b.e.Close() }

// defaultEnforcers are this build's enforcer factories, by probe name.
var defaultEnforcers = map[string]EnforcerFactory{
	probe.EnforcerBPF: newBPFLSM,
}

// alertPublisher is the part of the pipeline the event reader needs.
type alertPublisher interface {
	PublishAlert(*feeder.Alert)
}

// bpfLSMEvents is the enforcer's event reader as an agent component.
type bpfLSMEvents struct {
	e          *bpflsm.Enforcer
	pub        alertPublisher
	containers *Containers
	host       string
	cluster    string
	nodeID     string
	log        *slog.Logger
	// read counts decoded events, malformed undecodable records.
	read, malformed atomic.Uint64
}

// newBPFLSMEvents returns the event reader of b for the agent env.
func newBPFLSMEvents(env Env, b *bpfLSM, pub alertPublisher) *bpfLSMEvents {
	return &bpfLSMEvents{e: b.e, pub: pub, containers: env.Containers, host: env.Config.Host,
		cluster: env.Config.Cluster, nodeID: env.NodeID, log: env.Logger.With("component", "enforcer-events")}
}

// Start implements Component: it publishes the kernel's events until ctx
// is done, then stops the reader (the enforcer itself is closed by the
// agent after every component has stopped).
func (r *bpfLSMEvents) Start(ctx context.Context) error {
	rd := r.e.Reader()
	stop := context.AfterFunc(ctx, func() { _ = rd.Close() })
	defer stop()
	defer func() {
		r.log.Info("enforcer event reader stopped", "events", r.read.Load(), "malformed", r.malformed.Load())
	}()
	var ev bpflsm.Event
	for {
		err := rd.Read(&ev)
		switch {
		case err == nil:
			r.read.Add(1)
			r.publish(&ev)
		case errors.Is(err, bpflsm.ErrShortEvent):
			r.malformed.Add(1)
		case errors.Is(err, ringbuf.ErrClosed):
			return nil
		default:
			// Enforcement goes on; only its alerts stop.
			r.log.Error("enforcer event reader failed: enforcement continues without its alerts", "error", err)
			return nil
		}
	}
}

// publish converts ev into an alert with the node's and, for a container,
// the container's identity, and publishes it.
func (r *bpfLSMEvents) publish(ev *bpflsm.Event) {
	a := bpflsm.Alert(ev, r.e.Spec(ev.Gen), bpflsm.AlertOptions{HostName: r.host, ClusterName: r.cluster})
	a.NodeID = r.nodeID
	if ev.Workload != bpflsm.HostWorkload && r.containers != nil {
		if c, ok := r.containers.Registry().Lookup(uint64(ev.Workload)); ok {
			w := r.containers.workload(c)
			a.ContainerID, a.ContainerName, a.ContainerImage = c.ID, c.Name, c.Image
			a.NamespaceName, a.PodName, a.Labels = c.Namespace, c.PodName, w.labels
		}
	}
	r.pub.PublishAlert(a)
}
