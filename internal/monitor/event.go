package monitor

import (
	"bytes"
	"time"
)

// Kind is the kind of a telemetry event.
type Kind uint8

// Event kinds; the values are the kernel's event_header.type.
const (
	KindExec       Kind = 1 // a successful exec (sched_process_exec)
	KindFork       Kind = 2 // a new process (not a thread)
	KindExit       Kind = 3 // the last thread of a process exited
	KindSyscall    Kind = 4 // a monitored syscall and its result
	KindCapability Kind = 5 // a capability check (cap_capable)
)

func (k Kind) String() string {
	switch k {
	case KindExec:
		return "exec"
	case KindFork:
		return "fork"
	case KindExit:
		return "exit"
	case KindSyscall:
		return "syscall"
	case KindCapability:
		return "capability"
	}
	return "unknown"
}

// Event flags, as set by the kernel.
const (
	FlagHost      uint32 = 1 // the task shares the host's mount namespace
	FlagTreeOnly  uint32 = 2 // its class is not visible: process-tree upkeep only
	FlagScript    uint32 = 4 // exec of an interpreted script
	FlagTruncated uint32 = 8 // a path or the argument list was cut short
)

// Event is one decoded telemetry record. The byte-slice fields point into
// the record or into buffers owned by the Event, and are valid only until
// the Event is decoded into again; copy what must outlive that.
type Event struct {
	Kind  Kind
	Flags uint32
	// BootNS is the kernel's CLOCK_BOOTTIME at the event; Time the same
	// instant as wall-clock time (set by the Monitor).
	BootNS uint64
	Time   time.Time
	// CgroupID is the cgroup v2 id of the acting task (the inode of its
	// directory under the v2 hierarchy).
	CgroupID uint64
	// Syscall is the x86-64 syscall number (KindSyscall); Capability the
	// capability number (KindCapability).
	Syscall    uint32
	Capability int32
	// Ret is the syscall's result (negative errno on failure), the
	// capability check's result (0 granted, negative errno), or the exit
	// code (KindExit).
	Ret int64
	// Args are the raw syscall arguments; for openat2 Args[2] and Args[3]
	// hold open_how.flags and .mode.
	Args [6]uint64
	// Host (initial pid namespace) and namespace-local ids.
	HostPID, HostTID, HostPPID uint32
	PID, PPID                  uint32
	UID, GID                   uint32
	PidNS, MntNS               uint32
	Comm                       []byte
	// Path: exec — the executable (for a script, the script as named to
	// execve, resolved against Cwd); syscall — the first path argument as
	// given. Path2: second path (rename target, mount target). Fstype:
	// mount's file-system type.
	Path, Path2, Fstype []byte
	// Interpreter is, for a script, the resolved ELF that runs it.
	Interpreter []byte
	// Cwd: exec — the working directory; syscall — set when Path is
	// relative.
	Cwd []byte
	// Argv is the NUL-separated argument list of an exec (≤ 1 KiB).
	Argv []byte
	// TTY is the controlling terminal's name (exec only; the process tree
	// carries it to later events).
	TTY []byte
	// Sockaddr is the raw socket address of connect, bind and accept.
	Sockaddr []byte

	// Enrichment from the process tree (Tree.Enrich).
	Process, Parent Process
	// Ancestry is the chain of executables from the root of the process's
	// lineage down to the process: "/usr/bin/bash > /usr/bin/make > /usr/bin/cc".
	Ancestry string

	pathBuf, cwdBuf []byte
}

// Host reports whether the acting task is on the host (shares the host's
// mount namespace) rather than in a container.
func (ev *Event) Host() bool { return ev.Flags&FlagHost != 0 }

// Visible reports whether the event's class is visible for its workload;
// an invisible event only maintains the process tree (or reports a
// failure, with Options.ReportFailures).
func (ev *Event) Visible() bool { return ev.Flags&FlagTreeOnly == 0 }

// Class is the visibility class the event belongs to.
func (ev *Event) Class() Visibility {
	switch ev.Kind {
	case KindExec, KindFork, KindExit:
		return VisibilityProcess
	case KindCapability:
		return VisibilityCapabilities
	case KindSyscall:
		if s := syscallInfo(ev.Syscall); s != nil {
			return s.class
		}
	}
	return 0
}

// SyscallName is the KubeArmor name of the event's syscall, such as
// "SYS_OPENAT", or "" when it is not a syscall event.
func (ev *Event) SyscallName() string {
	if ev.Kind == KindExec {
		return "SYS_EXECVE"
	}
	if ev.Kind != KindSyscall {
		return ""
	}
	if s := syscallInfo(ev.Syscall); s != nil {
		return s.name
	}
	return ""
}

// ArgList returns the exec arguments (argv[0] first), allocating.
func (ev *Event) ArgList() []string {
	a := bytes.TrimRight(ev.Argv, "\x00")
	if len(a) == 0 {
		return nil
	}
	parts := bytes.Split(a, []byte{0})
	if len(parts) > maxArgs {
		parts = parts[:maxArgs]
	}
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = string(p)
	}
	return out
}

const maxArgs = 20

// Process is what the process tree knows about one process.
type Process struct {
	PID, PPID uint32 // host pids
	NsPID     uint32 // pid in its own namespace
	Exe       string // absolute executable path
	Args      []string
	Cwd       string
	TTY       string
	UID       uint32
	CgroupID  uint64
	PidNS     uint32
	// Start is the process's start (fork or exec) as CLOCK_BOOTTIME ns.
	Start uint64
	// ExecID names the exec session the process belongs to (see the
	// package documentation): "<host pid of the session's root>-<boot ns
	// of the root's entry into the container>"; "" for a process of a
	// container's own tree and for every host process.
	ExecID string
	// ExecSession is the exec session's entry point: the ancestry, outside
	// the container, of the process that entered it, ending with that
	// process's executable ("/sbin/init > /usr/bin/containerd-shim-runc-v2
	// > /usr/sbin/runc", "/usr/sbin/sshd > /bin/bash > /usr/bin/nsenter").
	ExecSession string
}
