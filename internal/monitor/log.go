package monitor

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
)

// KubeArmor Log types and operations.
const (
	TypeHostLog      = "HostLog"
	TypeContainerLog = "ContainerLog"

	OperationProcess      = "Process"
	OperationFile         = "File"
	OperationNetwork      = "Network"
	OperationCapabilities = "Capabilities"
	OperationSyscall      = "Syscall"
)

// Operation returns the KubeArmor Operation of ev, or "" for events that
// are not logged (fork, exit).
func Operation(ev *Event) string {
	switch ev.Kind {
	case KindExec:
		return OperationProcess
	case KindCapability:
		return OperationCapabilities
	case KindSyscall:
		switch ev.Class() {
		case VisibilityProcess:
			return OperationProcess
		case VisibilityFile:
			return OperationFile
		case VisibilityNetwork:
			return OperationNetwork
		case VisibilityCapabilities:
			return OperationSyscall
		}
	}
	return ""
}

// ToLog converts an enriched event into a KubeArmor Log: Operation,
// Resource, Data, Result and the process fields, with EventData holding
// the key/values of Data (and of Resource for network events) plus
// "Ancestry", "CgroupID" and, for a process of an exec session, "ExecID"
// and "ExecSession" (ExecEvent.ExecID is the session's id too; its
// ExecutableName is the command name). Container identity (ContainerID,
// names, pod) and the node's names are left for the agent; Type is HostLog
// for host events and ContainerLog otherwise. It returns nil for fork and
// exit events.
func ToLog(ev *Event) *feeder.Log {
	op := Operation(ev)
	if op == "" {
		return nil
	}
	// The Log and its ExecEvent share one allocation, and every string
	// ToLog builds (UpdatedTime, the command name, CgroupID, Data and
	// EventData's values, Resource, Cwd, Source) shares another.
	rec := &struct {
		l feeder.Log
		x feeder.ExecEvent
	}{}
	var stack [512]byte
	var ends [8]int
	d := kvs{b: stack[:0], ends: ends[:0]}
	d.b = appendTimestamp(d.b, ev.Time)
	timeEnd := len(d.b)
	d.b = append(d.b, ev.Comm...)
	commEnd := len(d.b)
	d.b = strconv.AppendUint(d.b, ev.CgroupID, 10)
	d.start = len(d.b)
	d = appendDataAndResource(ev, d)
	resEnd := len(d.b)
	cwd := ev.Process.Cwd
	cwdSlash := cwd != "" && !strings.HasSuffix(cwd, "/")
	if cwdSlash {
		d.b = append(append(d.b, cwd...), '/')
	}
	cwdEnd := len(d.b)
	// Source: for exec the parent's executable, otherwise the acting
	// process's command line.
	source := ev.Parent.Exe
	sourceInBuf := false
	if ev.Kind != KindExec {
		source = ev.Process.Exe
		if args := ev.Process.Args; len(args) > 1 {
			d.b = append(d.b, source...)
			for _, a := range args[1:] {
				d.b = append(append(d.b, ' '), a...)
			}
			sourceInBuf = true
		}
	}
	all := string(d.b)
	comm := all[timeEnd:commEnd]

	l := &rec.l
	l.Timestamp = ev.Time.Unix()
	l.UpdatedTime = all[:timeEnd]
	l.HostPID, l.HostPPID = int32(ev.HostPID), int32(ev.HostPPID)
	l.PID, l.PPID, l.UID = int32(ev.PID), int32(ev.PPID), int32(ev.UID)
	l.Operation = op
	l.Result = ResultText(ev.Ret)
	l.ProcessName, l.ParentProcessName = ev.Process.Exe, ev.Parent.Exe
	l.Cwd, l.TTY = cwd, ev.Process.TTY
	if cwdSlash {
		l.Cwd = all[resEnd:cwdEnd]
	}
	l.Resource, l.Data = all[d.dataEnd:resEnd], all[d.start:d.dataEnd]
	l.Source = source
	if sourceInBuf {
		l.Source = all[cwdEnd:]
	}
	rec.x.ExecutableName = comm
	rec.x.ExecID = ev.Process.ExecID
	l.ExecEvent = &rec.x
	if ev.Host() {
		l.Type = TypeHostLog
	} else {
		l.Type = TypeContainerLog
	}
	if l.ProcessName == "" {
		l.ProcessName = comm
	}
	l.EventData = make(map[string]string, len(d.ends)+4)
	from := d.start
	for _, end := range d.ends {
		if k, v, ok := strings.Cut(all[from:end], "="); ok {
			l.EventData[k] = v
		}
		from = end + 1
	}
	if op == OperationNetwork {
		for _, p := range strings.Fields(l.Resource) {
			if k, v, ok := strings.Cut(p, "="); ok {
				l.EventData[k] = v
			}
		}
	}
	if ev.Ancestry != "" {
		l.EventData["Ancestry"] = ev.Ancestry
	}
	if ev.Process.ExecID != "" {
		l.EventData["ExecID"] = ev.Process.ExecID
		l.EventData["ExecSession"] = ev.Process.ExecSession
	}
	l.EventData["CgroupID"] = all[commEnd:d.start]
	return l
}

// appendTimestamp appends t in UTC as "2006-01-02T15:04:05.000000Z"
// (microseconds truncated), as time.Time.AppendFormat does, without
// parsing the layout.
func appendTimestamp(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, "2006-01-02T15:04:05.000000Z")
	}
	hour, minute, sec := t.Clock()
	dst = appendDigits(dst, year, 4)
	dst = append(dst, '-')
	dst = appendDigits(dst, int(month), 2)
	dst = append(dst, '-')
	dst = appendDigits(dst, day, 2)
	dst = append(dst, 'T')
	dst = appendDigits(dst, hour, 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, minute, 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, sec, 2)
	dst = append(dst, '.')
	dst = appendDigits(dst, t.Nanosecond()/1000, 6)
	return append(dst, 'Z')
}

// appendDigits appends the n low decimal digits of v ≥ 0, zero-padded.
func appendDigits(dst []byte, v, n int) []byte {
	var buf [8]byte
	for i := n - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(dst, buf[:n]...)
}

// kvs builds Data, space-separated key=value items, in b from start,
// recording where each item ends, and then the Resource, from dataEnd.
type kvs struct {
	b       []byte
	start   int
	dataEnd int
	ends    []int
}

// key starts an item: its separator, key and '='; end closes it.
func (d kvs) key(key string) kvs {
	if len(d.ends) > 0 {
		d.b = append(d.b, ' ')
	}
	d.b = append(d.b, key...)
	d.b = append(d.b, '=')
	return d
}

func (d kvs) end() kvs {
	d.ends = append(d.ends, len(d.b))
	return d
}

func (d kvs) add(key, value string) kvs {
	d = d.key(key)
	d.b = append(d.b, value...)
	return d.end()
}

func (d kvs) addBytes(key string, value []byte) kvs {
	d = d.key(key)
	d.b = append(d.b, value...)
	return d.end()
}

// addInt adds a syscall argument as a signed 32-bit decimal.
func (d kvs) addInt(key string, v uint64) kvs {
	d = d.key(key)
	d.b = strconv.AppendInt(d.b, int64(int32(v)), 10)
	return d.end()
}

// addUint adds an unsigned decimal.
func (d kvs) addUint(key string, v uint64) kvs {
	d = d.key(key)
	d.b = strconv.AppendUint(d.b, v, 10)
	return d.end()
}

// addOctal adds a mode as KubeArmor does ("0755").
func (d kvs) addOctal(key string, v uint64) kvs {
	d = d.key(key)
	d.b = append(d.b, '0')
	d.b = strconv.AppendUint(d.b, v&0o7777, 8)
	return d.end()
}

// addOpenFlags adds open(2) flags (OpenFlags).
func (d kvs) addOpenFlags(key string, f uint64) kvs {
	d = d.key(key)
	d.b = appendOpenFlags(d.b, f)
	return d.end()
}

// resource ends Data and appends the Resource's parts.
func (d kvs) resource(parts ...string) kvs {
	d.dataEnd = len(d.b)
	for _, p := range parts {
		d.b = append(d.b, p...)
	}
	return d
}

// appendArgs appends the arguments after argv[0] of a NUL-separated
// argument list, each after a space, as ArgList splits them.
func appendArgs(dst, argv []byte) []byte {
	a := bytes.TrimRight(argv, "\x00")
	for i := 0; i < maxArgs && len(a) > 0; i++ {
		arg, rest := a, []byte(nil)
		if j := bytes.IndexByte(a, 0); j >= 0 {
			arg, rest = a[:j], a[j+1:]
		}
		if i > 0 {
			dst = append(append(dst, ' '), arg...)
		}
		if rest == nil {
			break
		}
		a = rest
	}
	return dst
}

// appendDataAndResource returns d with the key=value items of Data added,
// then the Resource.
func appendDataAndResource(ev *Event, d kvs) kvs {
	if ev.Kind == KindExec {
		d = d.add("syscall", "SYS_EXECVE")
		d = d.resource()
		d.b = append(d.b, ev.Path...)
		d.b = appendArgs(d.b, ev.Argv)
		return d
	}
	if ev.Kind == KindCapability {
		name := CapabilityName(ev.Capability)
		d = d.addInt("capability", uint64(ev.Capability))
		d = d.add("cap", name)
		return d.resource(name)
	}
	a := ev.Args
	d = d.add("syscall", ev.SyscallName())
	switch ev.Syscall {
	case sysOpen:
		d = d.addOpenFlags("flags", a[1])
	case sysOpenat, sysOpenat2:
		d = d.addInt("fd", a[0])
		d = d.addOpenFlags("flags", a[2])
	case sysUnlinkat:
		fl := "0"
		if a[2]&atRemoveDir != 0 {
			fl = "AT_REMOVEDIR"
		}
		d = d.addInt("fd", a[0])
		d = d.add("flags", fl)
	case sysMkdir, sysChmod:
		d = d.addOctal("mode", a[1])
	case sysMkdirat, sysFchmodat, sysFchmodat2:
		d = d.addInt("fd", a[0])
		d = d.addOctal("mode", a[2])
	case sysRename:
		d = d.addBytes("newpath", ev.Path2)
	case sysRenameat, sysRenameat2:
		d = d.addInt("fd", a[0])
		d = d.addInt("newfd", a[2])
		d = d.addBytes("newpath", ev.Path2)
	case sysChown, sysLchown:
		d = d.addInt("userid", a[1])
		d = d.addInt("group", a[2])
	case sysFchownat:
		d = d.addInt("fd", a[0])
		d = d.addInt("userid", a[2])
		d = d.addInt("group", a[3])
		d = d.addInt("mode", a[4])
	case sysExecveat:
		d = d.addInt("fd", a[0])
	case sysSocket:
		return d.resource("domain=", familyName(a[0]), " type=", socketType(a[1]), " protocol=", protocolName(a[0], a[1], a[2]))
	case sysConnect, sysBind, sysAccept, sysAccept4:
		d = d.addInt("fd", a[0])
		return d.resource(formatSockaddr(ev.Sockaddr))
	case sysListen:
		d = d.addInt("fd", a[0])
		d = d.addInt("backlog", a[1])
		return d.resource()
	case sysSetuid:
		d = d.addInt("userid", a[0])
		return d.resource()
	case sysSetgid:
		d = d.addInt("group", a[0])
		return d.resource()
	case sysPtrace:
		d = d.add("request", ptraceRequest(a[0]))
		d = d.addInt("pid", a[1])
		return d.resource()
	case sysMount:
		d = d.addBytes("source", ev.Path)
		d = d.addBytes("target", ev.Path2)
		d = d.addBytes("filesystem", ev.Fstype)
		d = d.addUint("mountflag", a[3])
		d = d.resource()
		d.b = append(d.b, ev.Path2...)
		return d
	case sysUmount2:
		d = d.key("target")
		d.b = ev.appendResolvedPath(d.b)
		d = d.end().addUint("flag", a[1])
	}
	d = d.resource()
	d.b = ev.appendResolvedPath(d.b)
	return d
}

// formatSockaddr renders a raw sockaddr as KubeArmor's Resource:
// "sa_family=AF_INET sin_port=80 sin_addr=10.0.0.1".
func formatSockaddr(sa []byte) string {
	if len(sa) < 2 {
		return ""
	}
	fam := uint64(binary.LittleEndian.Uint16(sa))
	switch fam {
	case 2, 10: // AF_INET, AF_INET6
		port, addr, ok := inetAddr(sa)
		if !ok {
			break
		}
		if fam == 2 {
			return "sa_family=AF_INET sin_port=" + port + " sin_addr=" + addr
		}
		return "sa_family=AF_INET6 sin6_port=" + port + " sin6_addr=" + addr
	case 1: // AF_UNIX
		p := sa[2:]
		if len(p) > 0 && p[0] == 0 {
			return "sa_family=AF_UNIX sun_path=@" + string(cstring(p[1:]))
		}
		return "sa_family=AF_UNIX sun_path=" + string(cstring(p))
	}
	return "sa_family=" + familyName(fam)
}

// inetAddr reads the port and address of a sockaddr_in or sockaddr_in6.
func inetAddr(sa []byte) (port, addr string, ok bool) {
	if len(sa) < 4 {
		return "", "", false
	}
	port = strconv.Itoa(int(binary.BigEndian.Uint16(sa[2:])))
	switch {
	case binary.LittleEndian.Uint16(sa) == 2 && len(sa) >= 8:
		return port, netip.AddrFrom4([4]byte(sa[4:8])).String(), true
	case len(sa) >= 24:
		return port, netip.AddrFrom16([16]byte(sa[8:24])).String(), true
	}
	return "", "", false
}
