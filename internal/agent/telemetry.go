package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
	"github.com/bulwark-security/bulwark/internal/config"
	"github.com/bulwark-security/bulwark/internal/engine"
	"github.com/bulwark-security/bulwark/internal/identity"
	"github.com/bulwark-security/bulwark/internal/monitor"
	"github.com/bulwark-security/bulwark/internal/probe"
)

// Telemetry: the system monitor (internal/monitor) as an agent component.
//
// Every enriched event of a host process is decided against the host's
// current rule set (one atomic load per event, so a policy change is seen
// whole or not at all) and becomes, as upstream's matcher (reference §4.4):
//
//   - an alert (Type MatchedHostPolicy, Enforcer "eBPF Monitor") for an
//     Audit, Audit (Block) or default-posture audit decision, through
//     monitor.Audit;
//   - nothing, for an operation that succeeded because an Allow rule
//     matched it;
//   - for a Block decision (only with a real enforcer: without one the rule
//     set is compiled audited and gives Audit (Block)), a log when the
//     enforcer reports its own denials (BPF-LSM with enforcerAlerts, the
//     default), otherwise, when the operation failed, a Block alert in the
//     enforcer's name (AppArmor, whose denials only the monitor sees);
//   - otherwise a HostLog, when the event's class is in hostVisibility.
//
// Visibility (reference §3.5): as upstream, an Audit rule raises alerts
// only for classes that are visible — the kernel does not even copy the
// events of hidden classes — so hostVisibility "none" silences Audit and
// default-posture-audit alerts as well as HostLogs; Block alerts of an
// enforcer do not depend on it. The agent warns when the host's rules
// name a class that hostVisibility hides.
//
// Container events (reference §3.3, §4.2–4.4) are handled the same way,
// with the rule set of their container (see containers.go) and Type
// MatchedPolicy / ContainerLog, their ContainerLog filtered by the
// container's visibility (the visibility key). Since the monitor reuses its
// Event, a container event is first rendered (ToLog, and its engine
// Operation) and then submitted to an identity.Pending queue: it is
// decided and published once its container is known — at once, usually;
// when the event came before the runtime reported the container, once it
// does — with ContainerID, ContainerName, ContainerImage, NamespaceName,
// PodName and Labels filled. An event whose container never appears goes
// out after 10 s as a ContainerLog with the container id its cgroup path
// shows, if any; without a runtime, as a ContainerLog with its cgroup id
// (EventData["CgroupID"]) only.

// Publisher is where telemetry goes: the pipeline.
type Publisher interface {
	PublishAlert(*feeder.Alert)
	PublishLog(*feeder.Log)
}

// containerEvent is what is kept of a container event while it waits for
// its container: the monitor's Event is reused once the handler returns.
type containerEvent struct {
	log    *feeder.Log
	op     engine.Operation
	hasOp  bool
	passed bool
	class  monitor.Visibility
}

// BPFLSMEnforcerName is the Enforcer name of the BPF-LSM enforcer, which
// reports its own denials from the kernel.
const BPFLSMEnforcerName = "BPFLSM"

// conclusion is what becomes of one decided host event.
type conclusion uint8

const (
	concludeLog           conclusion = iota // a HostLog, if its class is visible
	concludeDrop                            // nothing: an Allow rule let it pass
	concludeMonitorAlert                    // an eBPF Monitor alert (monitor.Audit)
	concludeEnforcerAlert                   // a Block alert in the enforcer's name
)

// enforcerReportsAlerts is upstream's enforcerAlerts switch: with BPF-LSM
// (and enforcerAlerts on, its default) the enforcer decides in the kernel
// and emits the Block, Audit and default-posture alerts of the rules it
// encodes itself, so the monitor's conclusions about the same operations are
// demoted to logs (one alert per operation, and Audit alerts that do not
// depend on visibility). Syscall rules are not in the kernel: those alerts
// stay the monitor's.
func enforcerReportsAlerts(enforcer string, enforcerAlerts bool, d *engine.Decision) bool {
	syscallRule := d.Rule != nil && strings.HasPrefix(d.Rule.Section, "syscalls.")
	return enforcerAlerts && enforcer == BPFLSMEnforcerName && !syscallRule
}

// conclude applies upstream's matcher outcomes to one decision; passed is
// whether the operation succeeded.
func conclude(d *engine.Decision, passed bool, enforcer string, enforcerAlerts bool) conclusion {
	switch d.Action {
	case engine.ActionAllow, engine.ActionAuditAllow:
		if d.Source == engine.SourcePolicy && passed {
			return concludeDrop
		}
		return concludeLog
	case engine.ActionAudit, engine.ActionAuditBlock:
		if d.Alert && !enforcerReportsAlerts(enforcer, enforcerAlerts, d) {
			return concludeMonitorAlert
		}
		return concludeLog
	case engine.ActionBlock:
		if enforcer == MonitorEnforcerName || enforcerReportsAlerts(enforcer, enforcerAlerts, d) || passed {
			// Nothing denied it here (monitor-only never compiles Block),
			// the enforcer has reported it, or it was not enforced at all.
			return concludeLog
		}
		return concludeEnforcerAlert
	}
	return concludeLog
}

// TelemetryOptions configure the telemetry component.
type TelemetryOptions struct {
	Config *config.Config
	Probe  *probe.Report
	// RuleSet returns the host's current rule set (an atomic load).
	RuleSet func() *engine.RuleSet
	// Enforcer is the active enforcer's name.
	Enforcer string
	// EnforcerAlerts: see enforcerReportsAlerts. Upstream's default is true.
	EnforcerAlerts bool
	Publisher      Publisher
	// Containers attributes container events to containers and gives their
	// rule sets; nil: container events are ContainerLogs with their cgroup
	// id only.
	Containers *Containers
	HostName   string
	NodeID     string
	Logger     *slog.Logger
}

// Telemetry is the monitor running under the agent.
type Telemetry struct {
	opts TelemetryOptions
	log  *slog.Logger
	mon  *monitor.Monitor
	// hostVis is the host visibility in force, for the userspace filter of
	// HostLogs (the kernel's filter lags a reload by the events in flight);
	// vis the container visibility, for containers that are not known.
	hostVis, vis atomic.Uint32
	// pending holds container events until their container is known; nil
	// without Containers.
	pending *identity.Pending[*containerEvent]
}

// NewTelemetry loads and attaches the monitor. It returns a nil Telemetry
// and the reason when this host cannot run it (no BTF, programs refused);
// the agent then runs without telemetry.
func NewTelemetry(o TelemetryOptions) (*Telemetry, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Config == nil || o.RuleSet == nil || o.Publisher == nil {
		return nil, errors.New("telemetry: Config, RuleSet and Publisher are required")
	}
	if o.Probe != nil && !o.Probe.BTF.Present {
		return nil, fmt.Errorf("no kernel BTF at %s: the monitor's tp_btf programs cannot load", o.Probe.BTF.Path)
	}
	t := &Telemetry{opts: o, log: o.Logger}
	vis, hostVis := visibilities(o.Config)
	t.hostVis.Store(uint32(hostVis))
	t.vis.Store(uint32(vis))
	mopts := monitor.Options{
		Handler:        t.handle,
		Visibility:     vis,
		HostVisibility: hostVis,
		Tree:           monitor.TreeOptions{ProcFS: o.Config.ProcfsMount},
		Logger:         o.Logger,
	}
	if o.Probe != nil && o.Probe.Cgroup.V2Mount != "" {
		mopts.Tree.CgroupFS = o.Probe.Cgroup.V2Mount
	}
	m, err := monitor.New(mopts)
	if err != nil {
		return nil, err
	}
	t.mon = m
	if o.Containers != nil {
		t.pending = identity.NewPending(o.Containers.Registry(), identity.PendingOptions{}, t.emitContainer)
		o.Containers.attachMonitor(m)
	}
	if err := t.mon.SetEnabled(vis != monitor.VisibilityNone || hostVis != monitor.VisibilityNone); err != nil {
		m.Close()
		return nil, err
	}
	var attached, missing []string
	for _, p := range m.AttachPoints() {
		if p.Err != nil {
			missing = append(missing, p.Name)
		} else {
			attached = append(attached, p.Name)
		}
	}
	t.log.Info("monitor attached", "attached", strings.Join(attached, ","), "unavailable", strings.Join(missing, ","),
		"visibility", vis, "hostVisibility", hostVis, "enforcer", o.Enforcer,
		"enforcerAlerts", o.EnforcerAlerts && o.Enforcer == BPFLSMEnforcerName)
	if o.RuleSet != nil {
		t.warnHidden(o.RuleSet(), hostVis)
	}
	return t, nil
}

// visibilities parses the configured container and host visibility.
func visibilities(cfg *config.Config) (containers, host monitor.Visibility) {
	return monitor.ParseVisibility(strings.Join(cfg.Visibility, ",")), monitor.ParseVisibility(strings.Join(cfg.HostVisibility, ","))
}

// LiveKeys are the configuration keys ApplyConfig applies without a
// restart.
var telemetryLiveKeys = []string{"visibility", "hostVisibility"}

// ApplyConfig applies a reloaded visibility to the running monitor: the
// kernel's defaults, and the monitor's off switch when nothing at all is
// visible.
func (t *Telemetry) ApplyConfig(cfg *config.Config) {
	vis, hostVis := visibilities(cfg)
	if err := t.mon.SetDefaultVisibility(vis, hostVis); err != nil {
		t.log.Error("visibility not applied", "error", err)
		return
	}
	t.hostVis.Store(uint32(hostVis))
	t.vis.Store(uint32(vis))
	if t.opts.Containers != nil {
		t.opts.Containers.applyVisibility(cfg)
	}
	on := vis != monitor.VisibilityNone || hostVis != monitor.VisibilityNone
	if err := t.mon.SetEnabled(on); err != nil {
		t.log.Error("monitor switch not applied", "error", err)
	}
	t.log.Info("visibility applied", "visibility", vis, "hostVisibility", hostVis, "monitorEnabled", on)
	if t.opts.RuleSet != nil {
		t.warnHidden(t.opts.RuleSet(), hostVis)
	}
}

// warnHidden warns about host rules whose class hostVisibility hides:
// upstream (and Bulwark) audit them only from telemetry.
func (t *Telemetry) warnHidden(rs *engine.RuleSet, hostVis monitor.Visibility) {
	if rs == nil {
		return
	}
	hidden := map[string]bool{}
	for _, p := range rs.Policies() {
		for _, r := range p.Rules {
			if v := classVisibility(string(r.Class)); v != 0 && hostVis&v == 0 {
				hidden[string(r.Class)] = true
			}
		}
	}
	for c := range hidden {
		t.log.Warn("host policies have rules of a class hostVisibility hides: they raise no Audit or Audit (Block) alerts until it is visible",
			"class", c, "hostVisibility", hostVis)
	}
}

func classVisibility(class string) monitor.Visibility {
	switch class {
	case "process":
		return monitor.VisibilityProcess
	case "file":
		return monitor.VisibilityFile
	case "network":
		return monitor.VisibilityNetwork
	case "capabilities":
		return monitor.VisibilityCapabilities
	}
	return 0
}

// Start implements Component: it reads events until ctx is done, then
// detaches the monitor. A read failure is logged and ends telemetry only.
func (t *Telemetry) Start(ctx context.Context) error {
	defer func() {
		st := t.mon.Stats()
		drops, _ := t.mon.Drops()
		if err := t.mon.Close(); err != nil {
			t.log.Error("monitor close failed", "error", err)
		}
		t.log.Info("monitor stopped", "records", st.Records, "malformed", st.Malformed,
			"ringFull", drops.RingFull, "pendingFull", drops.PendingFull)
	}()
	if t.pending != nil {
		pctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { _ = t.pending.Run(pctx); close(done) }()
		defer func() {
			cancel() // emits what still waits, unresolved
			<-done
			st := t.pending.Stats()
			t.log.Info("container event queue stopped", "immediate", st.Immediate, "held", st.Held,
				"enriched", st.Enriched, "expired", st.Expired, "overflowed", st.Overflowed)
		}()
	}
	if err := t.mon.Start(ctx); err != nil {
		t.log.Error("monitor failed, telemetry stops (the agent keeps running)", "error", err)
	}
	return nil
}

// handle runs on the monitor's reader goroutine for every event.
func (t *Telemetry) handle(ev *monitor.Event) {
	if !ev.Visible() {
		return // tree upkeep only (a hidden class)
	}
	op, hasOp := monitor.EngineOperation(ev)
	if !ev.Host() {
		t.containerEvent(ev, op, hasOp)
		return
	}
	rs := t.opts.RuleSet()
	c, d := t.conclude(rs, &op, hasOp, ev.Ret >= 0)
	visible := monitor.Visibility(t.hostVis.Load())&ev.Class() != 0
	if c == concludeDrop || (c == concludeLog && !visible) {
		return
	}
	if l := monitor.ToLog(ev); l != nil {
		t.publish(c, &d, l, monitor.TypeMatchedHostPolicy, visible)
	}
}

// conclude decides one operation with rs (nil: no rules) and applies
// upstream's matcher outcomes; host and container events share it.
func (t *Telemetry) conclude(rs *engine.RuleSet, op *engine.Operation, hasOp, passed bool) (conclusion, engine.Decision) {
	d := engine.Decision{Action: engine.ActionAllow, Source: engine.SourceNone}
	if hasOp && rs != nil {
		d = rs.Decide(*op)
	}
	return conclude(&d, passed, t.opts.Enforcer, t.opts.EnforcerAlerts), d
}

// publish publishes what one concluded event becomes: an alert of type
// alertType (built from its log record l), or l when visible.
func (t *Telemetry) publish(c conclusion, d *engine.Decision, l *feeder.Log, alertType string, visible bool) {
	switch c {
	case concludeDrop:
		return
	case concludeMonitorAlert:
		t.publishAlert(alertFromLog(l, d, monitor.EnforcerMonitor), alertType)
		return
	case concludeEnforcerAlert:
		t.publishAlert(alertFromLog(l, d, t.opts.Enforcer), alertType)
		return
	}
	if visible {
		t.publishLog(l)
	}
}

// containerEvent renders a container event and hands it to the pending
// queue (or, without containers, publishes it as a ContainerLog).
func (t *Telemetry) containerEvent(ev *monitor.Event, op engine.Operation, hasOp bool) {
	l := monitor.ToLog(ev)
	if l == nil {
		return // fork, exit
	}
	ce := &containerEvent{log: l, op: op, hasOp: hasOp, passed: ev.Ret >= 0, class: ev.Class()}
	if t.pending == nil {
		t.emitContainer(ce, identity.Resolution{Status: identity.StatusUnknown})
		return
	}
	t.pending.Submit(ev.CgroupID, ce)
}

// emitContainer decides and publishes a container event once its
// container is resolved (or given up on); calls never overlap.
func (t *Telemetry) emitContainer(ce *containerEvent, res identity.Resolution) {
	l := ce.log
	l.Type = monitor.TypeContainerLog
	vis := monitor.Visibility(t.vis.Load())
	var rs *engine.RuleSet
	if res.Container != nil && t.opts.Containers != nil {
		w := t.opts.Containers.workload(res.Container)
		rs, vis = w.rs, w.vis
		c := w.c
		l.ContainerID, l.ContainerName, l.ContainerImage = c.ID, c.Name, c.Image
		l.NamespaceName, l.PodName, l.Labels = c.Namespace, c.PodName, w.labels
	} else if res.ContainerID != "" {
		l.ContainerID = res.ContainerID
	}
	c, d := t.conclude(rs, &ce.op, ce.hasOp, ce.passed)
	t.publish(c, &d, l, monitor.TypeMatchedPolicy, vis&ce.class != 0)
}

func (t *Telemetry) publishAlert(a *feeder.Alert, alertType string) {
	a.Type = alertType
	a.HostName, a.NodeID = t.opts.HostName, t.opts.NodeID
	if a.EventData == nil {
		a.EventData = map[string]string{}
	}
	t.opts.Publisher.PublishAlert(a)
}

func (t *Telemetry) publishLog(l *feeder.Log) {
	l.HostName, l.NodeID = t.opts.HostName, t.opts.NodeID
	t.opts.Publisher.PublishLog(l)
}

// alertFromLog is the alert of a decision d in enforcer's name (the
// monitor's for audits, the enforcer's for a denial it does not report
// itself), from the event's log record l, with its workload fields.
func alertFromLog(l *feeder.Log, d *engine.Decision, enforcer string) *feeder.Alert {
	a := &feeder.Alert{
		Timestamp: l.Timestamp, UpdatedTime: l.UpdatedTime,
		HostPPID: l.HostPPID, HostPID: l.HostPID, PPID: l.PPID, PID: l.PID, UID: l.UID,
		ParentProcessName: l.ParentProcessName, ProcessName: l.ProcessName,
		PolicyName: d.PolicyName, Tags: strings.Join(d.Tags, ","), ATags: append([]string(nil), d.Tags...),
		Message: d.Message, Source: l.Source, Operation: l.Operation, Resource: l.Resource, Data: l.Data,
		EventData: l.EventData, Result: l.Result, Cwd: l.Cwd, TTY: l.TTY, ExecEvent: l.ExecEvent,
		Enforcer: enforcer, Action: string(d.Action),
		ContainerID: l.ContainerID, ContainerName: l.ContainerName, ContainerImage: l.ContainerImage,
		NamespaceName: l.NamespaceName, PodName: l.PodName, Labels: l.Labels, Owner: l.Owner,
	}
	if d.Severity > 0 {
		a.Severity = strconv.Itoa(d.Severity)
	}
	return a
}
