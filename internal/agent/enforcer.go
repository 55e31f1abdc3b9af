package agent

import (
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"

	"github.com/bulwark-security/bulwark/internal/config"
	"github.com/bulwark-security/bulwark/internal/engine"
	"github.com/bulwark-security/bulwark/internal/probe"
)

// Workload is what an enforcer enforces one rule set on: the host, or one
// run of a container, keyed by the cgroup v2 id of its tasks (the value of
// bpf_get_current_cgroup_id). The host is HostCgroupID.
type Workload struct {
	// CgroupID is the container's cgroup v2 id, or HostCgroupID.
	CgroupID uint64
	// Name names the workload in logs: "host", or the container's
	// namespace/name.
	Name string
	// ContainerID is the runtime's container id; empty for the host.
	ContainerID string
}

// HostCgroupID is the CgroupID of the host workload; no cgroup has id 0.
const HostCgroupID uint64 = 0

// HostWorkload is the host.
var HostWorkload = Workload{CgroupID: HostCgroupID, Name: "host"}

// Host reports whether w is the host.
func (w Workload) Host() bool { return w.CgroupID == HostCgroupID }

func (w Workload) String() string {
	if w.Host() {
		return w.Name
	}
	return w.Name + " (cgroup " + strconv.FormatUint(w.CgroupID, 10) + ")"
}

// Enforcer turns compiled rule sets into kernel enforcement, one rule set
// per workload. The agent calls Apply and Remove from one goroutine at a
// time (never concurrently) and Close once at shutdown.
type Enforcer interface {
	// Name is stamped into alerts' Enforcer field (BPFLSM, AppArmor, or
	// eBPF Monitor for none).
	Name() string
	// Supported reports whether the enforcer can run on this host and, if
	// not, why.
	Supported() (ok bool, reason string)
	// Apply replaces the rules enforced on w with rs, atomically: on error
	// the previous rules of w stay in force. The host's rule set is
	// applied first, before any container's; a container's is applied
	// when the runtime reports it (and its rule set changes with policies,
	// labels and configuration).
	Apply(w Workload, rs *engine.RuleSet) error
	// Remove drops the rules of w: its run ended and its cgroup id may be
	// reused. Removing an unknown workload is not an error.
	Remove(w Workload) error
	// Close removes all enforcement.
	Close() error
}

// EnforcerOptions are what an EnforcerFactory gets.
type EnforcerOptions struct {
	Probe  *probe.Report
	Config *config.Config
	Logger *slog.Logger
}

// EnforcerFactory builds an enforcer. Factories are keyed by the lsm names
// of probe (bpf, apparmor, selinux).
type EnforcerFactory func(EnforcerOptions) (Enforcer, error)

// MonitorEnforcerName is the enforcer name when nothing is enforced, as
// KubeArmor stamps it.
const MonitorEnforcerName = "eBPF Monitor"

// NoneEnforcer enforces nothing: policies are only audited. It records the
// rule set applied to each workload for inspection.
type NoneEnforcer struct {
	mu   sync.Mutex
	sets map[uint64]*engine.RuleSet
}

// Name implements Enforcer.
func (*NoneEnforcer) Name() string { return MonitorEnforcerName }

// Supported implements Enforcer: always.
func (*NoneEnforcer) Supported() (bool, string) { return true, "" }

// Apply implements Enforcer by remembering rs for w.
func (e *NoneEnforcer) Apply(w Workload, rs *engine.RuleSet) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sets == nil {
		e.sets = map[uint64]*engine.RuleSet{}
	}
	e.sets[w.CgroupID] = rs
	return nil
}

// Remove implements Enforcer by forgetting w.
func (e *NoneEnforcer) Remove(w Workload) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.sets, w.CgroupID)
	return nil
}

// Close implements Enforcer.
func (*NoneEnforcer) Close() error { return nil }

// RuleSet returns the last rule set applied to the host.
func (e *NoneEnforcer) RuleSet() *engine.RuleSet { return e.Applied(HostCgroupID) }

// Applied returns the rule set applied to the workload of cgroupID, or nil.
func (e *NoneEnforcer) Applied(cgroupID uint64) *engine.RuleSet {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sets[cgroupID]
}

// Workloads returns the cgroup ids of the workloads with a rule set.
func (e *NoneEnforcer) Workloads() []uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Collect(maps.Keys(e.sets))
}
