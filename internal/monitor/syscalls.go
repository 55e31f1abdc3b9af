package monitor

import (
	"strconv"
	"strings"
	"syscall"
)

// x86-64 syscall numbers the kernel side reports.
const (
	sysOpen       = 2
	sysOpenat     = 257
	sysOpenat2    = 437
	sysUnlink     = 87
	sysUnlinkat   = 263
	sysRmdir      = 84
	sysMkdir      = 83
	sysMkdirat    = 258
	sysRename     = 82
	sysRenameat   = 264
	sysRenameat2  = 316
	sysChmod      = 90
	sysFchmodat   = 268
	sysFchmodat2  = 452
	sysChown      = 92
	sysLchown     = 94
	sysFchownat   = 260
	sysSocket     = 41
	sysConnect    = 42
	sysAccept     = 43
	sysAccept4    = 288
	sysBind       = 49
	sysListen     = 50
	sysSetuid     = 105
	sysSetgid     = 106
	sysPtrace     = 101
	sysMount      = 165
	sysUmount2    = 166
	sysExecve     = 59
	sysExecveat   = 322
	atFDCWD       = -100
	atRemoveDir   = 0x200
	maxSyscallNum = 512
)

type syscallDesc struct {
	name  string
	class Visibility
	// dirfd is the index of the dirfd argument, -1 for none.
	dirfd int
}

// syscallNames are the KubeArmor names of the monitored syscalls, grouped
// by visibility class.
var syscallNames = map[Visibility]map[uint32]string{
	VisibilityFile: {
		sysOpen: "SYS_OPEN", sysOpenat: "SYS_OPENAT", sysOpenat2: "SYS_OPENAT2", sysUnlink: "SYS_UNLINK",
		sysUnlinkat: "SYS_UNLINKAT", sysRmdir: "SYS_RMDIR", sysMkdir: "SYS_MKDIR", sysMkdirat: "SYS_MKDIRAT",
		sysRename: "SYS_RENAME", sysRenameat: "SYS_RENAMEAT", sysRenameat2: "SYS_RENAMEAT2", sysChmod: "SYS_CHMOD",
		sysFchmodat: "SYS_FCHMODAT", sysFchmodat2: "SYS_FCHMODAT2", sysChown: "SYS_CHOWN", sysLchown: "SYS_LCHOWN",
		sysFchownat: "SYS_FCHOWNAT",
	},
	VisibilityNetwork: {
		sysSocket: "SYS_SOCKET", sysConnect: "SYS_CONNECT", sysAccept: "SYS_ACCEPT", sysAccept4: "SYS_ACCEPT4",
		sysBind: "SYS_BIND", sysListen: "SYS_LISTEN",
	},
	VisibilityCapabilities: {
		sysSetuid: "SYS_SETUID", sysSetgid: "SYS_SETGID", sysPtrace: "SYS_PTRACE", sysMount: "SYS_MOUNT",
		sysUmount2: "SYS_UMOUNT",
	},
	VisibilityProcess: {sysExecve: "SYS_EXECVE", sysExecveat: "SYS_EXECVEAT"},
}

var syscallTable = func() [maxSyscallNum]*syscallDesc {
	var t [maxSyscallNum]*syscallDesc
	for class, names := range syscallNames {
		for nr, name := range names {
			d := &syscallDesc{name: name, class: class, dirfd: -1}
			if strings.HasSuffix(name, "AT") || strings.HasSuffix(name, "AT2") {
				d.dirfd = 0 // the *at syscalls take a dirfd first
			}
			t[nr] = d
		}
	}
	return t
}()

func syscallInfo(nr uint32) *syscallDesc {
	if nr >= maxSyscallNum {
		return nil
	}
	return syscallTable[nr]
}

type flagName struct {
	bit  uint64
	name string
}

var openFlagNames = []flagName{
	{0x101000, "O_SYNC"}, // before O_DSYNC, whose bit it includes
	{syscall.O_CREAT, "O_CREAT"}, {syscall.O_EXCL, "O_EXCL"}, {syscall.O_NOCTTY, "O_NOCTTY"},
	{syscall.O_TRUNC, "O_TRUNC"}, {syscall.O_APPEND, "O_APPEND"}, {syscall.O_NONBLOCK, "O_NONBLOCK"},
	{0x1000, "O_DSYNC"}, {syscall.O_ASYNC, "O_ASYNC"}, {syscall.O_DIRECT, "O_DIRECT"},
	{0x8000, "O_LARGEFILE"}, {syscall.O_DIRECTORY, "O_DIRECTORY"}, {syscall.O_NOFOLLOW, "O_NOFOLLOW"},
	{syscall.O_NOATIME, "O_NOATIME"}, {syscall.O_CLOEXEC, "O_CLOEXEC"},
	{0x200000, "O_PATH"}, {0x400000, "O_TMPFILE"},
}

// OpenFlags formats open(2) flags as KubeArmor does: the access mode
// first, then each flag, joined by '|' ("O_WRONLY|O_CREAT|O_TRUNC").
func OpenFlags(f uint64) string { return string(appendOpenFlags(make([]byte, 0, 64), f)) }

// appendOpenFlags appends OpenFlags(f) to dst.
func appendOpenFlags(dst []byte, f uint64) []byte {
	switch f & 3 {
	case syscall.O_RDONLY:
		dst = append(dst, "O_RDONLY"...)
	case syscall.O_WRONLY:
		dst = append(dst, "O_WRONLY"...)
	case syscall.O_RDWR:
		dst = append(dst, "O_RDWR"...)
	default:
		dst = append(dst, "O_ACCMODE"...)
	}
	rest := f &^ 3
	for _, fl := range openFlagNames {
		if rest&fl.bit == fl.bit && fl.bit != 0 {
			dst = append(dst, '|')
			dst = append(dst, fl.name...)
			rest &^= fl.bit
		}
	}
	if rest != 0 {
		dst = append(dst, "|0x"...)
		dst = strconv.AppendUint(dst, rest, 16)
	}
	return dst
}

// opensForWrite reports whether open flags f may write the file.
func opensForWrite(f uint64) bool {
	return f&3 != syscall.O_RDONLY || f&(syscall.O_TRUNC|syscall.O_APPEND|syscall.O_CREAT) != 0
}

// ResultText is KubeArmor's Result: "Passed" for success, otherwise the C
// library's error text ("Permission denied"), or "Unknown (n)".
func ResultText(ret int64) string {
	if ret >= 0 {
		return "Passed"
	}
	errno := -ret
	if errno > 4095 {
		return "Unknown (" + strconv.FormatInt(ret, 10) + ")"
	}
	s := syscall.Errno(errno).Error()
	if strings.HasPrefix(s, "errno ") {
		return "Unknown (" + strconv.FormatInt(ret, 10) + ")"
	}
	if r, ok := errorTextOverrides[syscall.Errno(errno)]; ok {
		return r
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// errorTextOverrides are glibc texts that Go spells differently.
var errorTextOverrides = map[syscall.Errno]string{
	syscall.EAGAIN: "Resource temporarily unavailable",
}

var capabilityNames = [...]string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
	"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
	"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// CapabilityName returns "CAP_NET_RAW" for 13, or "CAP_<n>" when unknown.
func CapabilityName(c int32) string {
	if c >= 0 && int(c) < len(capabilityNames) {
		return capabilityNames[c]
	}
	return "CAP_" + strconv.Itoa(int(c))
}

var familyNames = map[uint64]string{
	syscall.AF_UNIX: "AF_UNIX", syscall.AF_INET: "AF_INET", syscall.AF_INET6: "AF_INET6",
	syscall.AF_NETLINK: "AF_NETLINK", syscall.AF_PACKET: "AF_PACKET", 0: "AF_UNSPEC",
}

func familyName(f uint64) string {
	if s, ok := familyNames[f]; ok {
		return s
	}
	return strconv.FormatUint(f, 10)
}

var sockTypeNames = map[uint64]string{
	syscall.SOCK_STREAM: "SOCK_STREAM", syscall.SOCK_DGRAM: "SOCK_DGRAM", syscall.SOCK_RAW: "SOCK_RAW",
	syscall.SOCK_RDM: "SOCK_RDM", syscall.SOCK_SEQPACKET: "SOCK_SEQPACKET", 6: "SOCK_DCCP",
	syscall.SOCK_PACKET: "SOCK_PACKET",
}

// socketType returns the type's name without SOCK_NONBLOCK/SOCK_CLOEXEC.
func socketType(t uint64) string {
	if s, ok := sockTypeNames[t&0xf]; ok {
		return s
	}
	return strconv.FormatUint(t, 10)
}

// protocolName returns KubeArmor's protocol name for a socket(2) call,
// inferring TCP/UDP from the type when the protocol is 0.
func protocolName(family, typ, proto uint64) string {
	switch proto {
	case syscall.IPPROTO_TCP:
		return "TCP"
	case syscall.IPPROTO_UDP:
		return "UDP"
	case syscall.IPPROTO_ICMP:
		return "ICMP"
	case syscall.IPPROTO_ICMPV6:
		return "ICMPv6"
	case syscall.IPPROTO_RAW:
		return "RAW"
	case 132:
		return "SCTP"
	case 0:
		if family == syscall.AF_INET || family == syscall.AF_INET6 {
			switch typ & 0xf {
			case syscall.SOCK_STREAM:
				return "TCP"
			case syscall.SOCK_DGRAM:
				return "UDP"
			}
		}
		return "0"
	}
	return strconv.FormatUint(proto, 10)
}

var ptraceRequests = map[uint64]string{
	0: "PTRACE_TRACEME", 1: "PTRACE_PEEKTEXT", 2: "PTRACE_PEEKDATA", 3: "PTRACE_PEEKUSER",
	4: "PTRACE_POKETEXT", 5: "PTRACE_POKEDATA", 6: "PTRACE_POKEUSER", 7: "PTRACE_CONT",
	8: "PTRACE_KILL", 9: "PTRACE_SINGLESTEP", 12: "PTRACE_GETREGS", 13: "PTRACE_SETREGS",
	16: "PTRACE_ATTACH", 17: "PTRACE_DETACH", 24: "PTRACE_SYSCALL", 0x4200: "PTRACE_SETOPTIONS",
	0x4206: "PTRACE_SEIZE", 0x4207: "PTRACE_INTERRUPT",
}

func ptraceRequest(r uint64) string {
	if s, ok := ptraceRequests[r]; ok {
		return s
	}
	return strconv.FormatUint(r, 10)
}
