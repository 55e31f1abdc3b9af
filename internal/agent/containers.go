package agent

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	policypb "github.com/bulwark-security/bulwark/api/proto/policy"
	"github.com/bulwark-security/bulwark/internal/config"
	"github.com/bulwark-security/bulwark/internal/engine"
	"github.com/bulwark-security/bulwark/internal/identity"
	"github.com/bulwark-security/bulwark/internal/identity/discover"
	"github.com/bulwark-security/bulwark/internal/monitor"
	"github.com/bulwark-security/bulwark/internal/policy"
	"github.com/bulwark-security/bulwark/internal/policystore"
)

// Containers: the container side of bulwarkd (reference §3.3, §5.3).
//
// When container policies are enabled (enableKubeArmorPolicy) and a
// runtime socket is found (criSocket, or KubeArmor's well-known docker and
// containerd sockets), an identity.Registry follows the runtime. Each run
// of a container gets a rule set compiled from the policy store's
// snapshot for its Workload() with the global container default postures
// (audited without an enforcer, as the host's). Rule sets are replaced
// whole when policies or configuration change and when the container is
// added or updated (labels), and dropped when its run ends; every change
// is handed to the enforcer per workload (Enforcer.Apply / Remove, keyed
// by cgroup id) from the agent's loop, and the container's visibility is
// set in the monitor (monitor.SetVisibility) when telemetry runs. A
// container whose namespace is in untrackedNs gets a disabled rule set and
// visibility none: neither enforced nor reported, as upstream.
//
// Telemetry routes container events through an identity.Pending queue on
// the same registry, so an event that arrives before the runtime reports
// its container waits for it (up to 10 s) and is enriched rather than
// misattributed; it then decides the event against the container's rule
// set. Without a runtime, container events are ContainerLogs carrying
// only their cgroup id.

// containerWorkload is one container run as telemetry and the enforcer
// see it. It is immutable: a change replaces it whole.
type containerWorkload struct {
	c      *identity.Container
	labels string // k=v,... sorted by key
	rs     *engine.RuleSet
	vis    monitor.Visibility
}

// enforced is the enforcer's view of w.
func (w *containerWorkload) enforced() Workload {
	return Workload{CgroupID: w.c.CgroupID, Name: w.c.Namespace + "/" + w.c.Name, ContainerID: w.c.ID}
}

// visibilitySetter is the part of the monitor Containers drive.
type visibilitySetter interface {
	SetVisibility(cgroupID uint64, v monitor.Visibility) error
	ClearVisibility(cgroupID uint64) error
}

// Containers tracks the node's containers and their rule sets. The agent
// applies its changes to the enforcer; telemetry reads it.
type Containers struct {
	log       *slog.Logger
	reg       *identity.Registry
	endpoints []string
	policies  func() []*policy.Policy
	audited   bool // no enforcer: rule sets are compiled audited

	mu       sync.RWMutex
	cfg      *config.Config
	byCgroup map[uint64]*containerWorkload
	mon      visibilitySetter
}

// ContainersOptions configure newContainers.
type ContainersOptions struct {
	Config *config.Config
	// Sources feed the registry; nil means discover's, from criSocket or
	// the well-known sockets.
	Sources []identity.Source
	// Policies returns the policy store's snapshot.
	Policies func() []*policy.Policy
	// Audited compiles rule sets audited (no enforcer).
	Audited bool
	Logger  *slog.Logger
}

// newContainers returns the node's container tracking, or nil (with the
// reason logged) when container policies are disabled or no runtime is
// found: the agent then runs host-only.
func newContainers(o ContainersOptions) *Containers {
	log := o.Logger
	cfg := o.Config
	if !cfg.EnableKubeArmorPolicy {
		log.Info("container support off: container policies are disabled (enableKubeArmorPolicy: false); running host-only")
		return nil
	}
	srcs := o.Sources
	var names []string
	if srcs == nil {
		var sockets []string
		if cfg.CRISocket != "" {
			sockets = []string{cfg.CRISocket}
		}
		var used []identity.Endpoint
		var err error
		srcs, used, err = discover.Sources(discover.Config{Sockets: sockets, Logger: log})
		if err != nil {
			log.Warn("container runtime socket not usable", "criSocket", cfg.CRISocket, "error", err)
		}
		for _, e := range used {
			names = append(names, string(e.Runtime)+":"+e.Address)
		}
	} else {
		for _, s := range srcs {
			names = append(names, s.Name())
		}
	}
	if len(srcs) == 0 {
		where := "the well-known docker and containerd sockets"
		if cfg.CRISocket != "" {
			where = "criSocket " + cfg.CRISocket
		}
		log.Info("no container runtime found, running host-only: container events are logged with their cgroup id only", "looked", where)
		return nil
	}
	log.Info("following container runtimes", "runtimes", strings.Join(names, ","))
	return &Containers{
		log: log, endpoints: names, policies: o.Policies, audited: o.Audited, cfg: cfg,
		reg:      identity.NewRegistry(identity.Options{Sources: srcs, Logger: log}),
		byCgroup: map[uint64]*containerWorkload{},
	}
}

// Registry returns the container registry.
func (cs *Containers) Registry() *identity.Registry { return cs.reg }

// Start implements Component: it follows the runtimes until ctx is done.
// A runtime that cannot be followed at all is logged; the agent goes on
// host-only rather than stopping.
func (cs *Containers) Start(ctx context.Context) error {
	if err := cs.reg.Start(ctx); err != nil {
		cs.log.Error("container runtime not followed, containers are no longer tracked", "error", err)
	}
	return nil
}

// compile compiles c's rule set from the current snapshot and cfg. A
// container in an untracked namespace gets a disabled rule set: nothing
// enforced, nothing alerted.
func (cs *Containers) compile(c *identity.Container, cfg *config.Config) *engine.RuleSet {
	w := c.Workload()
	w.Postures = cfg.ContainerPostures()
	switch {
	case untracked(c, cfg):
		w.PolicyMode = engine.PolicyDisabled
	case cs.audited:
		w.PolicyMode = engine.PolicyAudited
	}
	return engine.Compile(cs.policies(), w)
}

// untracked reports whether c's namespace is in untrackedNs (KubeArmor's
// kube-system and kubearmor by default).
func untracked(c *identity.Container, cfg *config.Config) bool {
	return slices.Contains(cfg.UntrackedNs, c.Namespace)
}

// newWorkloadLocked builds c's workload; cs.mu is held.
func (cs *Containers) newWorkloadLocked(c *identity.Container) *containerWorkload {
	return &containerWorkload{c: c, labels: joinLabels(c.Workload().Labels), rs: cs.compile(c, cs.cfg), vis: containerVisibility(c, cs.cfg)}
}

// containerVisibility is the configured container visibility, none for an
// untracked container.
func containerVisibility(c *identity.Container, cfg *config.Config) monitor.Visibility {
	if untracked(c, cfg) {
		return monitor.VisibilityNone
	}
	v, _ := visibilities(cfg)
	return v
}

// joinLabels formats labels as KubeArmor's Labels field: k=v,... sorted.
func joinLabels(l map[string]string) string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(l)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k + "=" + l[k])
	}
	return b.String()
}

// workload returns the workload of container c (a run the registry
// reported) for telemetry. When the agent has not taken c in yet (an
// event enriched as the container appears), it is compiled now, and kept
// while the registry still holds c.
func (cs *Containers) workload(c *identity.Container) *containerWorkload {
	cs.mu.RLock()
	w := cs.byCgroup[c.CgroupID]
	cs.mu.RUnlock()
	if w != nil && w.c == c {
		return w
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if w := cs.byCgroup[c.CgroupID]; w != nil && w.c == c {
		return w
	}
	w = cs.newWorkloadLocked(c)
	if cur, ok := cs.reg.Lookup(c.CgroupID); ok && cur == c {
		cs.byCgroup[c.CgroupID] = w
	}
	return w
}

// upsert takes in an Added or Updated container and returns its workload
// for the enforcer.
func (cs *Containers) upsert(c *identity.Container) *containerWorkload {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	w := cs.byCgroup[c.CgroupID]
	if w == nil || w.c != c {
		w = cs.newWorkloadLocked(c)
		cs.byCgroup[c.CgroupID] = w
	}
	if cs.mon != nil {
		if err := cs.mon.SetVisibility(c.CgroupID, w.vis); err != nil {
			cs.log.Warn("container visibility not set", "container", w.enforced().String(), "error", err)
		}
	}
	return w
}

// remove drops a Removed container run; it returns its workload, or nil
// when it was not known or a newer run already holds its cgroup id (whose
// rules must stay).
func (cs *Containers) remove(gone *identity.Container) *containerWorkload {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	w := cs.byCgroup[gone.CgroupID]
	if w == nil || w.c.ID != gone.ID || w.c.RuntimeNamespace != gone.RuntimeNamespace || w.c.PID != gone.PID {
		return nil
	}
	delete(cs.byCgroup, gone.CgroupID)
	if cs.mon != nil {
		if err := cs.mon.ClearVisibility(gone.CgroupID); err != nil {
			cs.log.Warn("container visibility not cleared", "container", w.enforced().String(), "error", err)
		}
	}
	return w
}

// recompile recompiles every container's rule set from the current
// snapshot and cfg, replacing each whole, and returns the new workloads.
func (cs *Containers) recompile(cfg *config.Config) []*containerWorkload {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.cfg = cfg
	out := make([]*containerWorkload, 0, len(cs.byCgroup))
	for id, w := range cs.byCgroup {
		nw := cs.newWorkloadLocked(w.c)
		cs.byCgroup[id] = nw
		out = append(out, nw)
	}
	return out
}

// attachMonitor makes Containers keep the monitor's per-container
// visibility, from now on and for the containers known.
func (cs *Containers) attachMonitor(m visibilitySetter) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.mon = m
	cs.setVisibilityLocked()
}

// applyVisibility applies a reloaded container visibility.
func (cs *Containers) applyVisibility(cfg *config.Config) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.cfg = cfg
	for id, w := range cs.byCgroup {
		nw := *w
		nw.vis = containerVisibility(w.c, cfg)
		cs.byCgroup[id] = &nw
	}
	cs.setVisibilityLocked()
}

func (cs *Containers) setVisibilityLocked() {
	if cs.mon == nil {
		return
	}
	for id, w := range cs.byCgroup {
		if err := cs.mon.SetVisibility(id, w.vis); err != nil {
			cs.log.Warn("container visibility not set", "container", w.enforced().String(), "error", err)
		}
	}
}

// snapshot returns the known workloads ordered by container name.
func (cs *Containers) snapshot() []*containerWorkload {
	cs.mu.RLock()
	out := slices.Collect(maps.Values(cs.byCgroup))
	cs.mu.RUnlock()
	slices.SortFunc(out, func(a, b *containerWorkload) int {
		return cmp.Or(cmp.Compare(a.c.Name, b.c.Name), cmp.Compare(a.c.ID, b.c.ID))
	})
	return out
}

// KubeArmor's policyEnabled values.
const (
	policyDisabled = 0
	policyEnabled  = 1
	policyAudited  = 2
)

// probeData adds the containers to a ProbeResponse: containerList and
// containerMap (the policies selecting each container, by name).
func (cs *Containers) probeData(resp *policypb.ProbeResponse) error {
	if resp.ContainerMap == nil {
		resp.ContainerMap = map[string]*policypb.ContainerData{}
	}
	for _, w := range cs.snapshot() {
		d := &policypb.ContainerData{PolicyEnabled: policyEnabled}
		switch w.rs.Mode() {
		case engine.PolicyAudited:
			d.PolicyEnabled = policyAudited
		case engine.PolicyDisabled:
			d.PolicyEnabled = policyDisabled
		}
		for _, p := range w.rs.Policies() {
			data, err := json.Marshal(p)
			if err != nil {
				return fmt.Errorf("encode policy %s: %w", policystore.IDOf(p), err)
			}
			d.PolicyList = append(d.PolicyList, p.Name)
			d.PolicyDataList = append(d.PolicyDataList, &policypb.Policy{Policy: data})
		}
		resp.ContainerList = append(resp.ContainerList, w.c.Name)
		resp.ContainerMap[w.c.Name] = d
	}
	return nil
}

// ProbeEnforcerHeader is the gRPC response header of
// ProbeService.GetProbeData naming the active enforcer (BPFLSM, or eBPF
// Monitor for none): KubeArmor's ProbeResponse has no field for it.
const ProbeEnforcerHeader = "bulwark-enforcer"

// probeAPI is the policy store as server.PolicyAPI, with the containers
// in ProbeData and the active enforcer in its response header.
type probeAPI struct {
	*policystore.Store
	containers *Containers
	enforcer   string
}

// ProbeData implements server.PolicyAPI.
func (p probeAPI) ProbeData(ctx context.Context) (*policypb.ProbeResponse, error) {
	if p.enforcer != "" {
		_ = grpc.SetHeader(ctx, metadata.Pairs(ProbeEnforcerHeader, p.enforcer)) // fails only outside an RPC
	}
	resp, err := p.Store.ProbeData(ctx)
	if err != nil || p.containers == nil {
		return resp, err
	}
	if err := p.containers.probeData(resp); err != nil {
		return nil, err
	}
	return resp, nil
}
