package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
	"github.com/bulwark-security/bulwark/internal/config"
	"github.com/bulwark-security/bulwark/internal/engine"
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
// Events of other cgroups than the host's (containers) are passed on as
// ContainerLog with their cgroup id (EventData["CgroupID"]), named by the
// WorkloadResolver when it knows them; container policies are not decided
// here yet.

// Publisher is where telemetry goes: the pipeline.
type Publisher interface {
	PublishAlert(*feeder.Alert)
	PublishLog(*feeder.Log)
}

// Workload names the container a cgroup belongs to.
type Workload struct {
	ContainerID, ContainerName, ContainerImage string
	NamespaceName, PodName, Labels             string
}

// WorkloadResolver maps a cgroup v2 id to its workload. It is called on
// the monitor's reader goroutine for every container event, so it must
// not block. internal/identity provides the real one.
type WorkloadResolver interface {
	Resolve(cgroupID uint64) (Workload, bool)
}

// HostOnlyResolver knows no containers: every container event is passed on
// with its cgroup id only.
type HostOnlyResolver struct{}

// Resolve implements WorkloadResolver.
func (HostOnlyResolver) Resolve(uint64) (Workload, bool) { return Workload{}, false }

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

// enforcerReportsDenials is upstream's enforcerAlerts switch: with BPF-LSM
// (and enforcerAlerts on, its default) the enforcer emits Block and
// default-posture Block alerts itself, so the monitor's conclusions about
// the same denials are demoted to logs.
func enforcerReportsDenials(enforcer string, enforcerAlerts bool) bool {
	return enforcerAlerts && enforcer == BPFLSMEnforcerName
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
		if d.Alert {
			return concludeMonitorAlert
		}
		return concludeLog
	case engine.ActionBlock:
		if enforcer == MonitorEnforcerName || enforcerReportsDenials(enforcer, enforcerAlerts) || passed {
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
	// EnforcerAlerts: see enforcerReportsDenials. Upstream's default is true.
	EnforcerAlerts bool
	Publisher      Publisher
	// Resolver names container workloads; nil means HostOnlyResolver.
	Resolver WorkloadResolver
	HostName string
	NodeID   string
	Logger   *slog.Logger
}

// Telemetry is the monitor running under the agent.
type Telemetry struct {
	opts TelemetryOptions
	log  *slog.Logger
	mon  *monitor.Monitor
	// hostVis is the host visibility in force, for the userspace filter of
	// HostLogs (the kernel's filter lags a reload by the events in flight).
	hostVis atomic.Uint32
}

// NewTelemetry loads and attaches the monitor. It returns a nil Telemetry
// and the reason when this host cannot run it (no BTF, programs refused);
// the agent then runs without telemetry.
func NewTelemetry(o TelemetryOptions) (*Telemetry, error) {
	if o.Resolver == nil {
		o.Resolver = HostOnlyResolver{}
	}
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
		"enforcerReportsDenials", enforcerReportsDenials(o.Enforcer, o.EnforcerAlerts))
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
	if !ev.Host() {
		t.containerLog(ev)
		return
	}
	rs := t.opts.RuleSet()
	var d engine.Decision
	if op, ok := monitor.EngineOperation(ev); ok && rs != nil {
		d = rs.Decide(op)
	} else {
		d = engine.Decision{Action: engine.ActionAllow, Source: engine.SourceNone}
	}
	switch conclude(&d, ev.Ret >= 0, t.opts.Enforcer, t.opts.EnforcerAlerts) {
	case concludeDrop:
		return
	case concludeMonitorAlert:
		if a, ok := monitor.Audit(rs, ev); ok {
			t.publishAlert(a, ev)
			return
		}
	case concludeEnforcerAlert:
		if l := monitor.ToLog(ev); l != nil {
			t.publishAlert(enforcerAlert(l, &d, t.opts.Enforcer), ev)
			return
		}
	}
	if monitor.Visibility(t.hostVis.Load())&ev.Class() == 0 {
		return
	}
	if l := monitor.ToLog(ev); l != nil {
		t.publishLog(l)
	}
}

func (t *Telemetry) publishAlert(a *feeder.Alert, ev *monitor.Event) {
	a.Type = monitor.TypeMatchedHostPolicy
	a.HostName, a.NodeID = t.opts.HostName, t.opts.NodeID
	if a.EventData == nil {
		a.EventData = map[string]string{}
	}
	if _, ok := a.EventData["Ancestry"]; !ok && ev.Ancestry != "" {
		a.EventData["Ancestry"] = ev.Ancestry
	}
	validUTF8(&a.Source, &a.Resource, &a.ProcessName, &a.ParentProcessName, &a.Cwd, &a.TTY, &a.Data)
	validMap(a.EventData)
	t.opts.Publisher.PublishAlert(a)
}

func (t *Telemetry) publishLog(l *feeder.Log) {
	l.HostName, l.NodeID = t.opts.HostName, t.opts.NodeID
	validUTF8(&l.Source, &l.Resource, &l.ProcessName, &l.ParentProcessName, &l.Cwd, &l.TTY, &l.Data)
	validMap(l.EventData)
	t.opts.Publisher.PublishLog(l)
}

// validUTF8 makes kernel-sourced strings valid UTF-8 (file names are bytes;
// protobuf strings must be UTF-8, and one invalid record would end every
// gRPC subscriber's stream), replacing invalid bytes with U+FFFD.
func validUTF8(fields ...*string) {
	for _, f := range fields {
		if !utf8.ValidString(*f) {
			*f = strings.ToValidUTF8(*f, "\uFFFD")
		}
	}
}

func validMap(m map[string]string) {
	for k, v := range m {
		if !utf8.ValidString(v) {
			m[k] = strings.ToValidUTF8(v, "\uFFFD")
		}
	}
}

func (t *Telemetry) containerLog(ev *monitor.Event) {
	l := monitor.ToLog(ev)
	if l == nil {
		return
	}
	l.Type = monitor.TypeContainerLog
	if w, ok := t.opts.Resolver.Resolve(ev.CgroupID); ok {
		l.ContainerID, l.ContainerName, l.ContainerImage = w.ContainerID, w.ContainerName, w.ContainerImage
		l.NamespaceName, l.PodName, l.Labels = w.NamespaceName, w.PodName, w.Labels
	}
	t.publishLog(l)
}

// enforcerAlert is the alert of a denial the enforcer does not report
// itself, from the event's log record and the decision.
func enforcerAlert(l *feeder.Log, d *engine.Decision, enforcer string) *feeder.Alert {
	a := &feeder.Alert{
		Timestamp: l.Timestamp, UpdatedTime: l.UpdatedTime,
		HostPPID: l.HostPPID, HostPID: l.HostPID, PPID: l.PPID, PID: l.PID, UID: l.UID,
		ParentProcessName: l.ParentProcessName, ProcessName: l.ProcessName,
		PolicyName: d.PolicyName, Tags: strings.Join(d.Tags, ","), ATags: append([]string(nil), d.Tags...),
		Message: d.Message, Source: l.Source, Operation: l.Operation, Resource: l.Resource, Data: l.Data,
		EventData: l.EventData, Result: l.Result, Cwd: l.Cwd, TTY: l.TTY, ExecEvent: l.ExecEvent,
		Enforcer: enforcer, Action: string(d.Action),
	}
	if d.Severity > 0 {
		a.Severity = strconv.Itoa(d.Severity)
	}
	return a
}
