package monitor

import (
	"strconv"
	"strings"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
	"github.com/bulwark-security/bulwark/internal/engine"
)

// EnforcerMonitor is the Enforcer of alerts raised from telemetry.
const EnforcerMonitor = "eBPF Monitor"

// KubeArmor alert types.
const (
	TypeMatchedPolicy     = "MatchedPolicy"
	TypeMatchedHostPolicy = "MatchedHostPolicy"
)

// EngineOperation maps an enriched event to the engine's Operation: exec →
// process (Source = the parent's executable), open → file (Write from the
// flags), socket → network, capability check → capabilities. Other events
// have no operation (false).
func EngineOperation(ev *Event) (engine.Operation, bool) {
	op := engine.Operation{UID: ev.UID, TTY: ev.Process.TTY != ""}
	switch {
	case ev.Kind == KindExec:
		op.Kind = engine.OpProcess
		op.Path = string(ev.Path)
		op.Source = ev.Parent.Exe
		if len(ev.Process.Args) > 1 {
			op.Args = ev.Process.Args[1:]
		}
	case ev.Kind == KindCapability:
		op.Kind = engine.OpCapabilities
		op.Capability = CapabilityName(ev.Capability)
		op.Source = ev.Process.Exe
	case ev.Kind == KindSyscall && (ev.Syscall == sysOpen || ev.Syscall == sysOpenat || ev.Syscall == sysOpenat2):
		op.Kind = engine.OpFile
		op.Path = ev.ResolvedPath()
		op.Source = ev.Process.Exe
		flags := ev.Args[2]
		if ev.Syscall == sysOpen {
			flags = ev.Args[1]
		}
		op.Write = opensForWrite(flags)
	case ev.Kind == KindSyscall && ev.Syscall == sysSocket:
		op.Kind = engine.OpNetwork
		op.Source = ev.Process.Exe
		op.Protocol = strings.ToLower(protocolName(ev.Args[0], ev.Args[1], ev.Args[2]))
		op.SocketType = strings.ToLower(strings.TrimPrefix(socketType(ev.Args[1]), "SOCK_"))
	default:
		return engine.Operation{}, false
	}
	return op, true
}

// Audit decides an enriched event with rs and returns an Alert when the
// decision is an audit — an Audit rule, a DefaultPosture audit, or a would-
// be denial in audited mode — since no enforcer reports those. Denials
// (Block) are the enforcers' to report, and give no alert here.
func Audit(rs *engine.RuleSet, ev *Event) (*feeder.Alert, bool) {
	if rs == nil {
		return nil, false
	}
	op, ok := EngineOperation(ev)
	if !ok {
		return nil, false
	}
	d := rs.Decide(op)
	if !d.Alert || (d.Action != engine.ActionAudit && d.Action != engine.ActionAuditBlock) {
		return nil, false
	}
	l := ToLog(ev)
	if l == nil {
		return nil, false
	}
	a := &feeder.Alert{
		Timestamp: l.Timestamp, UpdatedTime: l.UpdatedTime,
		HostPPID: l.HostPPID, HostPID: l.HostPID, PPID: l.PPID, PID: l.PID, UID: l.UID,
		ParentProcessName: l.ParentProcessName, ProcessName: l.ProcessName,
		PolicyName: d.PolicyName,
		Tags:       strings.Join(d.Tags, ","),
		ATags:      append([]string(nil), d.Tags...),
		Message:    d.Message,
		Source:     l.Source, Operation: l.Operation, Resource: l.Resource, Data: l.Data,
		EventData: l.EventData, Result: l.Result, Cwd: l.Cwd, TTY: l.TTY, ExecEvent: l.ExecEvent,
		Enforcer: EnforcerMonitor,
		Action:   string(d.Action),
	}
	if d.Severity > 0 {
		a.Severity = strconv.Itoa(d.Severity)
	}
	if ev.Host() {
		a.Type = TypeMatchedHostPolicy
	} else {
		a.Type = TypeMatchedPolicy
	}
	return a, true
}
