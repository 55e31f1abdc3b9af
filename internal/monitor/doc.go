// Package monitor is Bulwark's system monitor: process, file, network and
// capability telemetry from eBPF, enriched with a process tree and
// converted to KubeArmor Logs (and, through the decision engine, to Audit
// alerts). It observes only; nothing here changes what a process may do.
//
// # Kernel side (bpf/monitor.c)
//
// It uses attach points that need neither kprobes nor BPF trampolines
// (fentry, LSM), which some kernels refuse:
//
//   - tp_btf/sched_process_exec: the resolved executable (a bounded walk of
//     the binprm file's dentries across mounts; for a script, the script as
//     named), argv (≤ 1 KiB, ≤ 20 arguments kept), cwd, tty, ids, pid and
//     mount namespaces, cgroup id.
//   - tp_btf/sched_process_fork and sched_process_exit: process-tree upkeep.
//   - tp_btf/sys_enter and sys_exit: open, openat, openat2, unlink(at),
//     rmdir, mkdir(at), rename(at,at2), chmod/fchmodat(2), chown/lchown/
//     fchownat, socket, connect, accept(4), bind, listen, setuid, setgid,
//     ptrace, mount, umount2, and failed execve/execveat. Arguments are
//     saved per thread at entry and the event is built at exit, so it
//     carries the result; strings are copied from user memory only then.
//   - tp_btf/cap_capable: capability checks with their result (Linux 6.12+;
//     elsewhere reported by Monitor.AttachPoints and skipped).
//
// Filtering happens in the kernel before any string is copied: a global
// off switch (SetEnabled), then the workload's visibility — a per-cgroup
// entry (SetVisibility) or the host/container default — per class
// (process, file, network, capabilities). Failures of invisible classes
// are passed only with Options.ReportFailures. Results ENOENT (files,
// exec) and EINPROGRESS (connect) are dropped as upstream does, unless
// Options.ReportNotFound / ReportInProgress. Exec, fork and exit of a
// workload whose process class is invisible still reach user space, marked
// tree-only, so other classes' events keep their process context.
//
// Records go through one BPF ring buffer. They are submitted with
// BPF_RB_NO_WAKEUP until Options.WakeupBytes are waiting; the reader also
// drains every Options.FlushInterval, which bounds latency. Records lost
// to a full ring (and syscalls lost to a full pairing table) are counted
// per CPU (Monitor.Drops).
//
// # User side
//
// New loads and attaches; Start(ctx) reads with ringbuf.Reader.ReadInto
// into one reused record, Decode fills one reused Event (no allocation),
// the Tree applies fork/exec/exit and enriches the event with its process,
// parent and ancestry, and Options.Handler receives it. ToLog renders an
// event as a KubeArmor feeder.Log; Audit decides it with an engine.RuleSet
// and returns an "eBPF Monitor" alert for audit decisions.
//
// # Exec sessions
//
// A process that entered a container from outside it — kubectl exec,
// docker exec, crictl exec, ctr task exec (all runc exec underneath),
// nsenter — and its descendants form an exec session, as opposed to the
// container's own process tree under its init. The tree tells them apart
// in user space from facts every fork and exec event already carries (the
// mount and pid namespaces, the cgroup, FlagHost); no setns probe is
// needed, since a setns only matters once the task forks or execs in the
// namespaces it joined, and those events show them. A container is known
// by its mount namespace; a process is placed, at each fork and exec (and
// when read from /proc), by these rules in order:
//
//   - a host process (FlagHost: the host's mount namespace) is in no
//     session: an interactive host shell is none, nor is nsenter -n;
//   - a process still in the mount namespace it had keeps its session,
//     so reparenting (an orphan adopted by the shim) changes nothing;
//   - a process whose parent is in its container (not on the host, and in
//     the same mount namespace or the same cgroup, so that unshare -m or
//     a nested cgroup stays in the container) takes the parent's session;
//   - a process whose parent is outside (on the host, or in another mount
//     namespace and cgroup, such as a shim inside a kind node) is the
//     container's init when it is pid 1 of its pid namespace or the first
//     live process of the mount namespace (a container in its pod's or the
//     host's pid namespace), and otherwise the root of a new session;
//   - a process whose parent the tree does not know is in none.
//
// For runc exec the root is runc's last init stage, a CLONE_PARENT child
// of runc that has joined the container's namespaces; it later execs the
// command in place. For nsenter it is nsenter's child in the target pid
// namespace (or nsenter itself, exec'ing in place, without -p).
//
// The session's id is "<host pid of the root>-<CLOCK_BOOTTIME ns of the
// fork or exec that made it the root>" (for a root found in /proc at
// start, its start time there, at 10 ms precision): unique on the node
// for a boot, the same for every process of the session, different for
// every exec, also when a pid is reused. Its entry point is the ancestry
// of the root's parent outside the container, ending with the parent's
// executable ("/sbin/init > /usr/bin/containerd-shim-runc-v2 >
// /usr/sbin/runc", "/usr/sbin/sshd > /usr/bin/bash > /usr/bin/nsenter").
// They are Process.ExecID and Process.ExecSession, and ToLog renders them
// as ExecEvent.ExecID (KubeArmor's field: empty outside sessions; its
// ExecutableName stays the command name) and EventData["ExecID"] and
// EventData["ExecSession"] (absent outside sessions), which Audit's and
// the agent's alerts carry with the rest of the log.
//
// Limits: an exec probe of Kubernetes (CRI ExecSync) is an exec session
// too; a process that joins a container without a fork or exec afterwards
// (setns then syscalls) is placed only at its next fork or exec; an
// nsenter'ed process stays in its own cgroup, which the agent uses to
// name the container; the live count of a mount namespace can be left
// high by lost exit records, which could make the init of a later
// container in a reused namespace inode of a shared pid namespace look
// like an exec session.
package monitor
