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
// "Ancestry". Container identity (ContainerID, names, pod) and the node's
// names are left for the agent; Type is HostLog for host events and
// ContainerLog otherwise. It returns nil for fork and exit events.
func ToLog(ev *Event) *feeder.Log {
	op := Operation(ev)
	if op == "" {
		return nil
	}
	l := &feeder.Log{
		Timestamp:         ev.Time.Unix(),
		UpdatedTime:       ev.Time.UTC().Format("2006-01-02T15:04:05.000000Z"),
		HostPID:           int32(ev.HostPID),
		HostPPID:          int32(ev.HostPPID),
		PID:               int32(ev.PID),
		PPID:              int32(ev.PPID),
		UID:               int32(ev.UID),
		Operation:         op,
		Result:            ResultText(ev.Ret),
		ProcessName:       ev.Process.Exe,
		ParentProcessName: ev.Parent.Exe,
		Cwd:               ev.Process.Cwd,
		TTY:               ev.Process.TTY,
		ExecEvent:         &feeder.ExecEvent{ExecutableName: string(ev.Comm)},
	}
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
		l.ProcessName = string(ev.Comm)
	}
	var kv []string
	l.Resource, kv = resourceAndData(ev)
	l.Data = strings.Join(kv, " ")
	l.EventData = make(map[string]string, len(kv)+4)
	for _, p := range kv {
		if k, v, ok := strings.Cut(p, "="); ok {
			l.EventData[k] = v
		}
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
	}
	l.EventData["CgroupID"] = strconv.FormatUint(ev.CgroupID, 10)
	return l
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

// resourceAndData returns the Resource and the key=value items of Data.
func resourceAndData(ev *Event) (string, []string) {
	if ev.Kind == KindExec {
		args := ev.ArgList()
		var res string
		if len(args) > 1 {
			res = string(ev.Path) + " " + strings.Join(args[1:], " ")
		} else {
			res = string(ev.Path)
		}
		return res, []string{"syscall=SYS_EXECVE"}
	}
	if ev.Kind == KindCapability {
		name := CapabilityName(ev.Capability)
		return name, []string{"capability=" + strconv.Itoa(int(ev.Capability)), "cap=" + name}
	}
	a := ev.Args
	name := ev.SyscallName()
	kv := []string{"syscall=" + name}
	path := ev.ResolvedPath()
	switch ev.Syscall {
	case sysOpen:
		kv = append(kv, "flags="+OpenFlags(a[1]))
	case sysOpenat, sysOpenat2:
		kv = append(kv, "fd="+itoa(a[0]), "flags="+OpenFlags(a[2]))
	case sysUnlinkat:
		fl := "0"
		if a[2]&atRemoveDir != 0 {
			fl = "AT_REMOVEDIR"
		}
		kv = append(kv, "fd="+itoa(a[0]), "flags="+fl)
	case sysMkdir, sysChmod:
		kv = append(kv, "mode="+octal(a[1]))
	case sysMkdirat, sysFchmodat, sysFchmodat2:
		kv = append(kv, "fd="+itoa(a[0]), "mode="+octal(a[2]))
	case sysRename:
		kv = append(kv, "newpath="+string(ev.Path2))
	case sysRenameat, sysRenameat2:
		kv = append(kv, "fd="+itoa(a[0]), "newfd="+itoa(a[2]), "newpath="+string(ev.Path2))
	case sysChown, sysLchown:
		kv = append(kv, "userid="+itoa(a[1]), "group="+itoa(a[2]))
	case sysFchownat:
		kv = append(kv, "fd="+itoa(a[0]), "userid="+itoa(a[2]), "group="+itoa(a[3]), "mode="+itoa(a[4]))
	case sysExecveat:
		kv = append(kv, "fd="+itoa(a[0]))
	case sysSocket:
		return "domain=" + familyName(a[0]) + " type=" + socketType(a[1]) + " protocol=" + protocolName(a[0], a[1], a[2]), kv
	case sysConnect, sysBind, sysAccept, sysAccept4:
		kv = append(kv, "fd="+itoa(a[0]))
		return formatSockaddr(ev.Sockaddr), kv
	case sysListen:
		kv = append(kv, "fd="+itoa(a[0]), "backlog="+itoa(a[1]))
		return "", kv
	case sysSetuid:
		kv = append(kv, "userid="+itoa(a[0]))
		return "", kv
	case sysSetgid:
		kv = append(kv, "group="+itoa(a[0]))
		return "", kv
	case sysPtrace:
		kv = append(kv, "request="+ptraceRequest(a[0]), "pid="+itoa(a[1]))
		return "", kv
	case sysMount:
		kv = append(kv, "source="+string(ev.Path), "target="+string(ev.Path2), "filesystem="+string(ev.Fstype),
			"mountflag="+strconv.FormatUint(a[3], 10))
		return string(ev.Path2), kv
	case sysUmount2:
		kv = append(kv, "target="+path, "flag="+strconv.FormatUint(a[1], 10))
	}
	return path, kv
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
