package monitor

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"

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
	// The Log and its ExecEvent share one allocation, and UpdatedTime,
	// the command name, CgroupID, Data and EventData's values share one
	// string.
	rec := &struct {
		l feeder.Log
		x feeder.ExecEvent
	}{}
	var stack [512]byte
	var ends [8]int
	d := kvs{b: stack[:0], ends: ends[:0]}
	d.b = ev.Time.UTC().AppendFormat(d.b, "2006-01-02T15:04:05.000000Z")
	timeEnd := len(d.b)
	d.b = append(d.b, ev.Comm...)
	commEnd := len(d.b)
	d.b = strconv.AppendUint(d.b, ev.CgroupID, 10)
	d.start = len(d.b)
	resource, d := resourceAndData(ev, d)
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
	l.Cwd, l.TTY = ev.Process.Cwd, ev.Process.TTY
	l.Resource, l.Data = resource, all[d.start:]
	rec.x.ExecutableName = comm
	rec.x.ExecID = ev.Process.ExecID
	l.ExecEvent = &rec.x
	if ev.Host() {
		l.Type = TypeHostLog
	} else {
		l.Type = TypeContainerLog
	}
	if l.Cwd != "" && !strings.HasSuffix(l.Cwd, "/") {
		l.Cwd += "/"
	}
	// Source: for exec the parent's executable, otherwise the acting
	// process's command line.
	if ev.Kind == KindExec {
		l.Source = ev.Parent.Exe
	} else {
		l.Source = commandLine(ev.Process.Exe, ev.Process.Args)
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

// kvs builds Data, space-separated key=value items, in b from start,
// recording where each item ends.
type kvs struct {
	b     []byte
	start int
	ends  []int
}

func (d kvs) add(key, value string) kvs {
	if len(d.ends) > 0 {
		d.b = append(d.b, ' ')
	}
	d.b = append(d.b, key...)
	d.b = append(d.b, '=')
	d.b = append(d.b, value...)
	d.ends = append(d.ends, len(d.b))
	return d
}

// addInt adds a syscall argument as a signed 32-bit decimal.
func (d kvs) addInt(key string, v uint64) kvs {
	d = d.add(key, "")
	d.b = strconv.AppendInt(d.b, int64(int32(v)), 10)
	d.ends[len(d.ends)-1] = len(d.b)
	return d
}

// commandLine joins an executable and its arguments after argv[0].
func commandLine(exe string, args []string) string {
	if len(args) <= 1 {
		return exe
	}
	return exe + " " + strings.Join(args[1:], " ")
}

func itoa(v uint64) string  { return strconv.FormatInt(int64(int32(v)), 10) }
func octal(v uint64) string { return "0" + strconv.FormatUint(v&0o7777, 8) }

// resourceAndData returns the Resource, and d with the key=value items of
// Data added.
func resourceAndData(ev *Event, d kvs) (string, kvs) {
	if ev.Kind == KindExec {
		args := ev.ArgList()
		var res string
		if len(args) > 1 {
			res = string(ev.Path) + " " + strings.Join(args[1:], " ")
		} else {
			res = string(ev.Path)
		}
		d = d.add("syscall", "SYS_EXECVE")
		return res, d
	}
	if ev.Kind == KindCapability {
		name := CapabilityName(ev.Capability)
		d = d.add("capability", strconv.Itoa(int(ev.Capability)))
		d = d.add("cap", name)
		return name, d
	}
	a := ev.Args
	d = d.add("syscall", ev.SyscallName())
	path := ev.ResolvedPath()
	switch ev.Syscall {
	case sysOpen:
		d = d.add("flags", OpenFlags(a[1]))
	case sysOpenat, sysOpenat2:
		d = d.addInt("fd", a[0])
		d = d.add("flags", OpenFlags(a[2]))
	case sysUnlinkat:
		fl := "0"
		if a[2]&atRemoveDir != 0 {
			fl = "AT_REMOVEDIR"
		}
		d = d.addInt("fd", a[0])
		d = d.add("flags", fl)
	case sysMkdir, sysChmod:
		d = d.add("mode", octal(a[1]))
	case sysMkdirat, sysFchmodat, sysFchmodat2:
		d = d.addInt("fd", a[0])
		d = d.add("mode", octal(a[2]))
	case sysRename:
		d = d.add("newpath", string(ev.Path2))
	case sysRenameat, sysRenameat2:
		d = d.addInt("fd", a[0])
		d = d.addInt("newfd", a[2])
		d = d.add("newpath", string(ev.Path2))
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
		return "domain=" + familyName(a[0]) + " type=" + socketType(a[1]) + " protocol=" + protocolName(a[0], a[1], a[2]), d
	case sysConnect, sysBind, sysAccept, sysAccept4:
		d = d.addInt("fd", a[0])
		return formatSockaddr(ev.Sockaddr), d
	case sysListen:
		d = d.addInt("fd", a[0])
		d = d.addInt("backlog", a[1])
		return "", d
	case sysSetuid:
		d = d.addInt("userid", a[0])
		return "", d
	case sysSetgid:
		d = d.addInt("group", a[0])
		return "", d
	case sysPtrace:
		d = d.add("request", ptraceRequest(a[0]))
		d = d.addInt("pid", a[1])
		return "", d
	case sysMount:
		d = d.add("source", string(ev.Path))
		d = d.add("target", string(ev.Path2))
		d = d.add("filesystem", string(ev.Fstype))
		d = d.add("mountflag", strconv.FormatUint(a[3], 10))
		return string(ev.Path2), d
	case sysUmount2:
		d = d.add("target", path)
		d = d.add("flag", strconv.FormatUint(a[1], 10))
	}
	return path, d
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
