package bpflsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
	"github.com/bulwark-security/bulwark/internal/engine"
)

// Hook is the LSM hook of an event (enum hook).
type Hook uint16

// Hooks.
const (
	HookHarness       Hook = 0
	HookBprmCheck     Hook = 1
	HookFileOpen      Hook = 2
	HookPathUnlink    Hook = 3
	HookPathMkdir     Hook = 4
	HookPathRmdir     Hook = 5
	HookPathRename    Hook = 6
	HookPathTruncate  Hook = 7
	HookPathChmod     Hook = 8
	HookSocketCreate  Hook = 9
	HookSocketConnect Hook = 10
	HookSocketAccept  Hook = 11
	HookCapable       Hook = 12
	HookPathLink      Hook = 13
	HookPathSymlink   Hook = 14
	HookPathMknod     Hook = 15
)

var hookNames = [...]string{
	"HARNESS", "SECURITY_BPRM_CHECK", "FILE_OPEN", "FILE_UNLINK", "FILE_MKDIR", "FILE_RMDIR",
	"FILE_RENAME", "FILE_TRUNCATE", "FILE_CHMOD", "SOCKET_CREATE", "SOCKET_CONNECT", "SOCKET_ACCEPT", "CAPABLE",
	"FILE_LINK", "FILE_SYMLINK", "FILE_MKNOD",
}

// String returns KubeArmor's name of the hook, as in Data "lsm=...".
func (h Hook) String() string {
	if int(h) < len(hookNames) {
		return hookNames[h]
	}
	return "HOOK_" + strconv.Itoa(int(h))
}

// Action is a kernel decision (enum action).
type Action uint8

// Actions.
const (
	ActionNone       Action = 0
	ActionBlock      Action = 1
	ActionAudit      Action = 2
	ActionAuditBlock Action = 3
)

// Engine returns the engine's name of the action.
func (a Action) Engine() engine.Action {
	switch a {
	case ActionBlock:
		return engine.ActionBlock
	case ActionAudit:
		return engine.ActionAudit
	case ActionAuditBlock:
		return engine.ActionAuditBlock
	}
	return engine.ActionAllow
}

// Event is one decision reported by the kernel. Path and Source alias the
// reader's buffer until the next Read.
type Event struct {
	Time                         uint64 // CLOCK_MONOTONIC ns
	Workload                     WorkloadID
	Gen, Rule                    uint32 // rule 0: the default posture
	HostPID, HostPPID, PID, PPID uint32
	UID                          uint32
	Hook                         Hook
	Action                       Action
	Class                        Class
	Ret                          int32 // what the hook returned: 0 or -EPERM
	Dropped                      uint32
	Arg0, Arg1, Arg2             uint32 // f_mode | family, type, protocol | capability, opts
	Path, Source                 []byte
}

// eventHeaderSize is sizeof(struct event).
const eventHeaderSize = 80

// ErrShortEvent reports a record too short for its header or lengths.
var ErrShortEvent = errors.New("bpflsm: short event")

// DecodeEvent parses a ring-buffer record into ev, without allocating.
func DecodeEvent(b []byte, ev *Event) error {
	if len(b) < eventHeaderSize {
		return ErrShortEvent
	}
	le := binary.LittleEndian
	ev.Time = le.Uint64(b[0:])
	ev.Workload = WorkloadID(le.Uint64(b[8:]))
	ev.Gen = le.Uint32(b[16:])
	ev.Rule = le.Uint32(b[20:])
	ev.HostPID = le.Uint32(b[24:])
	ev.HostPPID = le.Uint32(b[28:])
	ev.PID = le.Uint32(b[32:])
	ev.PPID = le.Uint32(b[36:])
	ev.UID = le.Uint32(b[40:])
	ev.Hook = Hook(le.Uint16(b[44:]))
	ev.Action = Action(b[46])
	ev.Class = Class(b[47])
	ev.Ret = int32(le.Uint32(b[48:]))
	ev.Dropped = le.Uint32(b[52:])
	ev.Arg0 = le.Uint32(b[56:])
	ev.Arg1 = le.Uint32(b[60:])
	ev.Arg2 = le.Uint32(b[64:])
	pl, sl := int(le.Uint16(b[68:])), int(le.Uint16(b[70:]))
	rest := b[eventHeaderSize:]
	if pl+sl > len(rest) {
		return ErrShortEvent
	}
	ev.Path, ev.Source = rest[:pl:pl], rest[pl:pl+sl:pl+sl]
	return nil
}

// Reader reads the enforcer's events. Audit events are written without
// waking the reader; Read polls at the flush interval, so they arrive
// within it.
type Reader struct {
	rd       *ringbuf.Reader
	rec      ringbuf.Record
	interval time.Duration
}

// Read blocks until the next event and decodes it into ev (reusing one
// record buffer). It returns ringbuf.ErrClosed after Close.
func (r *Reader) Read(ev *Event) error {
	for {
		r.rd.SetDeadline(time.Now().Add(r.interval))
		err := r.rd.ReadInto(&r.rec)
		switch {
		case err == nil:
			return DecodeEvent(r.rec.RawSample, ev)
		case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, ringbuf.ErrFlushed):
			continue
		default:
			return err
		}
	}
}

// Close stops Read.
func (r *Reader) Close() error { return r.rd.Close() }

var (
	familyNames = map[uint32]string{1: "AF_UNIX", 2: "AF_INET", 10: "AF_INET6", 16: "AF_NETLINK", 17: "AF_PACKET"}
	typeNames   = map[uint32]string{1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 4: "SOCK_RDM", 5: "SOCK_SEQPACKET", 6: "SOCK_DCCP", 10: "SOCK_PACKET"}
	protoNames  = map[uint32]string{1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPv6", 132: "SCTP", 255: "RAW"}
	capNames    = func() map[uint32]string {
		m := make(map[uint32]string, len(capNumbers))
		for n, v := range capNumbers {
			m[v] = "CAP_" + strings.ToUpper(n)
		}
		return m
	}()
)

func nameOr(m map[uint32]string, v uint32) string {
	if s, ok := m[v]; ok {
		return s
	}
	return strconv.Itoa(int(v))
}

// Resource renders what the event acted on, as KubeArmor does.
func (ev *Event) Resource() string {
	switch ev.Class {
	case ClassNetwork:
		return fmt.Sprintf("domain=%s type=%s protocol=%s", nameOr(familyNames, ev.Arg0), nameOr(typeNames, ev.Arg1), nameOr(protoNames, ev.Arg2))
	case ClassCapabilities:
		return nameOr(capNames, ev.Arg0)
	}
	return string(ev.Path)
}

// AlertOptions give an alert its context.
type AlertOptions struct {
	HostName, ClusterName string
	// Now converts the event's monotonic time; nil uses the clocks.
	Now func() (wall time.Time, mono uint64)
}

func clocks() (time.Time, uint64) {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return time.Now(), uint64(ts.Nano())
}

// Alert converts ev into a KubeArmor alert; spec is the spec of ev.Gen
// (Enforcer.Spec), nil when it is no longer known.
func Alert(ev *Event, spec *Spec, opts AlertOptions) *feeder.Alert {
	now := opts.Now
	if now == nil {
		now = clocks
	}
	wall, mono := now()
	t := wall.Add(-time.Duration(mono - ev.Time))
	if ev.Time > mono {
		t = wall
	}
	a := &feeder.Alert{
		Timestamp:   t.Unix(),
		UpdatedTime: t.UTC().Format("2006-01-02T15:04:05.000000Z"),
		ClusterName: opts.ClusterName,
		HostName:    opts.HostName,
		HostPID:     int32(ev.HostPID),
		HostPPID:    int32(ev.HostPPID),
		PID:         int32(ev.PID),
		PPID:        int32(ev.PPID),
		UID:         int32(ev.UID),
		Type:        "MatchedPolicy",
		Source:      string(ev.Source),
		Resource:    ev.Resource(),
		Data:        "lsm=" + ev.Hook.String(),
		Enforcer:    Name,
		Action:      string(ev.Action.Engine()),
	}
	if ev.Workload == HostWorkload {
		a.Type = "MatchedHostPolicy"
	}
	switch ev.Class {
	case ClassProcess:
		a.Operation = "Process"
		a.ProcessName, a.ParentProcessName = string(ev.Path), string(ev.Source)
	case ClassFile:
		a.Operation = "File"
		a.ProcessName = string(ev.Source)
	case ClassNetwork:
		a.Operation = "Network"
		a.ProcessName = string(ev.Source)
	case ClassCapabilities:
		a.Operation = "Capabilities"
		a.ProcessName = string(ev.Source)
	}
	switch {
	case ev.Ret == -int32(unix.EPERM):
		a.Result = "Operation not permitted"
	case ev.Ret == -int32(unix.EACCES):
		a.Result = "Permission denied"
	case ev.Ret == 0:
		a.Result = "Passed"
	default:
		a.Result = unix.Errno(-ev.Ret).Error()
	}
	switch {
	case ev.Rule == 0:
		a.PolicyName = engine.DefaultPosturePolicyName
	case spec != nil && int(ev.Rule) <= len(spec.Rules):
		r := &spec.Rules[ev.Rule-1]
		a.PolicyName = r.Policy
		if r.Severity > 0 {
			a.Severity = strconv.Itoa(r.Severity)
		}
		a.Tags = strings.Join(r.Tags, ",")
		a.ATags = r.Tags
		a.Message = r.Message
	default:
		a.PolicyName = "unknown rule " + strconv.Itoa(int(ev.Rule))
	}
	return a
}
