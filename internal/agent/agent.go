// Package agent is bulwarkd: it wires configuration, probe, policy store,
// enforcer and the gRPC and event components together and supervises them.
//
// Start runs, in order: pid file, probe, enforcer choice (falling back to
// monitor-only when no enforcer is usable, with the reason logged), policy
// store (policy directory + persisted API policies), the first compile of
// the host's rule set, then every component under one errgroup until the
// context ends. Every policy change and every dynamic configuration change
// recompiles the rule set from one store snapshot and hands it to the
// enforcer, so an enforcer only ever sees whole rule sets.
//
// With container policies enabled and a container runtime found, the agent
// also follows the runtime (containers.go): each container run gets its
// own rule set, compiled and handed to the enforcer per workload on the
// same loop as the host's, so the enforcer never sees two calls at once.
//
// DefaultComponents adds telemetry (telemetry.go): the system monitor,
// whose events are decided against the current host or container rule set
// and become MatchedHostPolicy / MatchedPolicy alerts or HostLogs /
// ContainerLogs, as upstream's matcher does. Its visibility follows
// configuration reloads live.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/bulwark-security/bulwark/internal/config"
	"github.com/bulwark-security/bulwark/internal/engine"
	"github.com/bulwark-security/bulwark/internal/identity"
	"github.com/bulwark-security/bulwark/internal/policy"
	"github.com/bulwark-security/bulwark/internal/policystore"
	"github.com/bulwark-security/bulwark/internal/probe"
)

// Component is a Runnable the agent supervises: Start blocks until ctx is
// done and returns nil then, or returns an error that stops the agent.
type Component interface {
	Start(ctx context.Context) error
}

// Env is what component factories get once the agent has probed the host
// and loaded its policies.
type Env struct {
	Config *config.Config
	// Store is the policy store; it implements server.PolicyAPI.
	Store  *policystore.Store
	NodeID string
	Logger *slog.Logger
	// Probe is the host report.
	Probe *probe.Report
	// Enforcer is the active enforcer's name (MonitorEnforcerName for none).
	Enforcer string
	// Active is the active enforcer, for components that read its events
	// and metrics; the agent closes it after every component has stopped.
	Active Enforcer
	// RuleSet returns the host's current rule set, replaced whole on every
	// policy or configuration change; safe from any goroutine.
	RuleSet func() *engine.RuleSet
	// Containers tracks the node's containers and their rule sets; nil
	// when the agent runs host-only (no runtime, or container policies
	// disabled).
	Containers *Containers
	// OnConfig registers apply to run, on the configuration watcher's
	// goroutine, after a reload that changed any of keys; those keys are
	// then applied live rather than after a restart. Call it only from the
	// ComponentsFunc.
	OnConfig func(keys []string, apply func(*config.Config))
	// OnHangup registers f to run on SIGHUP (log rotation). Call it only
	// from the ComponentsFunc.
	OnHangup func(f func())
}

// ComponentsFunc builds the agent's further components (gRPC server, event
// pipeline, metrics endpoint).
type ComponentsFunc func(Env) ([]Component, error)

// Options configure an Agent.
type Options struct {
	// Config is the validated configuration; required.
	Config *config.Config
	// Load, when it names a file, is used to reload the configuration on
	// change and SIGHUP. The zero value disables reloading.
	Load config.Options
	// Logger; nil discards.
	Logger *slog.Logger
	// Probe returns the host report; nil means probe.Host.
	Probe func() *probe.Report
	// Enforcers maps lsm names (bpf, apparmor, selinux) to factories; nil
	// means the enforcers of this build (DefaultEnforcers).
	Enforcers map[string]EnforcerFactory
	// Components, when set, builds further components (gRPC server, event
	// pipeline, metrics) that run and stop with the agent. Main uses
	// DefaultComponents.
	Components ComponentsFunc
	// NoSignal disables SIGHUP handling (in-process tests).
	NoSignal bool
	// ContainerSources, when set, feed the container registry instead of
	// the runtimes found from criSocket or the well-known sockets.
	ContainerSources []identity.Source
}

// Agent is a running bulwarkd.
type Agent struct {
	opts     Options
	log      *slog.Logger
	cfg      atomic.Pointer[config.Config]
	report   *probe.Report
	choice   probe.Choice
	enforcer Enforcer
	store    *policystore.Store
	ruleSet  atomic.Pointer[engine.RuleSet]
	// containers is nil when the agent runs host-only.
	containers *Containers
	hooks      []configHook
	hangups    []func()
	nodeID     string
	pidFile    string
	ready      chan struct{}
}

// New returns an agent; nothing happens until Start.
func New(opts Options) (*Agent, error) {
	if opts.Config == nil {
		return nil, errors.New("agent: no configuration")
	}
	a := &Agent{opts: opts, log: opts.Logger, ready: make(chan struct{})}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.cfg.Store(opts.Config)
	return a, nil
}

// Ready is closed once the agent has compiled its first rule set and
// started its components.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// Store returns the policy store (after Ready).
func (a *Agent) Store() *policystore.Store { return a.store }

// RuleSet returns the host's current rule set (after Ready).
func (a *Agent) RuleSet() *engine.RuleSet { return a.ruleSet.Load() }

// Enforcer returns the enforcer in use (after Ready).
func (a *Agent) Enforcer() Enforcer { return a.enforcer }

// Containers returns the container tracking (after Ready), or nil when
// the agent runs host-only.
func (a *Agent) Containers() *Containers { return a.containers }

// Choice returns the enforcer choice and its reasons (after Ready).
func (a *Agent) Choice() probe.Choice { return a.choice }

// Config returns the running configuration.
func (a *Agent) Config() *config.Config { return a.cfg.Load() }

// Start runs the agent until ctx is done, then shuts everything down and
// removes the pid file. It returns the first component error, if any.
func (a *Agent) Start(ctx context.Context) (err error) {
	cfg := a.cfg.Load()
	a.log.Info("bulwarkd starting", "host", cfg.Host, "cluster", cfg.Cluster, "k8s", cfg.K8s,
		"hostPolicies", cfg.EnableKubeArmorHostPolicy, "policyDir", cfg.PolicyDir, "stateDir", cfg.StateDir)
	for _, w := range cfg.Warnings {
		a.log.Warn("configuration warning", "warning", w)
	}
	a.pidFile = writePIDFile(cfg, a.log)
	defer removePIDFile(a.pidFile, a.log)
	a.nodeID = nodeID(cfg, a.log)

	probeFn := a.opts.Probe
	if probeFn == nil {
		probeFn = probe.Host
	}
	a.report = probeFn()
	a.log.Info("host probed", "kernel", a.report.Kernel, "btf", a.report.BTF.Present, "lsms", strings.Join(a.report.LSMs, ","),
		"securityfsMountedByProbe", a.report.SecurityFS.MountedByProbe, "cgroup", a.report.Cgroup.Layout,
		"cgroupV2", a.report.Cgroup.V2Mount, "bpffs", a.report.BPFFS.Mounted)
	a.enforcer = a.selectEnforcer(cfg)
	defer func() {
		if cerr := a.enforcer.Close(); cerr != nil {
			a.log.Error("enforcer close failed", "enforcer", a.enforcer.Name(), "error", cerr)
			err = errors.Join(err, fmt.Errorf("close enforcer: %w", cerr))
		}
	}()

	a.store = policystore.New(policystore.Options{
		Dir:      cfg.PolicyDir,
		StateDir: cfg.StateDir,
		Hostname: cfg.Host,
		Disabled: disabledClasses(cfg),
		Logger:   a.log.With("component", "policystore"),
	})
	changes, unsubscribe := a.store.Subscribe()
	defer unsubscribe()
	_, audited := a.enforcer.(*NoneEnforcer)
	a.containers = newContainers(ContainersOptions{Config: cfg, Sources: a.opts.ContainerSources,
		Policies: a.store.Snapshot, Audited: audited, Logger: a.log.With("component", "containers")})
	var containerEvents <-chan identity.Event
	if a.containers != nil {
		events, cancel := a.containers.Registry().Subscribe()
		defer cancel()
		containerEvents = events
	}
	if err := a.rebuild("start"); err != nil {
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.store.Start(gctx) })
	if a.containers != nil {
		g.Go(func() error { return a.containers.Start(gctx) })
	}
	if a.opts.Components != nil {
		comps, err := a.opts.Components(Env{Config: cfg, Store: a.store, NodeID: a.nodeID, Logger: a.log,
			Probe: a.report, Enforcer: a.enforcer.Name(), Active: a.enforcer, RuleSet: a.RuleSet, Containers: a.containers,
			OnConfig: func(keys []string, apply func(*config.Config)) {
				a.hooks = append(a.hooks, configHook{keys: keys, apply: apply})
			},
			OnHangup: func(f func()) { a.hangups = append(a.hangups, f) },
		})
		if err != nil {
			return err
		}
		for _, c := range comps {
			g.Go(func() error { return c.Start(gctx) })
		}
	}
	cfgChanged := make(chan struct{}, 1)
	if a.opts.Load.File != "" || !a.opts.NoSignal {
		w := config.NewWatcher(cfg, config.WatchOptions{
			Load: a.opts.Load, Logger: a.log.With("component", "config"), NoSignal: a.opts.NoSignal,
			OnHangup: func() {
				for _, f := range a.hangups {
					f()
				}
			},
			OnChange: func(c *config.Config, changed []string) {
				a.cfg.Store(c)
				a.applyLive(c, changed)
				select {
				case cfgChanged <- struct{}{}:
				default:
				}
			},
		})
		g.Go(func() error { return w.Start(gctx) })
	}
	g.Go(func() error {
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-changes:
				if err := a.rebuild("policy change"); err != nil {
					a.log.Error("enforcer rejected the new rule set, previous rules stay", "error", err)
				}
			case <-cfgChanged:
				if err := a.rebuild("configuration change"); err != nil {
					a.log.Error("enforcer rejected the new rule set, previous rules stay", "error", err)
				}
			case e, ok := <-containerEvents:
				if !ok {
					containerEvents = nil
					continue
				}
				a.containerEvent(e)
			}
		}
	})
	close(a.ready)
	a.log.Info("bulwarkd running", "enforcer", a.enforcer.Name(), "nodeID", a.nodeID, "pidFile", a.pidFile)
	err = g.Wait()
	a.log.Info("bulwarkd stopped", "error", err)
	return err
}

// configHook is a component's live application of some dynamic keys.
type configHook struct {
	keys  []string
	apply func(*config.Config)
}

// restartOnly are the dynamic keys whose consumers cannot apply them live
// unless a component registered for them (visibility: the monitor); host
// postures are applied by recompiling the rule set.
var restartOnly = map[string]bool{
	"alertThrottling": true, "maxAlertPerSec": true, "throttleSec": true,
	"visibility": true, "hostVisibility": true,
}

// applyLive runs the hooks of the changed keys and warns about the keys
// that nothing applies before a restart.
func (a *Agent) applyLive(c *config.Config, changed []string) {
	live := map[string]bool{}
	for _, h := range a.hooks {
		if slices.ContainsFunc(h.keys, func(k string) bool { return slices.Contains(changed, k) }) {
			h.apply(c)
		}
		for _, k := range h.keys {
			live[k] = true
		}
	}
	var later []string
	for _, k := range changed {
		if restartOnly[k] && !live[k] {
			later = append(later, k)
		}
	}
	if len(later) > 0 {
		// Without the default components nothing applies throttling, and
		// visibility has no consumer when the monitor is not running.
		a.log.Warn("accepted configuration keys that the running components apply only after a restart", "keys", later)
	}
}

func disabledClasses(cfg *config.Config) map[policystore.Class]string {
	d := map[policystore.Class]string{}
	if !cfg.EnableKubeArmorPolicy {
		d[policystore.ClassContainer] = "container policies are disabled (enableKubeArmorPolicy: false)"
	}
	if !cfg.EnableKubeArmorHostPolicy {
		d[policystore.ClassHost] = "host policies are disabled (enableKubeArmorHostPolicy: false)"
	}
	if !cfg.EnableNetworkPolicy {
		d[policystore.ClassNetwork] = "network policies are not enforced yet (enableNetworkPolicy: false)"
	}
	return d
}

// selectEnforcer picks the first usable enforcer in the configured order
// and falls back to monitor-only, logging why.
func (a *Agent) selectEnforcer(cfg *config.Config) Enforcer {
	factories := a.opts.Enforcers
	if factories == nil {
		factories = DefaultEnforcers()
	}
	a.choice = probe.Choose(a.report, probe.ChooseOptions{
		Preference:  cfg.LSM,
		Override:    cfg.Enforcer,
		Implemented: func(name string) bool { _, ok := factories[name]; return ok },
	})
	for _, c := range a.choice.Candidates {
		if !c.Available {
			a.log.Info("enforcer rejected", "candidate", c.Name, "reason", c.Reason)
			continue
		}
		e, err := factories[c.Name](EnforcerOptions{Probe: a.report, Config: cfg, Logger: a.log.With("component", "enforcer")})
		if err == nil {
			if ok, reason := e.Supported(); !ok {
				err = errors.New(reason)
			}
		}
		if err != nil {
			a.log.Warn("enforcer failed to initialise", "candidate", c.Name, "error", err)
			continue
		}
		a.log.Info("enforcer selected", "enforcer", e.Name(), "reason", a.choice.Reason)
		return e
	}
	a.log.Warn("no enforcer available, running in monitor-only mode: policies are audited, nothing is blocked",
		"reason", a.choice.Reason)
	return &NoneEnforcer{}
}

// DefaultEnforcers returns this build's enforcer factories: BPF-LSM
// (probe.EnforcerBPF, see bpflsm.go).
func DefaultEnforcers() map[string]EnforcerFactory {
	return maps.Clone(defaultEnforcers)
}

// rebuild compiles the host's rule set from the current snapshot and
// configuration and applies it, then every container's. Only the host's
// rejection is returned; a container's is logged (its previous rules
// stay).
func (a *Agent) rebuild(why string) error {
	cfg := a.cfg.Load()
	policies := a.store.Snapshot()
	w := engine.Workload{Host: true, Hostname: cfg.Host, Standalone: true, Postures: cfg.HostPostures()}
	if _, none := a.enforcer.(*NoneEnforcer); none {
		// KubeArmor forces "audited" when no LSM is available.
		w.PolicyMode = engine.PolicyAudited
	}
	rs := engine.Compile(policies, w)
	err := a.enforcer.Apply(HostWorkload, rs)
	if err == nil {
		a.ruleSet.Store(rs)
		a.logSummary(why, policies, rs)
	}
	if a.containers != nil {
		for _, cw := range a.containers.recompile(cfg) {
			a.applyContainer(cw, why)
		}
	}
	if err != nil {
		return fmt.Errorf("apply rule set: %w", err)
	}
	return nil
}

// containerEvent applies a registry event: a new or updated container run
// gets its rule set, an ended one loses it.
func (a *Agent) containerEvent(e identity.Event) {
	switch e.Type {
	case identity.Added, identity.Updated:
		a.applyContainer(a.containers.upsert(e.Container), "container "+e.Type.String())
	case identity.Removed:
		w := a.containers.remove(e.Container)
		if w == nil {
			return
		}
		if err := a.enforcer.Remove(w.enforced()); err != nil {
			a.log.Error("enforcer failed to remove a container's rules", "container", w.enforced().String(), "error", err)
		}
		a.log.Info("container removed", "container", w.enforced().String(), "id", w.c.ID)
	}
}

// applyContainer hands a container's rule set to the enforcer.
func (a *Agent) applyContainer(w *containerWorkload, why string) {
	if err := a.enforcer.Apply(w.enforced(), w.rs); err != nil {
		a.log.Error("enforcer rejected a container's rule set, its previous rules stay", "container", w.enforced().String(), "error", err)
		return
	}
	names := make([]string, 0, len(w.rs.Policies()))
	for _, p := range w.rs.Policies() {
		names = append(names, p.Name)
	}
	a.log.Info("container rule set applied", "trigger", why, "container", w.enforced().String(), "id", w.c.ID,
		"image", w.c.Image, "labels", w.labels, "policies", strings.Join(names, ","), "mode", w.rs.Mode(),
		"enforcer", a.enforcer.Name())
}

func (a *Agent) logSummary(why string, all []*policy.Policy, rs *engine.RuleSet) {
	byKind := map[policy.Kind]int{}
	for _, p := range all {
		byKind[p.Kind]++
	}
	rules := map[policy.Class]int{}
	var names []string
	for _, p := range rs.Policies() {
		names = append(names, p.Name)
		for _, r := range p.Rules {
			rules[r.Class]++
		}
	}
	var allowList []string
	for _, c := range []policy.Class{policy.ClassFile, policy.ClassNetwork, policy.ClassCapabilities} {
		if rs.AllowListed(c) {
			allowList = append(allowList, string(c))
		}
	}
	var kinds, ruleCounts []string
	for _, k := range slices.Sorted(maps.Keys(byKind)) {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, byKind[k]))
	}
	for _, c := range slices.Sorted(maps.Keys(rules)) {
		ruleCounts = append(ruleCounts, fmt.Sprintf("%s=%d", c, rules[c]))
	}
	st := a.store.Stats()
	a.log.Info("host rule set compiled", "trigger", why, "policies", len(all), "byKind", strings.Join(kinds, ","),
		"fromFiles", st.FilePolicies, "fromAPI", st.APIPolicies, "rejectedFiles", st.RejectedFiles,
		"hostPolicies", strings.Join(names, ","), "rules", strings.Join(ruleCounts, ","),
		"allowList", strings.Join(allowList, ","), "mode", rs.Mode(),
		"postures", fmt.Sprintf("file=%s,network=%s,capabilities=%s", orAudit(rs.Postures().File),
			orAudit(rs.Postures().Network), orAudit(rs.Postures().Capabilities)),
		"enforcer", a.enforcer.Name(), "warnings", len(rs.Warnings()))
	for _, w := range rs.Warnings() {
		a.log.Warn("rule set warning", "warning", w)
	}
}

func orAudit(p engine.Posture) engine.Posture {
	if p == "" {
		return engine.PostureAudit
	}
	return p
}

// nodeID reads the machine id, falling back to the host name.
func nodeID(cfg *config.Config, log *slog.Logger) string {
	b, err := os.ReadFile(cfg.MachineIDPath)
	if id := strings.TrimSpace(string(b)); err == nil && id != "" {
		return id
	}
	log.Info("machine id unavailable, using the host name as node id", "path", cfg.MachineIDPath, "host", cfg.Host)
	return cfg.Host
}
